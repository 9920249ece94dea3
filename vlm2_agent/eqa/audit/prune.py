"""Iterative bias pruning (IBP, Brown et al. 2025): remove what a blind model answers with confidence.

Each round cross-validates the text-only random forest and bag-of-words models on the split itself
(TsT: 5 folds grouped by scene, :func:`~.blind.cross_validate`; only the question types that lost
questions are refit), adds the random forest, the bag-of-words model, the per-subject prior
(:class:`~vlm2_agent.eqa.baselines.BlindBaseline`) and VSI-Bench's frequency baseline fit on the
train split when one is given, and scores every task. For every task whose best blind score is
above its reference (chance as the expected multiple-choice score, or the best constant answer of
the split for numbers) by more than ``tolerance``, the ``fraction`` of its questions the blind
models are most sure of (the probability they give the right option, or the score of their
numerical guess) are removed; a task never drops below ``min_per_task`` questions. Rounds stop when no task
is above tolerance, or after ``max_rounds``. The record (per round: blind score, reference and
questions removed per task) goes into the split's manifest.

Example:
    >>> PruneConfig(min_per_task=400).fraction
    0.05
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from ..question import Question
from .baselines import reference_scores
from .blind import cross_validate
from .report import task_scores

TST_DETECTORS = ("forest", "bow")  # blind models cross-validated on the split every round


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


def prune_bias(questions: Sequence[Question], config: PruneConfig | None = None, progress: bool = False,
               fit: Sequence[Question] | None = None,
               keep_rules: Callable[[list[Question]], list[Question]] | None = None) -> tuple[list[Question], dict[str, Any]]:
    """The questions left after IBP, and the record of its rounds. With ``fit`` (the train split's
    questions), the random forest, the bag-of-words model, the per-subject prior and the frequency
    baseline fit on it are detectors too: on a set balanced as a whole, TsT folds see the opposite of their held-out
    imbalance and score below chance, while a model fit on other scenes finds the interactions that
    balancing each key alone leaves (a pair of categories, a sequence of turns). ``keep_rules(questions)`` re-applies rules
    that removals can upset (the count cap) after every round; a round that would take a task
    below ``min_per_task`` that way removes less."""
    from ..baselines import make_baseline
    from ..metrics import score_prediction
    from .blind import BLIND_MODELS

    cfg = config or PruneConfig()
    kept = list(questions)
    record: dict[str, Any] = {"config": {k: getattr(cfg, k) for k in cfg.__dataclass_fields__}, "rounds": [],
                              "detectors": [f"{m}_tst" for m in TST_DETECTORS]
                              + ([f"{m}_fit" for m in BLIND_MODELS] + ["prior_fit", "frequency_fit"] if fit else []),
                              "fit_questions": len(fit) if fit else 0}
    if not cfg.enabled or len({q.scene_id for q in kept}) < cfg.folds:
        record["skipped"] = "disabled" if not cfg.enabled else f"fewer than {cfg.folds} scenes"
        return kept, record
    fixed: dict[str, dict[str, tuple[float, float]]] = {}  # detector -> id -> (score, confidence)
    if fit:
        fit_types = {q.question_type for q in fit}
        ask = [q for q in kept if q.question_type in fit_types]
        for name, kind in BLIND_MODELS.items():
            model = kind(cfg.seed, cfg.trees) if name == "forest" else kind(cfg.seed)
            model.fit(fit)
            replies, conf = model.predict_with_confidence(ask)
            fixed[f"{name}_fit"] = {q.id: (score_prediction(q, a), c) for q, a, c in zip(ask, replies, conf)}
        prior = make_baseline("blind", fit)
        conf = prior.correct_probability(ask)
        fixed["prior_fit"] = {q.id: (score_prediction(q, prior.predict(q)), c) for q, c in zip(ask, conf)}
        frequency = make_baseline("frequency", fit)  # one reply per type: sure where it is right
        fixed["frequency_fit"] = {q.id: (s, s) for q in ask for s in [score_prediction(q, frequency.predict(q))]}
    tst: dict[str, dict[str, tuple[float, float]]] = {m: {} for m in TST_DETECTORS}  # id -> (score, confidence)
    stale = {q.question_type for q in kept}
    for r in range(cfg.max_rounds + 1):
        redo = [q for q in kept if q.question_type in stale]
        for name in TST_DETECTORS if redo else ():
            replies, conf = cross_validate(name, redo, cfg.folds, cfg.seed, with_confidence=True, trees=cfg.trees)
            tst[name].update({q.id: (score_prediction(q, a), c) for q, a, c in zip(redo, replies, conf)})
        detectors = {**{f"{m}_tst": table for m, table in tst.items()}, **fixed}
        types = [q.question_type for q in kept]
        ref = task_scores(types, reference_scores(kept, kept))
        tasks = defaultdict(list)
        for i, q in enumerate(kept):
            tasks[q.task].append(i)
        gaps = {}
        for name, table in detectors.items():
            have = [i for i, q in enumerate(kept) if q.id in table]
            scores = task_scores([types[i] for i in have], np.array([table[kept[i].id][0] for i in have]))
            gaps[name] = {t: scores[t] - ref[t] for t in tasks if t in scores}
        worst = {t: max(g.get(t, -1.0) for g in gaps.values()) for t in tasks}
        biased = [t for t in sorted(tasks) if worst[t] > cfg.tolerance and len(tasks[t]) > cfg.min_per_task]
        entry = {"round": r, "n": {t: len(v) for t, v in sorted(tasks.items())},
                 "gap": {name: {t: round(v, 4) for t, v in sorted(g.items())} for name, g in gaps.items()},
                 "reference": {t: round(ref[t], 4) for t in sorted(tasks)}, "removed": {}}
        record["rounds"].append(entry)
        if progress:
            shown = ", ".join(f"{t} {100 * worst[t]:+.1f}" for t in sorted(tasks))
            print(f"[prune] round {r}: {len(kept)} questions; worst blind - reference: {shown}", flush=True)
        if not biased or r == cfg.max_rounds:
            break
        drop: set[int] = set()
        sure_all: dict[int, float] = {}
        for t in biased:
            idx = tasks[t]
            sure = {i: max(table[kept[i].id][1] for name, table in detectors.items()
                           if kept[i].id in table and gaps[name].get(t, -1.0) > cfg.tolerance) for i in idx}
            sure_all.update(sure)
            k = min(int(np.ceil(cfg.fraction * len(idx))), len(idx) - cfg.min_per_task)
            drop.update(sorted(idx, key=lambda i: (-sure[i], kept[i].id))[:k])
            entry["removed"][t] = k
        after = _apply(kept, drop, keep_rules)
        for t in biased:  # the rules may remove more: give back this round's removals where a task falls short
            while sum(q.task == t for q in after) < cfg.min_per_task and entry["removed"][t] > 0:
                entry["removed"][t] -= 1
                give_back = max((i for i in drop if kept[i].task == t), key=lambda i: (-sure_all[i], kept[i].id))
                drop.discard(give_back)
                after = _apply(kept, drop, keep_rules)
        left_ids = {q.id for q in after}
        stale = {q.question_type for q in kept if q.id not in left_ids}
        kept = after
    return kept, record


def _apply(kept: list[Question], drop: set[int], keep_rules) -> list[Question]:
    left = [q for i, q in enumerate(kept) if i not in drop]
    return keep_rules(left) if keep_rules is not None else left


__all__ = ["PruneConfig", "prune_bias"]
