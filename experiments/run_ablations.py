"""Train VLM2 and its ablations with one budget, score them on the held-out test scenes, write the report.

Every run uses the same preset (``train=cpu_small``: same steps, seed, data order and question draws);
only the memory mode or the geometry source differs. Runs go one after another (each is a
``vlm2-train`` process; a finished run, one with ``eval/test.json``, is reused, an interrupted one
resumes from its checkpoint), then the chance / frequency / blind baselines are scored on the same
test questions. Output: ``results/eqa/ablations.{md,json}`` and ``results/eqa/curves/*.png``.

    python experiments/run_ablations.py                 # all 8 runs, then the report
    python experiments/run_ablations.py --report-only   # rebuild the report from finished runs
    python experiments/run_ablations.py --seed 1 --out-root outputs/ablations_s1
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

# name -> Hydra overrides; the first is the full model (dual memory, oracle geometry)
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
BASELINES = ("chance", "frequency", "blind")


def train_command(name: str, overrides: list[str], out_root: Path, preset: str, seed: int, extra: list[str]) -> list[str]:
    return [sys.executable, "-m", "vlm2_agent.cli.train", f"train={preset}", *overrides, f"train.seed={seed}",
            "logger=none", f"run_dir={out_root / name}", *extra]


def run_all(names: list[str], out_root: Path, preset: str, seed: int, extra: list[str]) -> dict[str, float]:
    seconds = {}
    for name in names:
        run_dir = out_root / name
        if (run_dir / "eval" / "test.json").is_file():
            print(f"[ablations] {name}: finished earlier, reused", flush=True)
            continue
        cmd = train_command(name, RUNS[name], out_root, preset, seed, extra)
        print(f"[ablations] {name}: {' '.join(cmd[1:])}", flush=True)
        run_dir.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        with open(run_dir / "train.log", "a") as log:
            subprocess.run(cmd, check=True, stdout=log, stderr=subprocess.STDOUT)
        seconds[name] = round(time.perf_counter() - t0, 1)
        print(f"[ablations] {name}: done in {seconds[name]:.0f} s", flush=True)
    return seconds


def baseline_tables(data_root: Path, seed: int) -> dict[str, dict]:
    from vlm2_agent.eqa import evaluate, load_jsonl
    from vlm2_agent.eqa.evaluate import baseline_predict_fn

    train = load_jsonl(data_root / "train" / "questions.jsonl")
    test = load_jsonl(data_root / "test" / "questions.jsonl")
    return {b: evaluate(test, baseline_predict_fn(b, train, seed))["table"] for b in BASELINES}


def claim_checks(tables: dict[str, dict]) -> list[str]:
    """The claims of the issue, each with what was measured."""
    from vlm2_agent.eqa.tasks import HORIZONS

    def score(name: str, bench: str, horizon: str | None = None) -> float:
        t = tables[name][bench]
        return 100 * (t["overall"] if horizon is None else t["horizons"][horizon]["overall"])

    lines = []
    for bench in ("vsi", "vsti"):
        for base in ("frequency", "blind"):
            for h in (None, *HORIZONS):
                a, b = score("vlm2_dual", bench, h), score(base, bench, h)
                lines.append(f"- {bench.upper()} {h or 'overall'}: VLM2 {a:.1f} vs {base} {b:.1f} -> "
                             f"{'holds' if a > b else 'does not hold'}")
        for abl in ("mem_none", "mem_working", "mem_uniform"):
            a, b = score("vlm2_dual", bench, "long"), score(abl, bench, "long")
            lines.append(f"- {bench.upper()} long: VLM2 {a:.1f} vs {abl} {b:.1f} -> {'holds' if a > b else 'does not hold'}")
    return lines


def write_report(out_root: Path, data_root: Path, results: Path, seed: int, preset: str, extra: list[str],
                 seconds: dict[str, float]) -> Path:
    from vlm2_agent.eqa.evaluate import compare_table
    from vlm2_agent.training.curves import plot_curves, read_metrics

    tables, meta = {}, {}
    for name in RUNS:
        p = out_root / name / "eval" / "test.json"
        if p.is_file():
            doc = json.loads(p.read_text())
            tables[name], meta[name] = doc["table"], doc["meta"]
    tables.update(baseline_tables(data_root, seed))
    results.mkdir(parents=True, exist_ok=True)
    curves = results / "curves"
    runs = {n: read_metrics(out_root / n / "metrics.jsonl") for n in RUNS if (out_root / n / "metrics.jsonl").is_file()}
    plot_curves(runs, curves / "all_runs.png", title=f"VLM2 ablations ({preset}, seed {seed})")
    for n, rows in runs.items():
        plot_curves({n: rows}, curves / f"{n}.png", title=n)
    commands = {n: " ".join(train_command(n, RUNS[n], out_root, preset, seed, extra)[1:]) for n in RUNS}
    checks = claim_checks(tables) if {"vlm2_dual", "mem_none", "mem_working", "mem_uniform"} <= set(tables) else []
    md = ["# VLM2 ablations on the simulated EQA benchmark (held-out test scenes)", "",
          (f"Preset `train={preset}`, seed {seed} for every run (model init, data order, question draws; "
           f"baselines fitted on train questions with seed {seed}). Scores x100."), "",
          compare_table(tables), "## Claims", "", *checks, "", "## Commands", "",
          *[f"- {n}: `python {c}`" for n, c in commands.items()], "",
          "Whole table: `python experiments/run_ablations.py`", ""]
    doc = {"preset": preset, "seed": seed, "tables": tables, "run_meta": meta, "commands": commands,
           "train_seconds_this_invocation": seconds, "claims": checks}
    for path, text in ((results / "ablations.md", "\n".join(md)), (results / "ablations.json", json.dumps(doc, indent=1))):
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text + "\n")
        os.replace(tmp, path)
    return results / "ablations.md"


def video_swap_check(run_dir: Path, data_root: Path, stride: int = 8, max_episodes: int | None = None) -> dict:
    """Does the model use the video? Each test episode's questions answered from its own video and from
    the video of the next scene's tour of the same horizon (same length bucket, other rooms and objects).
    Equal scores mean the answers come from the question text alone."""
    import dataclasses

    import torch

    from vlm2_agent.eqa import evaluate
    from vlm2_agent.model import VLM2Streamer
    from vlm2_agent.training.data import EpisodeVideoDataset
    from vlm2_agent.training.evaluation import answer_item

    torch.set_num_threads(1)
    streamer = VLM2Streamer.from_pretrained(run_dir / "model", device="cpu")
    ds = EpisodeVideoDataset(data_root / "test", stride=stride)
    n = len(ds) if max_episodes is None else min(max_episodes, len(ds))
    by_h: dict[str, list[int]] = {}
    for i in range(n):
        by_h.setdefault(ds.episode_ids[i].rsplit("-", 2)[1], []).append(i)
    qs, own, swapped, same = [], [], [], 0
    for idx in by_h.values():
        for k, i in enumerate(idx):
            item, other = ds[i], ds[idx[(k + 1) % len(idx)]]
            fake = dataclasses.replace(other, questions=item.questions)
            a = answer_item(streamer.model, streamer.tokenizer, item)
            b = answer_item(streamer.model, streamer.tokenizer, fake)
            qs += item.questions
            own += a
            swapped += b
            same += sum(x == y for x, y in zip(a, b))
    t_own, t_swap = evaluate(qs, own)["table"], evaluate(qs, swapped)["table"]
    return {"run": str(run_dir), "episodes": n, "questions": len(qs), "identical_answers": same / len(qs),
            "own_video": {b: t_own[b]["overall"] for b in t_own}, "swapped_video": {b: t_swap[b]["overall"] for b in t_swap}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out-root", type=Path, default=Path("outputs/ablations"))
    p.add_argument("--data-root", type=Path, default=Path("data/eqa"))
    p.add_argument("--results", type=Path, default=Path("results/eqa"))
    p.add_argument("--preset", default="cpu_small")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--only", nargs="*", choices=list(RUNS), help="train only these runs")
    p.add_argument("--report-only", action="store_true")
    p.add_argument("--diagnose", nargs="*", metavar="RUN", help="only the video-swap check of these runs "
                   "(writes <results>/video_swap.json)")
    p.add_argument("overrides", nargs="*", help="extra Hydra overrides for every run, e.g. train.max_steps=300")
    a = p.parse_args()
    if a.diagnose is not None:
        doc = [video_swap_check(a.out_root / r, a.data_root) for r in (a.diagnose or ["vlm2_dual"])]
        a.results.mkdir(parents=True, exist_ok=True)
        (a.results / "video_swap.json").write_text(json.dumps(doc, indent=1) + "\n")
        print(json.dumps(doc, indent=1))
        return
    seconds = {} if a.report_only else run_all(a.only or list(RUNS), a.out_root, a.preset, a.seed, a.overrides)
    path = write_report(a.out_root, a.data_root, a.results, a.seed, a.preset, a.overrides, seconds)
    print(path.read_text())


if __name__ == "__main__":
    main()
