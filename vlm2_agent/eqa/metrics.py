"""Scoring exactly as the public VSI-Bench / VSTI-Bench evaluation code.

Re-implemented from the public lmms-eval task files of ``vision-x-nyu/thinking-in-space``
(``lmms_eval/tasks/vsibench/utils.py``) and VLM-3R's VSTI-Bench task, which share these rules:

* **Parsing**: the reply is cut at the first ASCII space (``reply.split(' ')[0]``), trailing dots are
  stripped, then surrounding whitespace. So ``"B."`` -> ``"B"``, ``"3.5 meters"`` -> ``"3.5"``,
  ``"The answer is B"`` -> ``"The"`` (scores 0), and a reply starting with a space parses to ``""``.
* **Multiple choice**: case-insensitive exact match of that token with the correct letter.
* **Numerical**: the token through ``float()``; unparsable scores 0. Mean relative accuracy over the
  10 thresholds ``np.linspace(0.5, 0.95, 10)`` of ``|pred - gt| / gt <= 1 - theta``, evaluated in
  float64 as the public code does. Floating point matters at the edges: ``1 - 0.8`` is
  ``0.19999999999999996`` there, so a 20 % error fails theta = 0.80 (MRA(8, 10) = 0.6, not the 0.7
  the formula suggests on paper), while ``1 - 0.9`` is ``0.10000000000000009``, so a 10 % error
  passes theta = 0.90 (MRA(9, 10) = 0.9). We keep that behaviour so scores match the public ones.
* **Aggregation**: mean score per question type; ``object_rel_direction_{easy,medium,hard}`` averaged
  into one task (VSTI: ``obj_obj_relative_pos_{nf,lr,ud}`` and ``camera_obj_rel_dist_v{1,2,3}``);
  overall = unweighted mean of the task scores. One deliberate difference: the VSI code counts a
  missing rel-direction level as 0 (``output.pop(key, 0.)``); we average the levels present, which is
  the same whenever all three are present and keeps per-horizon subsets meaningful.

Example:
    >>> mean_relative_accuracy(9.0, 10.0)
    0.9
    >>> parse_reply("B. the chair"), exact_match("b", "B")
    ('B', 1.0)
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable, Mapping

import numpy as np

from .question import Question
from .tasks import HORIZONS, VSI_SUBTYPES, VSTI_SUBTYPES, benchmark_of, is_numerical, task_of

# Same construction as the public code: int((end - start) / interval + 2) == 10 points.
MRA_THRESHOLDS = np.linspace(0.5, 0.95, int((0.95 - 0.5) / 0.05 + 2))


def parse_reply(reply: str) -> str:
    """The answer token of a model reply (public ``fuzzy_matching``)."""
    if not isinstance(reply, str):
        raise TypeError(f"reply must be a str, got {type(reply).__name__}")
    return reply.split(" ")[0].rstrip(".").strip()


def exact_match(token: str, target: str) -> float:
    return 1.0 if token.lower() == str(target).lower() else 0.0


def to_float(token: str) -> float | None:
    try:
        return float(token)
    except (TypeError, ValueError, OverflowError):
        return None


def mean_relative_accuracy(pred: float | None, gt: float) -> float:
    """MRA of one numerical prediction; ``None`` (unparsable) scores 0."""
    if not gt > 0:
        raise ValueError(f"ground truth must be > 0 for mean relative accuracy, got {gt}")
    if pred is None:
        return 0.0
    rel = abs(float(pred) - float(gt)) / float(gt)
    return float(np.mean(rel <= 1 - MRA_THRESHOLDS))


def score_prediction(question: Question | Mapping[str, Any], reply: str) -> float:
    """Score one reply: accuracy (0/1) for multiple choice, MRA in [0, 1] for numerical types."""
    if isinstance(question, Mapping):
        question = Question.from_dict(dict(question))
    token = parse_reply(reply)
    if question.is_numerical:
        return mean_relative_accuracy(to_float(token), float(question.ground_truth))
    return exact_match(token, str(question.ground_truth))


def make_record(question: Question, reply: str) -> dict[str, Any]:
    """A scored record for :func:`aggregate` (JSON-serialisable)."""
    return {
        "id": question.id,
        "question_type": question.question_type,
        "horizon": question.horizon,
        "reply": reply,
        "score": score_prediction(question, reply),
    }


def _task_table(records: list[Mapping[str, Any]]) -> dict[str, Any]:
    per_type: dict[str, list[float]] = defaultdict(list)
    for r in records:
        per_type[r["question_type"]].append(float(r["score"]))
    subtypes = {t: float(np.mean(v)) for t, v in per_type.items()}
    by_task: dict[str, list[float]] = defaultdict(list)
    for t, s in subtypes.items():
        by_task[task_of(t)].append(s)
    bench = benchmark_of(records[0]["question_type"])
    order = list(dict.fromkeys((VSI_SUBTYPES if bench == "vsi" else VSTI_SUBTYPES).values()))
    tasks = {t: float(np.mean(by_task[t])) for t in order if t in by_task}
    return {
        "tasks": tasks,
        "subtypes": subtypes,
        "overall": float(np.mean(list(tasks.values()))),
        "n": len(records),
    }


def aggregate(records: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per-task, overall and per-horizon scores for each benchmark present in ``records``.

    Each record needs ``question_type`` and ``score``; ``horizon`` (``short``/``mid``/``long``) adds
    the per-horizon tables. Returns ``{"vsi": {"tasks", "subtypes", "overall", "n", "horizons"}, ...}``
    with scores in [0, 1] (the papers print them x100).
    """
    by_bench: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for i, r in enumerate(records):
        for key in ("question_type", "score"):
            if key not in r:
                raise ValueError(f"record {i}: missing field {key!r} (have {sorted(r)})")
        by_bench[benchmark_of(r["question_type"])].append(r)
    out: dict[str, dict[str, Any]] = {}
    for bench in ("vsi", "vsti"):
        recs = by_bench.get(bench)
        if not recs:
            continue
        table = _task_table(recs)
        horizons = {}
        for h in HORIZONS:
            sub = [r for r in recs if r.get("horizon") == h]
            if sub:
                horizons[h] = _task_table(sub)
        table["horizons"] = horizons
        out[bench] = table
    return out


def format_table(table: Mapping[str, Mapping[str, Any]]) -> str:
    """A Markdown table (scores x100) of :func:`aggregate`'s output: one row per task, columns
    all / short / mid / long."""
    lines = []
    for bench, t in table.items():
        lines += [f"### {bench.upper()}", "", "| task | all | short | mid | long |", "|---|---|---|---|---|"]
        rows = list(t["tasks"]) + ["overall"]
        for row in rows:
            cells = [row]
            for src in [t] + [t["horizons"].get(h) for h in HORIZONS]:
                if src is None:
                    cells.append("-")
                    continue
                v = src["overall"] if row == "overall" else src["tasks"].get(row)
                cells.append("-" if v is None else f"{100 * v:.1f}")
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


__all__ = [
    "MRA_THRESHOLDS",
    "aggregate",
    "exact_match",
    "format_table",
    "is_numerical",
    "make_record",
    "mean_relative_accuracy",
    "parse_reply",
    "score_prediction",
    "to_float",
]
