"""The lmms-eval round trip on a real split: export, answer as lmms-eval would record it, import, compare.

A reference baseline (fitted on the train split) stands in for an outside model: its replies are
written as lmms-eval's ``--log_samples`` records for the exported docs of each task, read back
by ``vlm2-eqa-eval``'s loader (``benchmark=vsi|vsti``), and scored; the script prints both
tables' overall scores and whether every cell equals the direct evaluation of the same replies.

Usage:
    vlm2-eqa-export split=test out_dir=exports/lmms_eval/test
    python experiments/lmms_eval_roundtrip.py --export exports/lmms_eval/test [--baseline blind]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from vlm2_agent.eqa.evaluate import baseline_predict_fn, evaluate, load_predictions, match_predictions
from vlm2_agent.eqa.lmms_eval import TASK_DIRS
from vlm2_agent.eqa.question import load_jsonl


def samples_file(docs_path: Path, replies: dict[str, str], out: Path) -> Path:
    """lmms-eval's ``--log_samples`` records for the docs of one exported task."""
    with open(docs_path) as f, open(out, "w") as w:
        for i, line in enumerate(f):
            doc = json.loads(line)
            w.write(json.dumps({"doc_id": i, "doc": doc, "target": doc["ground_truth"], "arguments": [],
                                "resps": [[replies[doc["id"]]]], "filtered_resps": [replies[doc["id"]]]}) + "\n")
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--export", required=True, help="a vlm2-eqa-export out_dir")
    ap.add_argument("--data-root", default="data/eqa")
    ap.add_argument("--split", default="test")
    ap.add_argument("--baseline", default="blind", choices=("chance", "frequency", "blind"))
    args = ap.parse_args(argv)
    questions = load_jsonl(Path(args.data_root) / args.split / "questions.jsonl")
    train = load_jsonl(Path(args.data_root) / "train" / "questions.jsonl")
    replies = dict(zip([q.id for q in questions], baseline_predict_fn(args.baseline, train, 0)(questions)))
    direct = evaluate(questions, [replies[q.id] for q in questions])["table"]
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for bench, task in TASK_DIRS.items():
            mine = [q for q in questions if q.benchmark == bench]
            docs = Path(args.export) / task / "test.jsonl"
            path = samples_file(docs, replies, Path(tmp) / f"samples_vlm2_{task}.jsonl")
            matched, missing = match_predictions(mine, load_predictions(path), str(path))
            table = evaluate(mine, matched)["table"][bench]
            out[bench] = {"direct": direct[bench]["overall"], "imported": table["overall"],
                          "identical": table == direct[bench], "missing": len(missing), "questions": len(mine)}
    print(f"\n{args.baseline} baseline on {args.split}, through lmms-eval sample files\n")
    print("| benchmark | questions | direct | imported | every cell equal |")
    print("|---|---|---|---|---|")
    for bench, r in out.items():
        print(f"| {bench.upper()} | {r['questions']} | {100 * r['direct']:.2f} | {100 * r['imported']:.2f} | "
              f"{'yes' if r['identical'] and not r['missing'] else 'NO'} |")
    return out


if __name__ == "__main__":
    main()
