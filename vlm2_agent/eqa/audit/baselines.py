"""The references a blind model is held to, as the public papers define them.

* multiple choice: chance as the *expected* score, ``1 / number of options`` per question
  (VSI-Bench's "Chance Level (Random)" in expectation, no sampling noise);
* numerical: the best constant answer of the type on the fitting questions (the constant that
  maximises mean relative accuracy there), scored on the evaluated ones.

Example:
    >>> from vlm2_agent.eqa.question import Question
    >>> qs = [Question(id=str(i), scene_id="s", episode_id="e", question_type="object_counting",
    ...                question="How many chair(s) are shown in this video?", ground_truth=g,
    ...                frame_range=(0, 8), fps=4.0) for i, g in enumerate([2.0, 2.0, 2.0, 8.0])]
    >>> best_constants(qs)["object_counting"]
    2.0
"""

from __future__ import annotations

from collections import defaultdict
from typing import Sequence

import numpy as np

from ..metrics import MRA_THRESHOLDS
from ..question import Question


def _mra_matrix(candidates: np.ndarray, truths: np.ndarray) -> np.ndarray:
    rel = np.abs(candidates[:, None] - truths[None, :]) / truths[None, :]
    return (rel[..., None] <= 1 - MRA_THRESHOLDS).mean(-1)


def best_constants(fit: Sequence[Question]) -> dict[str, float]:
    """Per numerical type, the constant with the highest mean MRA on ``fit`` (searched over the
    answers that occur and a fine grid between their 1st and 99th percentiles)."""
    by_type: dict[str, list[float]] = defaultdict(list)
    for q in fit:
        if q.is_numerical:
            by_type[q.question_type].append(float(q.ground_truth))
    out = {}
    for t, v in sorted(by_type.items()):
        truths = np.asarray(v)
        lo, hi = np.percentile(truths, [1, 99])
        cands = np.unique(np.round(np.concatenate([np.unique(truths), np.linspace(lo, hi, 200)]), 1))
        scores = _mra_matrix(cands, truths).mean(1)
        out[t] = float(cands[int(np.argmax(scores))])
    return out


def reference_scores(fit: Sequence[Question], questions: Sequence[Question]) -> np.ndarray:
    """Per question: the expected chance score (multiple choice) or the score of the best constant
    fitted on ``fit`` (numerical)."""
    consts = best_constants(fit)
    out = np.zeros(len(questions))
    for i, q in enumerate(questions):
        if q.is_numerical:
            if q.question_type not in consts:
                raise ValueError(f"reference_scores: no fitting questions of type {q.question_type!r}")
            out[i] = _mra_matrix(np.array([consts[q.question_type]]), np.array([float(q.ground_truth)]))[0, 0]
        else:
            out[i] = 1.0 / len(q.options)
    return out


def constant_replies(fit: Sequence[Question], questions: Sequence[Question]) -> list[str]:
    """The best-constant replies for numerical questions ("" for multiple choice)."""
    consts = best_constants(fit)
    return [f"{consts[q.question_type]:.1f}" if q.is_numerical else "" for q in questions]


__all__ = ["best_constants", "constant_replies", "reference_scores"]
