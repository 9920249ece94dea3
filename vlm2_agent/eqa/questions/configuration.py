"""VSI-Bench configurational types: ``object_rel_distance``, ``object_rel_direction_{easy,medium,hard}``.

Relative direction follows VSI-Bench: standing at the centre of the positioning object, facing the
orienting object's centre, where is the querying object's centre (on the floor plane)? Levels:
hard = quadrant (front-left, front-right, back-left, back-right); medium = left / right / back, where
back means a turn of at least 135 degrees; easy = left or right of the orienting object, asked only
outside the back sector (135-225 degrees), as VLM-3R's generator does.
Skip rules: all three objects uniquely named and seen; each pair's box distance within
``direction_dist_range`` (0.3-5 m, as the public generator); the angle at least ``direction_margin_deg``
(10 degrees, the public threshold, applied here on both sides of every boundary) from a boundary;
and at most 2 of the querying box's 8 corners on a different side than its centre (public rule).

Relative distance: "which of these objects (a, b, c, d) is the closest to the X?", X uniquely named,
choices are 4 other seen categories measured to their closest seen instance (closest box points);
skipped when any two choices' distances are within ``rel_distance_margin`` (0.15 m), or
``rel_distance_margin_large_room`` (0.30 m) when the X stands in a room over ``large_room_area``
(40 m^2) (VSI-Bench, appendix B.1).

Example:
    >>> hard_label(30.0), hard_label(-100.0), medium_label(140.0), easy_label(-5.0)
    ('front-left', 'back-right', 'back', 'right')
"""

from __future__ import annotations

from itertools import permutations

import numpy as np

from .common import Context, LetterBalancer, box_distance, floor_angle, shuffled, word

REL_DISTANCE = ("Measuring from the closest point of each object, which of these objects ({choices}) is the "
                "closest to the {category}?\nIf there are multiple instances of an object category, "
                "measure to the closest.")
DIR_HARD = ("If I am standing by the {pos} and facing the {ori}, is the {query} to my front-left, front-right, "
            "back-left, or back-right?\nThe directions refer to the quadrants of a Cartesian plane (if I am "
            "standing at the origin and facing along the positive y-axis).")
DIR_MEDIUM = ("If I am standing by the {pos} and facing the {ori}, is the {query} to my left, right, or back?\n"
              "An object is to my back if I would have to turn at least 135 degrees in order to face it.")
DIR_EASY = "If I am standing by the {pos} and facing the {ori}, is the {query} to the left or the right of the {ori}?"

HARD_OPTIONS = ["front-left", "front-right", "back-left", "back-right"]


def hard_label(a: float) -> str:
    a = a % 360.0  # counter-clockwise from straight ahead
    return ["front-left", "back-left", "back-right", "front-right"][int(a // 90) % 4]


def medium_label(a: float) -> str:
    return "back" if abs(a) >= 135.0 else ("left" if a > 0 else "right")


def easy_label(a: float) -> str:
    return "left" if a > 0 else "right"


def _boundary_gap(a: float, level: str) -> float:
    """Angular distance (degrees) from ``a`` to the nearest decision boundary of a level."""
    bounds = {"hard": [0, 90, 180, 270, 360], "medium": [0, 135, 225, 360], "easy": [0, 180, 360]}[level]
    a = a % 360.0
    return min(abs(a - b) for b in bounds)


LEVELS = {
    "object_rel_direction_hard": ("hard", hard_label, DIR_HARD, HARD_OPTIONS),
    "object_rel_direction_medium": ("medium", medium_label, DIR_MEDIUM, ["left", "right", "back"]),
    "object_rel_direction_easy": ("easy", easy_label, DIR_EASY, ["left", "right"]),
}


def _direction(ctx: Context, qtype: str, rng: np.random.Generator, limit: int) -> list:
    level, label, template, all_options = LEVELS[qtype]
    cfg, bal, out = ctx.cfg, LetterBalancer(rng), []
    lo, hi = cfg.direction_dist_range
    dist_cache: dict[tuple[int, int], float] = {}

    def dist(a, b) -> float:
        key = tuple(sorted((a.instance_id, b.instance_id)))
        if key not in dist_cache:
            dist_cache[key] = box_distance(a.box, b.box)
        return dist_cache[key]

    triples = list(permutations(ctx.unique_seen(), 3))
    for pos, ori, query in shuffled(triples, rng, cfg.max_candidates):
        if len(out) >= limit:
            break
        if not all(lo <= dist(a, b) <= hi for a, b in ((pos, ori), (pos, query), (ori, query))):
            continue
        p = np.asarray(pos.box.center, float)
        heading = np.asarray(ori.box.center, float) - p
        a = floor_angle(heading, np.asarray(query.box.center, float) - p)
        if _boundary_gap(a, level) < cfg.direction_margin_deg:
            continue
        if level == "easy" and abs(a) >= 135.0:
            continue  # behind the viewer: neither left nor right of the orienting object
        gt = label(a)
        corner_labels = [label(floor_angle(heading, c - p)) for c in query.box.corners()]
        if sum(c != gt for c in corner_labels) > 2:
            continue
        options, letter = bal.arrange(gt, [o for o in all_options if o != gt])
        text = template.format(pos=word(pos.category), ori=word(ori.category), query=word(query.category))
        ids = [pos.instance_id, ori.instance_id, query.instance_id]
        out.append(ctx.question(qtype, len(out), text, letter, options, gt, angle_deg=round(a, 2),
                                categories=[pos.category, ori.category, query.category],
                                instance_ids=ids, evidence_ids=ids))
    return out


def object_rel_direction_easy(ctx, rng, limit):
    return _direction(ctx, "object_rel_direction_easy", rng, limit)


def object_rel_direction_medium(ctx, rng, limit):
    return _direction(ctx, "object_rel_direction_medium", rng, limit)


def object_rel_direction_hard(ctx, rng, limit):
    return _direction(ctx, "object_rel_direction_hard", rng, limit)


def object_rel_distance(ctx: Context, rng: np.random.Generator, limit: int) -> list:
    cfg, bal, out, tried = ctx.cfg, LetterBalancer(rng), [], set()
    targets, by_cat = ctx.unique_seen(), ctx.seen_by_category()
    for _ in range(cfg.max_candidates):
        if len(out) >= limit or not targets:
            break
        target = targets[int(rng.integers(len(targets)))]
        others = [c for c in by_cat if c != target.category]
        if len(others) < 4:
            break
        choice = tuple(sorted(others[i] for i in rng.choice(len(others), 4, replace=False)))
        if (target.category, choice) in tried:
            continue
        tried.add((target.category, choice))
        nearest = {c: min(by_cat[c], key=lambda o: box_distance(target.box, o.box)) for c in choice}
        d = {c: box_distance(target.box, o.box) for c, o in nearest.items()}
        ranked = sorted(choice, key=lambda c: d[c])
        margin = cfg.rel_distance_margin
        room = next((r for r in ctx.scene.rooms if r.room_id == target.room_id), None)
        if room is not None and room.area > cfg.large_room_area:
            margin = cfg.rel_distance_margin_large_room
        if min(np.diff([d[c] for c in ranked])) < margin:
            continue
        options, letter = bal.arrange(word(ranked[0]), [word(c) for c in ranked[1:]])
        names = ", ".join(o.split(". ", 1)[1] for o in options)
        text = REL_DISTANCE.format(choices=names, category=word(target.category))
        ids = [target.instance_id, *(nearest[c].instance_id for c in choice)]
        out.append(ctx.question("object_rel_distance", len(out), text, letter, options, word(ranked[0]),
                                category=target.category, choices=list(choice),
                                distances={c: round(v, 3) for c, v in d.items()}, evidence_ids=ids))
    return out
