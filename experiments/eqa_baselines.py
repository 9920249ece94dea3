"""Reference baselines (chance, frequency, blind) on an EQA split, fitted on the train split's questions.

Writes each baseline's report (``<name>.md/.json/.png`` + per-question scores) to ``--out`` and prints
one table with a column per baseline (scores x100; overall rows per horizon at the bottom).

Usage::

    python experiments/eqa_baselines.py --data-root data/eqa --split test --out outputs/eqa_baselines
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from vlm2_agent.eqa.evaluate import baseline_predict_fn, compare_table, evaluate, write_report
from vlm2_agent.eqa.question import load_jsonl

BASELINES = ("chance", "frequency", "blind")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-root", default="data/eqa")
    p.add_argument("--split", default="test")
    p.add_argument("--train-split", default="train")
    p.add_argument("--out", default="outputs/eqa_baselines")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    root = Path(args.data_root)
    questions = load_jsonl(root / args.split / "questions.jsonl")
    train = load_jsonl(root / args.train_split / "questions.jsonl")
    horizons = Counter(q.horizon for q in questions)
    print(f"{len(questions)} {args.split} questions ({dict(horizons)}), baselines fitted on {len(train)} "
          f"{args.train_split} questions\n")
    tables = {}
    for name in BASELINES:
        result = evaluate(questions, baseline_predict_fn(name, train, args.seed))
        write_report(result, args.out, name, meta={"split": args.split, "train_split": args.train_split,
                                                   "seed": args.seed})
        tables[name] = result["table"]
    print(compare_table(tables))
    print(f"reports: {Path(args.out).resolve()}")


if __name__ == "__main__":
    main()
