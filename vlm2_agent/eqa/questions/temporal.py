"""VSI-Bench ``obj_appearance_order``: the order in which 4 categories are first seen in the video.

A category's first sighting is the first frame in which any of its instances is seen (its evidence:
the age is counted from the earliest of the four first sightings; see the
visibility rule in :mod:`.common`). The 4 categories' first sightings must be at least
``appearance_min_gap_s`` (1 s of video) apart, so the order is unambiguous. Options are the correct
order and 3 other distinct permutations, written "A. door, table, basket, blanket" as in VSI-Bench.

Example:
    >>> APPEARANCE.format(choices="sofa, tv, bed, sink")
    'What will be the first-time appearance order of the following categories in the video: sofa, tv, bed, sink?'
"""

from __future__ import annotations

import numpy as np

from .common import Context, LetterBalancer, word

APPEARANCE = "What will be the first-time appearance order of the following categories in the video: {choices}?"


def obj_appearance_order(ctx: Context, rng: np.random.Generator, limit: int) -> list:
    first = {c: min(ctx.first_seen[o.instance_id] for o in objs) for c, objs in ctx.seen_by_category().items()}
    cats = sorted(first)
    gap = ctx.cfg.appearance_min_gap_s * ctx.log.fps
    bal, out, tried = LetterBalancer(rng), [], set()
    if len(cats) < 4:
        return out
    for _ in range(ctx.cfg.max_candidates):
        if len(out) >= limit:
            break
        pick = tuple(sorted(cats[i] for i in rng.choice(len(cats), 4, replace=False)))
        if pick in tried:
            continue
        tried.add(pick)
        order = sorted(pick, key=lambda c: first[c])
        frames = [first[c] for c in order]
        if min(np.diff(frames)) < gap:
            continue
        correct = ", ".join(word(c) for c in order)
        wrong: list[str] = []
        while len(wrong) < 3:
            perm = ", ".join(word(order[i]) for i in rng.permutation(4))
            if perm != correct and perm not in wrong:
                wrong.append(perm)
        options, letter = bal.arrange(correct, wrong)
        shown = [pick[i] for i in rng.permutation(4)]  # the question lists them in a random order
        text = APPEARANCE.format(choices=", ".join(word(c) for c in shown))
        out.append(ctx.question("obj_appearance_order", len(out), text, letter, options, correct,
                                categories=list(order), first_seen_frames=dict(zip(order, frames)),
                                evidence_frames=frames))
    return out
