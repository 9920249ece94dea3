"""Iterative bias pruning (IBP, Brown et al. 2025): remove what a blind model answers with confidence.

Each round cross-validates the text-only random forest on the split itself (TsT: 5 folds grouped by
scene, :func:`~.blind.cross_validate`; only the question types that lost questions are refit) and
scores every task. For every task whose blind score is
above its reference (chance as the expected multiple-choice score, or the best constant answer of
the split for numbers) by more than ``tolerance``, the ``fraction`` of its questions the blind
model is most sure of (the probability it gives the right option, or the score of its numerical
guess) are removed; a task never drops below ``min_per_task`` questions. Rounds stop when no task
is above tolerance, or after ``max_rounds``. The record (per round: blind score, reference and
questions removed per task) goes into the split's manifest.

Example:
    >>> PruneConfig(min_per_task=400).fraction
    0.05
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..question import Question
from .baselines import reference_scores
from .blind import cross_validate
from .report import task_scores


@dataclass(frozen=True)
class PruneConfig:
    """``enabled``: run the pass; ``min_per_task``: questions a task keeps at least; ``fraction``:
    share of a biased task removed per round; ``tolerance``: blind score above the reference that
    counts as biased (scores in [0, 1]); ``max_rounds``; ``folds``; ``trees`` of the forest; ``seed``."""

    enabled: bool = True
    min_per_task: int = 400
    fraction: float = 0.05
    tolerance: float = 0.01
    max_rounds: int = 12
    folds: int = 5
    trees: int = 50
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.fraction < 1:
            raise ValueError(f"prune.fraction: expected a share in (0, 1), got {self.fraction}")
        if self.min_per_task < 0 or self.max_rounds < 0 or self.folds < 2:
            raise ValueError("prune: expected min_per_task >= 0, max_rounds >= 0 and folds >= 2, "
                             f"got {self.min_per_task}, {self.max_rounds}, {self.folds}")


def prune_bias(questions: Sequence[Question], config: PruneConfig | None = None,
               progress: bool = False) -> tuple[list[Question], dict[str, Any]]:
    """The questions left after IBP, and the record of its rounds."""
    from ..metrics import score_prediction

    cfg = config or PruneConfig()
    kept = list(questions)
    record: dict[str, Any] = {"config": {k: getattr(cfg, k) for k in cfg.__dataclass_fields__}, "rounds": []}
    if not cfg.enabled or len({q.scene_id for q in kept}) < cfg.folds:
        record["skipped"] = "disabled" if not cfg.enabled else f"fewer than {cfg.folds} scenes"
        return kept, record
    cache: dict[str, tuple[list[str], np.ndarray]] = {}  # question id -> (reply, confidence), per type
    stale = {q.question_type for q in kept}
    for r in range(cfg.max_rounds + 1):
        redo = [q for q in kept if q.question_type in stale]
        if redo:
            replies, conf = cross_validate("forest", redo, cfg.folds, cfg.seed, with_confidence=True,
                                           trees=cfg.trees)
            cache.update({q.id: (a, c) for q, a, c in zip(redo, replies, conf)})
        conf = np.array([cache[q.id][1] for q in kept])
        blind = np.array([score_prediction(q, cache[q.id][0]) for q in kept])
        ref = reference_scores(kept, kept)
        types = [q.question_type for q in kept]
        b_task, r_task = task_scores(types, blind), task_scores(types, ref)
        tasks = defaultdict(list)
        for i, q in enumerate(kept):
            tasks[q.task].append(i)
        biased = [t for t in sorted(tasks) if b_task[t] - r_task[t] > cfg.tolerance
                  and len(tasks[t]) > cfg.min_per_task]
        entry = {"round": r, "n": {t: len(v) for t, v in sorted(tasks.items())},
                 "blind": {t: round(b_task[t], 4) for t in sorted(tasks)},
                 "reference": {t: round(r_task[t], 4) for t in sorted(tasks)}, "removed": {}}
        record["rounds"].append(entry)
        if progress:
            gaps = ", ".join(f"{t} {100 * (b_task[t] - r_task[t]):+.1f}" for t in sorted(tasks))
            print(f"[prune] round {r}: {len(kept)} questions; blind - reference: {gaps}", flush=True)
        if not biased or r == cfg.max_rounds:
            break
        drop: set[int] = set()
        for t in biased:
            idx = tasks[t]
            k = min(int(np.ceil(cfg.fraction * len(idx))), len(idx) - cfg.min_per_task)
            order = sorted(idx, key=lambda i: (-conf[i], kept[i].id))
            drop.update(order[:k])
            entry["removed"][t] = k
        stale = {kept[i].question_type for i in drop}
        kept = [q for i, q in enumerate(kept) if i not in drop]
    return kept, record


__all__ = ["PruneConfig", "prune_bias"]
