"""``vlm2-eqa-eval``: score a predictions file or a baseline on an EQA split (``configs/eqa_eval.yaml``).

Writes ``<name>.md``, ``<name>.json``, ``<name>.png`` and ``<name>_scores.jsonl`` to ``out_dir`` and
prints the Markdown table (scores x100 per task; columns all / short / mid / long).

Example (shell)::

    python -m vlm2_agent.cli.eqa_eval baseline=frequency
    python -m vlm2_agent.cli.eqa_eval predictions=my_model.jsonl out_dir=reports/my_model
    python -m vlm2_agent.cli.eqa_eval predictions=<lmms-eval output>/samples_vlm2_vsibench.jsonl benchmark=vsi
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from vlm2_agent.cli import abs_path, run_logger, vlm2_app


def run(cfg: DictConfig, out_dir: Path) -> dict[str, Any]:
    """Score what ``cfg`` names; returns ``{"result", "paths", "name", "missing"}``."""
    from vlm2_agent.eqa.evaluate import baseline_predict_fn, evaluate, load_predictions, match_predictions, write_report
    from vlm2_agent.eqa.question import load_jsonl

    if (cfg.predictions is None) == (cfg.baseline is None):
        raise ValueError("vlm2-eqa-eval: set exactly one of predictions=<file.jsonl> or "
                         "baseline=chance|frequency|blind")
    qpath = abs_path(cfg.questions) if cfg.questions else abs_path(cfg.data_root) / cfg.split / "questions.jsonl"
    if not qpath.is_file():
        raise FileNotFoundError(f"questions file {qpath} does not exist; build it with "
                                f"vlm2-eqa-build eqa.split={cfg.split} or pass questions=<file>")
    questions = load_jsonl(qpath)
    bench = cfg.get("benchmark")
    if bench is not None:
        if bench not in ("vsi", "vsti"):
            raise ValueError(f"benchmark={bench!r}: expected vsi, vsti or null (both)")
        questions = [q for q in questions if q.benchmark == bench]
    missing: list[str] = []
    if cfg.baseline is not None:
        tpath = abs_path(cfg.train_questions) if cfg.train_questions else abs_path(cfg.data_root) / "train" / "questions.jsonl"
        if not tpath.is_file():
            raise FileNotFoundError(f"train questions {tpath} do not exist (the baselines are fitted on them); "
                                    "build them with vlm2-eqa-build eqa.split=train or pass train_questions=<file>")
        replies = baseline_predict_fn(str(cfg.baseline), load_jsonl(tpath), int(cfg.seed))
        name = cfg.name or str(cfg.baseline)
        source = {"baseline": str(cfg.baseline), "train_questions": str(tpath)}
    else:
        ppath = abs_path(cfg.predictions)
        replies, missing = match_predictions(questions, load_predictions(ppath), str(ppath), bool(cfg.allow_missing))
        name = cfg.name or ppath.stem
        source = {"predictions": str(ppath), "missing": len(missing), "benchmark": bench}
    result = evaluate(questions, replies)
    paths = write_report(result, out_dir, name, meta={"questions": str(qpath), "split": cfg.split, **source})
    return {"result": result, "paths": paths, "name": name, "missing": missing}


@vlm2_app("eqa_eval")
def main(cfg: DictConfig) -> None:
    from vlm2_agent.eqa.metrics import format_table

    with run_logger(cfg) as (run_dir, logger):
        r = run(cfg, abs_path(cfg.out_dir) if cfg.out_dir else run_dir)
        table = r["result"]["table"]
        logger.log({f"eqa/{b}/overall": t["overall"] for b, t in table.items()})
    if r["missing"]:
        print(f"warning: {len(r['missing'])} questions had no prediction and were scored 0")
    print(f"## {r['name']} ({len(r['result']['records'])} questions)\n")
    print(format_table(table))
    print("wrote " + "  ".join(str(p) for p in r["paths"].values()))


if __name__ == "__main__":
    main()
