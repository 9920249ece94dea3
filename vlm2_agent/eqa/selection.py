"""Answer-balanced selection of a split's questions from the generators' over-generated candidates.

A blind model reads only the question text and options. So for every question type we name what
the text reveals (the type, the categories in their roles, the frame gap, ...) as *keys*, and what
the answer says as a *class* (the option text, a count, a value bin, the rank of a category in an
appearance order, whether an offered category is the right one). The selection keeps, for every key,
the classes at their target shares: a candidate is accepted only while each of its cells
``(key, class)`` stays within ``share * (n_key + 1) + slack``. Greedy passes over the candidates
(rarest answer classes first, in a seeded random order within a class) run until nothing more fits. A category that always comes with the same answer
(a TV is always above a rug) then contributes about ``slack`` questions instead of hundreds.

Numbers without a category prior: size and distance questions whose answer is within
``typical_margin`` (15 %) of the category's (or category pair's) median in the pool are dropped, as
VSI-Bench-Debiased does; numerical answers are spread over ``value_bins`` quantile bins of the type,
and for every category (and frame gap) the text names, half of its answers lie above and half below
that category's median. Counts: no value (1, 2, ..., 5, 6+) above 20 % of the type, and per
category a third each below, at and above its median count.

Example:
    >>> from vlm2_agent.eqa.question import Question
    >>> qs = [Question(id=str(i), scene_id="s", episode_id="e", question_type="object_rel_direction_easy",
    ...                question="?", ground_truth="A", frame_range=(0, 8), fps=4.0,
    ...                options=["A. left", "B. right"], answer="left",
    ...                meta={"categories": ["sofa", "tv", "lamp"]}) for i in range(10)]
    >>> len(select_balanced(qs))  # all "left" for the same categories: its share of 1 + the slack
    2
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import numpy as np

from .question import Question
from .tasks import QUESTION_TYPES, task_of

Cell = tuple[tuple, str, float]  # (key, class, target share)

COUNT_CLASSES = ("1", "2", "3", "4", "5", "6+")
MAX_COUNT_SHARE = 0.2


@dataclass(frozen=True)
class SelectionConfig:
    """``slack``: questions a cell may hold beyond its share; ``value_bins``: quantile bins of a
    numerical type's answers; ``typical_margin``: relative distance to the category's median under
    which size / distance questions are dropped; ``max_per_task``: questions a task keeps at most,
    shared equally by its question types (None: no cap); ``attempts``: greedy selections from different
    random orders, the largest kept; ``seed``: the order candidates are offered in."""

    slack: int = 1
    value_bins: int = 5
    typical_margin: float = 0.15
    max_per_task: int | None = 1000
    attempts: int = 4
    seed: int = 0

    def __post_init__(self) -> None:
        if self.slack < 1:
            raise ValueError(f"selection.slack: expected an int >= 1, got {self.slack}")
        if self.value_bins < 2:
            raise ValueError(f"selection.value_bins: expected >= 2, got {self.value_bins}")
        if self.max_per_task is not None and self.max_per_task < 1:
            raise ValueError(f"selection.max_per_task: expected a positive int or null, got {self.max_per_task}")
        if not 0 <= self.typical_margin < 1:
            raise ValueError(f"selection.typical_margin: expected a fraction in [0, 1), got {self.typical_margin}")


def _bins(values: Sequence[float], n: int) -> Callable[[float], str]:
    edges = np.unique(np.quantile(np.asarray(values, float), np.linspace(0, 1, n + 1)[1:-1]))
    return lambda v: f"bin{int(np.searchsorted(edges, v, side='right'))}"


def _mc_cells(q: Question, roles: dict[str, str]) -> list[Cell]:
    n = len(q.options)
    cells: list[Cell] = [(("type",), q.answer, 1.0 / n)]
    cells += [((role, cat), q.answer, 1.0 / n) for role, cat in roles.items()]
    return cells


def _offered_cells(q: Question, target: str | None = None) -> list[Cell]:
    """For types whose options are picked from a vocabulary (categories, turn sequences): every
    offered option is right 1 time in n, overall and (with ``target``) for the category asked about."""
    n = len(q.options)
    cells: list[Cell] = []
    for t in (o.split(". ", 1)[1] for o in q.options):
        right = t == q.answer
        cls, share = ("correct", 1.0 / n) if right else ("wrong", (n - 1) / n)
        cells.append((("offered", t), cls, share))
        if target is not None:
            cells.append((("offered", target, t), cls, share))
    return cells


def subject_keys(q: Question) -> list[tuple]:
    """What the text of a numerical question reveals about its answer: its categories and, for
    frame pairs, the size of the frame gap (a log2 bin)."""
    m, keys = q.meta, []
    if "category" in m:
        keys.append(("cat", m["category"]))
    if "categories" in m:
        keys += [("cat", c) for c in m["categories"]]
    if "frames" in m and len(m["frames"]) == 2:
        keys.append(("gap", int(np.log2(max(m["frames"][1] - m["frames"][0], 1)))))
    return keys


def _relative(v: float, median: float, three_way: bool) -> str:
    if three_way and v == median:
        return "at"
    return "above" if v > median else "below"


def cells_of(q: Question, value_bin: Callable[[float], str] | None = None, value_bins: int = 5,
             medians: dict[tuple, float] | None = None) -> list[Cell]:
    """The (key, class, share) cells a question occupies (see the module docstring); every
    multiple-choice question also keeps its correct letter at 1 in n."""
    cells = _content_cells(q, value_bin, value_bins, medians)
    if not q.is_numerical:
        cells.append((("letter",), q.ground_truth, 1.0 / len(q.options)))
    return cells


def _content_cells(q: Question, value_bin: Callable[[float], str] | None, value_bins: int,
                   medians: dict[tuple, float] | None) -> list[Cell]:
    """Numerical answers: the type's value bin (counts: the value, each at most 20%), and for every
    subject key whether the answer is above or below (counts: also at) that subject's median."""
    t, m = q.question_type, q.meta
    if q.is_numerical:
        v = float(q.ground_truth)
        if t == "object_counting":
            cells: list[Cell] = [(("type",), COUNT_CLASSES[min(int(v), 6) - 1], MAX_COUNT_SHARE)]
        else:
            cells = [(("type",), value_bin(v), 1.0 / value_bins)]
        three = t == "object_counting"
        for k in subject_keys(q):
            if medians is not None and k in medians:
                cells.append((k, _relative(v, medians[k], three), 1 / 3 if three else 0.5))
        return cells
    if t.startswith("object_rel_direction"):
        pos, ori, query = m["categories"]
        return _mc_cells(q, {"pos": pos, "ori": ori, "query": query})
    if t == "object_rel_distance":
        return _offered_cells(q, target=m["category"])
    if t.startswith("camera_obj_rel_dist"):
        return _offered_cells(q)
    if t.startswith("obj_obj_relative_pos"):
        a, b = m["categories"]
        first = q.answer in ("Near", "Left", "Up")
        side = a if first else b  # the category on the Near / Left / Up side
        return _mc_cells(q, {"A": a, "B": b}) + [(("pair", *sorted((a, b))), side, 0.5)]
    if t == "obj_appearance_order":
        order = m["categories"]
        return [(("rank", c), str(i), 0.25) for i, c in enumerate(order)] + [(("type",), q.answer, 1.0)]
    if t == "route_planning":
        turns = m["turns"]
        # (the prior of whole sequences is left to bias pruning: balancing each offered sequence
        # against its odds of being right kept under 5 % of the candidates)
        return [(("first",), turns[0], 1 / 3), (("last",), turns[-1], 1 / 3),
                (("start", m["route"][0]), turns[0], 1 / 3)]
    if t == "camera_movement_direction":
        gap = m["frames"][1] - m["frames"][0]
        return [(("type",), q.answer, 0.25), (("gap", int(np.log2(max(gap, 1)))), q.answer, 0.25)]
    raise ValueError(f"cells_of: no balancing rule for question type {t!r}")


def _typical_drop(qs: list[Question], margin: float) -> list[Question]:
    """Drop size / distance questions within ``margin`` of their category's (pair's) pool median."""
    if margin <= 0:
        return qs
    groups: dict[tuple, list[float]] = defaultdict(list)
    for q in qs:
        groups[_subject_of(q)].append(float(q.ground_truth))
    keep = []
    for q in qs:
        vals = groups[_subject_of(q)]
        if len(vals) >= 3:
            typical = float(np.median(vals))
            if abs(typical - float(q.ground_truth)) <= margin * float(q.ground_truth):
                continue
        keep.append(q)
    return keep


TYPICAL_VALUE_TYPES = ("object_size_estimation", "object_abs_distance", "camera_obj_abs_dist")


def select_balanced(candidates: Iterable[Question], config: SelectionConfig | None = None) -> list[Question]:
    """The answer-balanced subset of ``candidates`` (each type on its own), in candidate order."""
    cfg = config or SelectionConfig()
    by_type: dict[str, list[Question]] = defaultdict(list)
    order = list(candidates)
    for q in order:
        by_type[q.question_type].append(q)
    chosen: set[str] = set()
    for qtype, qs in by_type.items():
        cap = None
        if cfg.max_per_task is not None:
            siblings = [t for t in QUESTION_TYPES if task_of(t) == task_of(qtype)]
            cap = -(-cfg.max_per_task // len(siblings))
        qs = sorted(qs, key=lambda q: q.id)  # the result depends on the candidates, not their order
        if qtype in TYPICAL_VALUE_TYPES:
            qs = _typical_drop(qs, cfg.typical_margin)
        value_bin, medians = None, None
        if qs and qs[0].is_numerical:
            value_bin = _bins([float(q.ground_truth) for q in qs], cfg.value_bins)
            by_key: dict[tuple, list[float]] = defaultdict(list)
            for q in qs:
                for k in subject_keys(q):
                    by_key[k].append(float(q.ground_truth))
            medians = {k: float(np.median(v)) for k, v in by_key.items()}
        cells = [cells_of(q, value_bin, cfg.value_bins, medians) for q in qs]
        best: set[str] = set()
        for attempt in range(cfg.attempts):
            picked = _greedy(qs, cells, cap, cfg, [cfg.seed, attempt, len(qs), sum(map(ord, qtype))])
            if len(picked) > len(best):
                best = picked
        chosen |= best
        if qtype == "object_counting":
            _trim_counts([q for q in qs if q.id in chosen], chosen)
    return [q for q in order if q.id in chosen]


def _greedy(qs: list[Question], cells: list[list[Cell]], cap: int | None, cfg: SelectionConfig,
            seed: list[int]) -> set[str]:
    """One greedy selection: passes over the candidates until nothing more fits (or ``cap``)."""
    # rarest answer classes first, random within a class: a pass that met the common classes first
    # would fill their shares before the rare ones that make room for them arrive (only a class that
    # says nothing about the letter: "is option A right" must not set the order)
    tiebreak = np.random.default_rng(seed).permutation(len(qs))
    main = [next((c for k, c, _ in cs if k in (("type",), ("first",))), "") for cs in cells]
    rarity = Counter(main)
    pending = sorted(range(len(qs)), key=lambda i: (rarity[main[i]], tiebreak[i]))
    counts: dict[tuple, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    totals: dict[tuple, int] = defaultdict(int)
    chosen: set[str] = set()
    changed = True
    while changed and pending and (cap is None or len(chosen) < cap):
        changed, left = False, []
        for i in pending:
            if cap is not None and len(chosen) >= cap:
                break
            if all(counts[k][c] + 1 <= share * (totals[k] + 1) + cfg.slack for k, c, share in cells[i]):
                for k, c, _ in cells[i]:
                    counts[k][c] += 1
                for k in {k for k, _, _ in cells[i]}:
                    totals[k] += 1
                chosen.add(qs[i].id)
                changed = True
            else:
                left.append(i)
        pending = left
    return chosen


def enforce_count_cap(questions: list[Question]) -> list[Question]:
    """``questions`` with counting questions of over-represented values dropped (the last in
    order) until no count class is above ``MAX_COUNT_SHARE``; bias pruning can upset the cap."""
    chosen = {q.id for q in questions}
    _trim_counts([q for q in questions if q.question_type == "object_counting"], chosen)
    return [q for q in questions if q.id in chosen]


def _trim_counts(kept: list[Question], chosen: set[str]) -> None:
    """Drop questions of the most frequent count class (the last in candidate order) until none is above
    ``MAX_COUNT_SHARE`` (the greedy pass allows ``slack`` more)."""
    classes: dict[str, list[Question]] = defaultdict(list)
    for q in kept:
        classes[COUNT_CLASSES[min(int(q.ground_truth), 6) - 1]].append(q)
    n = len(kept)
    while n and max(len(v) for v in classes.values()) > MAX_COUNT_SHARE * n:
        top = max(classes.values(), key=len)
        chosen.discard(top.pop().id)
        n -= 1




#: Answer vocabularies of the multiple-choice types whose options are fixed words.
FIXED_ANSWERS = {
    "object_rel_direction_easy": ("left", "right"),
    "object_rel_direction_medium": ("left", "right", "back"),
    "object_rel_direction_hard": ("front-left", "front-right", "back-left", "back-right"),
    "camera_movement_direction": ("Forward", "Backward", "Left", "Right"),
    "obj_obj_relative_pos_nf": ("Near", "Far"),
    "obj_obj_relative_pos_lr": ("Left", "Right"),
    "obj_obj_relative_pos_ud": ("Up", "Down"),
}
MARGIN_TYPES = {"object_rel_distance": 0.15, "camera_obj_rel_dist_v1": 0.15, "camera_obj_rel_dist_v2": 0.15,
                "camera_obj_rel_dist_v3": 0.15}


def balance_problems(questions: Iterable[Question], max_count_share: float = 0.2, share_tolerance: float = 0.05,
                     typical_margin: float = 0.15, min_questions: int = 30,
                     reference: Iterable[Question] | None = None) -> list[str]:
    """What a biased benchmark shows, one line per problem (empty: none found). Checked per type
    with at least ``min_questions``: a count value above ``max_count_share`` of the answers; an answer
    word of a fixed-vocabulary type, or a correct letter, above its fair share by more than
    ``share_tolerance``; size and
    distance answers within ``typical_margin`` of their category's median in ``reference`` (the
    candidate pool; default the questions themselves); option distances closer than the public margins."""
    by_type: dict[str, list[Question]] = defaultdict(list)
    for q in questions:
        by_type[q.question_type].append(q)
    ref_groups: dict[tuple, list[float]] = defaultdict(list)
    for q in (reference if reference is not None else [q for v in by_type.values() for q in v]):
        if q.question_type in TYPICAL_VALUE_TYPES:
            ref_groups[(q.question_type, *_subject_of(q))].append(float(q.ground_truth))
    out = []
    for t, qs in sorted(by_type.items()):
        if len(qs) < min_questions:
            continue
        if t == "object_counting":
            values, counts = np.unique([q.ground_truth for q in qs], return_counts=True)
            i = int(np.argmax(counts))
            if counts[i] / len(qs) > max_count_share:
                out.append(f"{t}: the count {values[i]:g} is {100 * counts[i] / len(qs):.0f}% of {len(qs)} answers "
                           f"(at most {100 * max_count_share:.0f}%)")
        if t in FIXED_ANSWERS:
            vocab = FIXED_ANSWERS[t]
            for word in vocab:
                share = sum(q.answer == word for q in qs) / len(qs)
                if share > 1 / len(vocab) + share_tolerance:
                    out.append(f"{t}: '{word}' answers {100 * share:.0f}% of {len(qs)} questions "
                               f"(fair share {100 / len(vocab):.0f}%)")
        if not qs[0].is_numerical:
            letters = Counter(q.ground_truth for q in qs)
            fair = float(np.mean([1 / len(q.options) for q in qs]))
            letter, n = letters.most_common(1)[0]
            if n / len(qs) > fair + share_tolerance:
                out.append(f"{t}: the correct letter is {letter} in {100 * n / len(qs):.0f}% of {len(qs)} questions "
                           f"(fair share {100 * fair:.0f}%)")
        if t in TYPICAL_VALUE_TYPES:
            near = 0
            for q in qs:
                vals = ref_groups.get((t, *_subject_of(q)), [])
                if len(vals) >= 3 and abs(float(np.median(vals)) - float(q.ground_truth)) <= typical_margin * float(q.ground_truth):
                    near += 1
            if near:
                out.append(f"{t}: {near} of {len(qs)} answers within {100 * typical_margin:.0f}% of their "
                           "category's typical value")
        if t in MARGIN_TYPES:
            close = sum(1 for q in qs if "distances" in q.meta and len(q.meta["distances"]) > 1
                        and min(np.diff(sorted(q.meta["distances"].values()))) < MARGIN_TYPES[t] - 1e-3)
            if close:
                out.append(f"{t}: {close} of {len(qs)} questions have two options within {MARGIN_TYPES[t]} m")
    return out


def _subject_of(q: Question) -> tuple:
    m = q.meta
    return tuple(sorted(m["categories"])) if "categories" in m else (m.get("category"),)


__all__ = ["COUNT_CLASSES", "FIXED_ANSWERS", "SelectionConfig", "balance_problems", "cells_of", "enforce_count_cap",
           "select_balanced",
           "subject_keys"]
