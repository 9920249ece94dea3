"""VSI-Bench ``route_planning``, in a documented simplified form.

VSI-Bench's routes were written by annotators; here a route is a chain of uniquely named seen objects
``[start, waypoint..., destination]`` walked in straight legs between box centres. The robot starts at
the start object facing the ``facing`` object. Before each leg it turns from its current heading to
the leg's direction: less than 45 degrees is "go forward" (no blank), 45-135 degrees is a left or
right turn, at least 135 degrees is "turn back" (VSI's definition of back). Turns within
``route_turn_margin_deg`` (15) of 45 or 135 degrees are ambiguous and the route is skipped, as are legs
shorter than ``route_min_leg`` (0.5 m). A route has ``route_moves`` (2-5) actions, turns and forward
legs together (VSI-Bench's routes of 2-5 moves), and at least two turns to fill in, so that it has
4 options (3 turns give only 3 answers to a single blank).

Waypoints: with ``path_fn(a, b) -> [(x, z), ...]`` (the simulator's geodesic shortest path), the
waypoints are the uniquely named seen objects within 0.75 m of that path, in path order (at most 2).
Without it (fallback) the route goes straight to the destination through at most one intermediate
object drawn at random. The question text and options follow VSI-Bench's form:
"1. [please fill in] 2. Go forward until the X. ... You have reached the final destination." with
options such as "A. Turn Left, Turn Right"; the wrong options are other sequences drawn with the
odds each turn has of being right (``TURN_PRIOR``).

Example:
    >>> turn_label(90.0, 15.0), turn_label(-170.0, 15.0), turn_label(10.0, 15.0), turn_label(50.0, 15.0)
    ('Turn Left', 'Turn Back', 'forward', None)
"""

from __future__ import annotations

from itertools import permutations, product

import numpy as np

from .common import Context, LetterBalancer, floor_angle, shuffled, word

ROUTE = ("You are a robot beginning at the {start} facing the {facing}. You want to navigate to the {dest}. "
         "You will perform the following actions (Note: for each [please fill in], choose either "
         "'turn back,' 'turn left,' or 'turn right.'): {actions} You have reached the final destination.")
TURNS = ("Turn Back", "Turn Left", "Turn Right")
# How often each turn answers a blank, measured on v2 route candidates (first turns: left 37 %, right
# 44 %, back 19 %; left and right pooled). Wrong options are drawn with these odds, so that a
# sequence is offered about as often as it is right: uniform distractors made "Turn Back, Turn Back"
# a giveaway wrong answer.
TURN_PRIOR = {"Turn Back": 0.2, "Turn Left": 0.4, "Turn Right": 0.4}
NEAR_PATH = 0.75  # m


def turn_label(a: float, margin: float) -> str | None:
    """'forward', 'Turn Left'/'Turn Right'/'Turn Back', or None when within ``margin`` of a boundary."""
    m = abs(a)
    if abs(m - 45.0) < margin or abs(m - 135.0) < margin:
        return None
    if m < 45.0:
        return "forward"
    if m >= 135.0:
        return "Turn Back"
    return "Turn Left" if a > 0 else "Turn Right"


def _seg_dist(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Distance from 2-D point p to segment ab, and the segment parameter of the nearest point."""
    ab = b - a
    t = float(np.clip(np.dot(p - a, ab) / max(np.dot(ab, ab), 1e-12), 0.0, 1.0))
    return float(np.linalg.norm(p - (a + t * ab))), t


def _path_waypoints(ctx: Context, start, dest, exclude: set[int]) -> list:
    path = np.asarray(ctx.path_fn(np.asarray(start.box.center), np.asarray(dest.box.center)), float)
    if path.ndim != 2 or path.shape[1] != 2 or len(path) < 2:
        raise ValueError(f"path_fn must return a list of at least 2 (x, z) points, got shape {path.shape}")
    seg_len = np.linalg.norm(np.diff(path, axis=0), axis=1)
    cum = np.concatenate([[0.0], np.cumsum(seg_len)])
    found = []
    for o in ctx.unique_seen():
        if o.instance_id in exclude:
            continue
        p = np.asarray(o.box.center, float)[[0, 2]]
        best = min((_seg_dist(p, path[i], path[i + 1]) + (i,) for i in range(len(path) - 1)), key=lambda r: r[0])
        d, t, i = best
        s = cum[i] + t * seg_len[i]
        if d <= NEAR_PATH and 0.0 < s < cum[-1]:
            found.append((s, o))
    return [o for _, o in sorted(found, key=lambda r: r[0])][:2]


def _describe(route, facing, margin: float, min_leg: float) -> tuple[str, list[str]] | None:
    heading = np.asarray(facing.box.center, float) - np.asarray(route[0].box.center, float)
    steps, turns = [], []
    for a, b in zip(route[:-1], route[1:]):
        leg = np.asarray(b.box.center, float) - np.asarray(a.box.center, float)
        if np.hypot(leg[0], leg[2]) < min_leg:
            return None
        label = turn_label(floor_angle(heading, leg), margin)
        if label is None:
            return None
        if label != "forward":
            steps.append("[please fill in]")
            turns.append(label)
        steps.append(f"Go forward until the {word(b.category)}.")
        heading = leg
    if not turns:
        return None
    actions = " ".join(f"{i}. {s}" for i, s in enumerate(steps, 1))
    return actions, turns


def route_planning(ctx: Context, rng: np.random.Generator, limit: int) -> list:
    cfg, bal, out = ctx.cfg, LetterBalancer(rng), []
    objs = ctx.unique_seen()
    for start, facing, dest in shuffled(list(permutations(objs, 3)), rng, cfg.max_candidates):
        if len(out) >= limit:
            break
        used = {start.instance_id, facing.instance_id, dest.instance_id}
        if ctx.path_fn is not None:
            mids = _path_waypoints(ctx, start, dest, used)
        else:
            extra = [o for o in objs if o.instance_id not in used]
            mids = [extra[int(rng.integers(len(extra)))]] if extra and rng.random() < 0.5 else []
        desc = _describe([start, *mids, dest], facing, cfg.route_turn_margin_deg, cfg.route_min_leg)
        if desc is None:
            continue
        actions, turns = desc
        moves = len(turns) + len(mids) + 1  # turns to fill in plus forward legs
        if len(turns) < 2 or not cfg.route_moves[0] <= moves <= cfg.route_moves[1]:
            continue
        correct = ", ".join(turns)
        combos = [c for c in product(TURNS, repeat=len(turns)) if ", ".join(c) != correct]
        odds = np.array([np.prod([TURN_PRIOR[t] for t in c]) for c in combos])
        pick = sorted(rng.choice(len(combos), min(3, len(combos)), replace=False, p=odds / odds.sum()))
        wrong = [", ".join(combos[i]) for i in pick]
        options, letter = bal.arrange(correct, wrong)
        text = ROUTE.format(start=word(start.category), facing=word(facing.category), dest=word(dest.category),
                            actions=actions)
        route = [start, *mids, dest]
        out.append(ctx.question("route_planning", len(out), text, letter, options, correct,
                                route=[o.category for o in route], facing=facing.category, turns=turns,
                                used_path_fn=ctx.path_fn is not None,
                                evidence_ids=[o.instance_id for o in (*route, facing)]))
    return out
