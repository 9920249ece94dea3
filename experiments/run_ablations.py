"""The whole study: staged VLM2 and its ablations, several seeds, one budget, against every blind model.

    python experiments/run_ablations.py                              # every run, seeds 0 1 2, then the report
    python experiments/run_ablations.py --runs vlm2_dual mem_working --seeds 0
    python experiments/run_ablations.py --report-only

Steps, each skipped when its output is there (an interrupted one resumes):

1. the benchmark v2 splits (``vlm2-eqa-build`` for train and test when ``questions.jsonl`` is missing);
2. stage 1 per geometry source (``experiments/train_stage1.py`` -> ``<out-root>/stage1/<source>``),
   shared by every run with that source (seed 0: the stage-3 seeds vary what stage 3 learns);
3. stage 2 + 3 per run and seed (``vlm2-train train=<preset> train.perception=...``: the feature
   cache is built on first use, memory and LM are trained, the test split is scored with the
   own / other-scene / blank video diagnostics), a run with ``eval/test.json`` is reused;
4. the report ``<results>/ablations.{md,json}``: per task and horizon the mean and spread (max -
   min) over seeds of every run, the blind models fit on train (frequency, per-subject prior,
   text random forest, bag of words) and the best of them per cell, the diagnostics, the targets
   with what was measured, and ``evidence_age.png``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from vlm2_base.io import atomic_write

# name -> Hydra overrides of stage 3; the first is the full model (dual memory, oracle geometry)
RUNS: dict[str, list[str]] = {
    "vlm2_dual": ["memory=dual"],
    "mem_none": ["memory=none"],
    "mem_working": ["memory=working"],
    "mem_episodic": ["memory=episodic"],
    "mem_full_context": ["memory=full_context"],
    "mem_uniform": ["memory=uniform"],
    "geo_none": ["memory=dual", "model.geometry_source=none", "model.use_a3pi=false", "model.use_vaga=false"],
    "geo_learned": ["memory=dual", "model.geometry_source=learned"],
}
ABLATIONS = list(RUNS)  # the default study
# experiments on what binds (run on request with --runs): the objective
RUNS.update({
    "mem_working_ground": ["memory=working", "train.grounding_questions=24"],
    "vlm2_dual_ground": ["memory=dual", "train.grounding_questions=24"],
    "mem_working_ground_e4": ["memory=working", "train.grounding_questions=24", "memory.entry_grid=4"],
    "vlm2_dual_ground_align": ["memory=dual", "train.grounding_questions=24", "train.presence_alignment=1.0"],
    # the steps axis: 4x the budget (experiments/prefix_readout.py reads a word list at 6,000 steps, not at 1,500)
    "mem_working_ground_align_6k": ["memory=working", "train.grounding_questions=24", "train.presence_alignment=1.0",
                                    "train.max_steps=6000"],
})
GEOMETRY_OVERRIDES = {"oracle": [], "learned": ["model.geometry_source=learned"],
                      "none": ["model.geometry_source=none", "model.use_a3pi=false", "model.use_vaga=false"]}
BLIND = ("frequency", "prior", "forest", "bow")


def geometry_of(name: str) -> str:
    for o in RUNS[name]:
        if o.startswith("model.geometry_source="):
            return o.split("=", 1)[1]
    return "oracle"


def sh(cmd: list[str], log: Path) -> float:
    print(f"[study] {' '.join(cmd[1:])}  (log: {log})", flush=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with open(log, "a") as f:
        subprocess.run(cmd, check=True, stdout=f, stderr=subprocess.STDOUT)
    return round(time.perf_counter() - t0, 1)


def ensure_data(data_root: Path, out_root: Path, seconds: dict) -> None:
    for split in ("train", "test"):
        if not (data_root / split / "questions.jsonl").is_file():
            seconds[f"eqa_{split}"] = sh([sys.executable, "-m", "vlm2_agent.cli.eqa_build", f"eqa.split={split}",
                                          f"eqa.out_root={data_root}", "eqa.workers=2"], out_root / f"eqa_{split}.log")


def ensure_stage1(source: str, out_root: Path, seconds: dict, stage1_args: list[str]) -> Path:
    out = out_root / "stage1" / source
    if not (out / "stage1.json").is_file():
        seconds[f"stage1_{source}"] = sh([sys.executable, "experiments/train_stage1.py", "--out", str(out),
                                          *stage1_args, *GEOMETRY_OVERRIDES[source]], out_root / f"stage1_{source}.log")
    return out / "model"


def run_dir(out_root: Path, name: str, seed: int) -> Path:
    return out_root / f"{name}-s{seed}"


def ensure_run(name: str, seed: int, out_root: Path, data_root: Path, preset: str, extra: list[str],
               seconds: dict, stage1_args: list[str]) -> None:
    d = run_dir(out_root, name, seed)
    if (d / "eval" / "test.json").is_file():
        return
    perception = ensure_stage1(geometry_of(name), out_root, seconds, stage1_args)
    cmd = [sys.executable, "-m", "vlm2_agent.cli.train", f"train={preset}", *RUNS[name], f"train.seed={seed}",
           f"train.data_root={data_root}", f"train.perception={perception}",
           f"train.feature_cache={data_root / 'features'}", "logger=none", f"run_dir={d}", *extra]
    seconds[d.name] = sh(cmd, d / "train.log")


def blind_tables(data_root: Path) -> dict[str, dict]:
    """Test tables of the blind models fit on the train questions."""
    from vlm2_agent.eqa import evaluate, load_jsonl
    from vlm2_agent.eqa.audit.blind import BLIND_MODELS
    from vlm2_agent.eqa.baselines import make_baseline

    train = load_jsonl(data_root / "train" / "questions.jsonl")
    test = load_jsonl(data_root / "test" / "questions.jsonl")
    out = {}
    for name in BLIND:
        if name in BLIND_MODELS:
            replies = BLIND_MODELS[name]().fit(train).predict(test)
        else:
            model = make_baseline("blind" if name == "prior" else name, train)
            replies = [model.predict(q) for q in test]
        out[name] = evaluate(test, replies)["table"]
    return out


def cells(table: dict) -> dict[str, float]:
    """Flat {"vsi/overall", "vsi/long/overall", "vsi/<task>", ...} scores x100 of one test table."""
    out = {}
    for bench, t in table.items():
        out[f"{bench}/overall"] = 100 * t["overall"]
        for task, v in t["tasks"].items():
            out[f"{bench}/{task}"] = 100 * v
        for h, ht in t.get("horizons", {}).items():
            out[f"{bench}/{h}/overall"] = 100 * ht["overall"]
    return out


def report(names: list[str], seeds: list[int], out_root: Path, data_root: Path, results: Path, seconds: dict) -> Path:
    from vlm2_agent.training.diagnostics import plot_evidence_age

    runs: dict[str, list[dict]] = {}
    diags: dict[str, list[dict]] = {}
    for name in names:
        for s in seeds:
            d = run_dir(out_root, name, s)
            if (d / "eval" / "test.json").is_file():
                runs.setdefault(name, []).append(cells(json.loads((d / "eval" / "test.json").read_text())["table"]))
            if (d / "eval" / "diagnostics.json").is_file():
                diags.setdefault(name, []).append(json.loads((d / "eval" / "diagnostics.json").read_text()))
    blind = {n: cells(t) for n, t in blind_tables(data_root).items()}
    keys = list(next(iter(blind.values())))
    best_blind = {k: max(b[k] for b in blind.values()) for k in keys}
    stats = {n: {k: (float(np.mean([r[k] for r in rs])), float(np.ptp([r[k] for r in rs])), len(rs)) for k in keys}
             for n, rs in runs.items()}
    head = list(stats) + list(blind) + ["best blind"]
    lines = ["# VLM2 (staged training) and its ablations on benchmark v2 (held-out test scenes)", "",
             f"Scores x100; runs: mean over the seeds of {seeds} that finished, with the spread (max - min) in "
             "brackets where more than one did; blind models "
             "fit on the train questions. Stage timings and peak memory: `stage1.json` and each run's "
             "`train_config.json` / `metrics.jsonl`.", "",
             "| cell | " + " | ".join(head) + " |", "|---" * (len(head) + 1) + "|"]
    for k in keys:
        row = [f"{stats[n][k][0]:.1f} [{stats[n][k][1]:.1f}]" if stats[n][k][2] > 1 else f"{stats[n][k][0]:.1f}"
               for n in stats]
        row += [f"{blind[b][k]:.1f}" for b in blind] + [f"{best_blind[k]:.1f}"]
        lines.append(f"| {k} | " + " | ".join(row) + " |")
    lines += ["", "## Diagnostics (mean over seeds)", "",
              "| run | own VSI | other-scene VSI | blank VSI | own VSTI | other-scene VSTI | identical replies (other) | constant types |",
              "|---|---|---|---|---|---|---|---|"]
    for n, ds in diags.items():
        o = lambda c, b: np.mean([d["overall"][c].get(b, np.nan) for d in ds])  # noqa: E731
        ident = np.mean([d["identical_replies"]["other"] for d in ds])
        const = sorted({t for d in ds for t in d["constant_types"]})
        lines.append(f"| {n} | {o('own', 'vsi'):.1f} | {o('other', 'vsi'):.1f} | {o('blank', 'vsi'):.1f} | "
                     f"{o('own', 'vsti'):.1f} | {o('other', 'vsti'):.1f} | {100 * ident:.0f}% | {', '.join(const) or '-'} |")
    checks = targets(stats, best_blind, diags)
    lines += ["", "## Targets", "", *checks, ""]
    results.mkdir(parents=True, exist_ok=True)
    if diags:
        working = next(iter(diags.values()))[0]["working_frames"]
        curves = {n: _mean_age(ds) for n, ds in diags.items()}
        plot_evidence_age(curves, results / "evidence_age.png", working)
    doc = {"seeds": seeds, "runs": stats, "blind": blind, "best_blind": best_blind, "targets": checks,
           "diagnostics": diags, "seconds_this_invocation": seconds}
    for path, text in ((results / "ablations.md", "\n".join(lines)), (results / "ablations.json", json.dumps(doc, indent=1))):
        atomic_write(path, text + "\n")
    return results / "ablations.md"


def _mean_age(ds: list[dict]) -> dict[str, dict]:
    bins = list(ds[0]["evidence_age"])
    return {b: {"score": float(np.mean([d["evidence_age"][b]["score"] for d in ds if b in d["evidence_age"]])),
                "n": ds[0]["evidence_age"][b]["n"]} for b in bins}


def targets(stats: dict, best_blind: dict, diags: dict) -> list[str]:
    """The issue's targets, each with what was measured."""
    out = []

    def m(n, k):
        return stats[n][k][0] if n in stats else float("nan")

    if "vlm2_dual" in stats:
        for bench, margin in (("vsi", 15), ("vsti", 10)):
            for h in ("overall", "short/overall", "mid/overall", "long/overall"):
                k = f"{bench}/{h}"
                gap = m("vlm2_dual", k) - best_blind[k]
                out.append(f"- {k}: VLM2 {m('vlm2_dual', k):.1f} vs best blind {best_blind[k]:.1f} -> {gap:+.1f} "
                           f"(target +{margin}: {'met' if gap >= margin else 'missed'})")
        for abl in ("mem_working", "mem_none", "mem_uniform"):
            if abl in stats:
                gap = m("vlm2_dual", "vsi/long/overall") - m(abl, "vsi/long/overall")
                out.append(f"- VSI long: dual vs {abl} {gap:+.1f} (target +3: {'met' if gap >= 3 else 'missed'})")
        if "geo_none" in stats:
            for task in ("vsi/object_abs_distance", "vsi/object_rel_distance", "vsi/object_rel_direction"):
                gap = m("vlm2_dual", task) - m("geo_none", task)
                out.append(f"- {task}: oracle vs none {gap:+.1f} (target +5: {'met' if gap >= 5 else 'missed'})")
    if "vlm2_dual" in diags:
        ds = diags["vlm2_dual"]
        drop = np.mean([d["overall"]["own"]["vsi"] - d["overall"]["other"]["vsi"] for d in ds])
        out.append(f"- swapping in another scene's video costs {drop:.1f} VSI points (target 10: "
                   f"{'met' if drop >= 10 else 'missed'}); constant types: "
                   f"{sorted({t for d in ds for t in d['constant_types']}) or 'none'}")
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out-root", type=Path, default=Path("outputs/study"))
    p.add_argument("--data-root", type=Path, default=Path("data/eqa"))
    p.add_argument("--results", type=Path, default=Path("results/eqa_v2/study"))
    p.add_argument("--preset", default="cpu_small")
    p.add_argument("--runs", nargs="*", choices=list(RUNS), default=ABLATIONS)
    p.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    p.add_argument("--stage1-args", nargs="*", default=[], help="extra arguments of train_stage1.py, e.g. --steps=300")
    p.add_argument("--report-only", action="store_true")
    p.add_argument("overrides", nargs="*", help="extra Hydra overrides of every stage-3 run, e.g. train.max_steps=300")
    a = p.parse_args()
    seconds: dict[str, float] = {}
    if not a.report_only:
        ensure_data(a.data_root, a.out_root, seconds)
        for seed in a.seeds:
            for name in a.runs:
                ensure_run(name, seed, a.out_root, a.data_root, a.preset, a.overrides, seconds, a.stage1_args)
    print(report(a.runs, a.seeds, a.out_root, a.data_root, a.results, seconds).read_text())


if __name__ == "__main__":
    main()
