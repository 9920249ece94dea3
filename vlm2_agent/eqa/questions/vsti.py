"""VSTI-Bench (VLM-3R) types, with VLM-3R's templates and rules; frames are named "frame k of T"
(1-based, T = frames of the episode's video), and only frames on the ``frame_grid`` are named.

Camera positions are always the *camera centre*, the translation of the camera-to-world pose
(``EpisodeLog.camera_positions``), never the translation of the world-to-camera matrix, whose
value mixes in the rotation (the camera-centre bug of VLM-3R's VSTI erratum of 2026-07-13).

* ``camera_obj_abs_dist``: camera centre to the nearest point of a uniquely named object's box, in a
  frame where the object is seen; kept within ``camera_dist_range`` (0.5-10 m), rounded to 0.1 m.
* ``camera_displacement``: straight-line distance between the camera centres of two frames
  ``displacement_frames`` (16-160 steps) apart, kept within ``camera_dist_range``, rounded to 0.1 m.
* ``camera_movement_direction``: net displacement between two frames expressed in the first frame's
  camera axes; the dominant horizontal axis (forward/backward vs left/right) must move more than
  ``movement_min`` (1.0 m, VLM-3R's threshold for the 4-option form) and exceed the other axis by
  ``movement_dominance`` (1.5x, our addition against diagonal moves).
* ``obj_obj_relative_pos_{nf,lr,ud}``: two uniquely named objects seen in one frame, both at least
  0.5 m from the camera; box centres in camera axes; A is Near/Left/Up when its centre is nearer/
  lefter/higher than B's by ``relpos_margin`` (0.15 m), Far/Right/Down when the opposite holds by
  the same margin, else skipped.
* ``camera_obj_rel_dist_v{1,2,3}``: 4/3/2 uniquely named objects seen in one frame, all at least
  0.5 m from the camera; which is closest to the camera (nearest box point); any two distances at
  least ``relpos_margin`` (0.15 m) apart.

Example:
    >>> movement_label(np.array([0.1, 0.0, -1.2]), 1.0, 1.5)
    'Forward'
"""

from __future__ import annotations

from itertools import permutations

import numpy as np

from .common import Context, LetterBalancer, frame_desc, point_box_distance, shuffled, word, world_to_camera

CAM_OBJ_DIST = ("What is the approximate distance (in meters) between the camera (or the person filming) and "
                "the nearest point of the {obj} in {frame}?")
DISPLACEMENT = "Approximately how far (in meters) did the camera move between {start} and {end}?"
MOVEMENT = ("During the sequence between {start} and {end}, what was the primary consistent direction of the "
            "camera's movement relative to its orientation at the start? The options are {a}, {b}, {c}, and {d}.")
RELPOS = {
    "obj_obj_relative_pos_nf": ("In {frame}, relative to the camera, is the {a} [Near/Far] compared to the {b}?",
                                ("Near", "Far")),
    "obj_obj_relative_pos_lr": ("In {frame}, relative to the {b}, is the {a} to the [Left/Right]?", ("Left", "Right")),
    "obj_obj_relative_pos_ud": ("In {frame}, relative to the {b}, is the {a} to the [Up/Down]?", ("Up", "Down")),
}
REL_DIST = ("Measuring from the closest point of each object, which of these objects ({choices}) is the closest "
            "to the camera in {frame}?")
DIRECTIONS = ["Forward", "Backward", "Left", "Right"]


def movement_label(d_cam: np.ndarray, min_move: float, dominance: float) -> str | None:
    """Direction of an OpenGL-camera-frame displacement (x right, -z forward), or None if unclear."""
    right, fwd = float(d_cam[0]), float(-d_cam[2])
    big, small = max(abs(right), abs(fwd)), min(abs(right), abs(fwd))
    if big <= min_move or big < dominance * small:
        return None
    if abs(fwd) >= abs(right):
        return "Forward" if fwd > 0 else "Backward"
    return "Right" if right > 0 else "Left"


def _frame_objects(ctx: Context) -> list[tuple[int, list]]:
    """(grid frame, uniquely named objects seen in it at least ``camera_dist_range[0]`` from the
    camera) for grid frames showing any; computed once per context."""
    cached = getattr(ctx, "_frame_objects_cache", None)
    if cached is None:
        unique = {o.instance_id: o for o in ctx.unique_seen()}
        cams, near = ctx.log.camera_positions, ctx.cfg.camera_dist_range[0]
        cached = []
        for t in ctx.grid_frames():
            vis = ctx.log.visible[t]
            objs = sorted((unique[i] for i, n in vis.items() if i in unique and n >= ctx.min_pixels
                           and point_box_distance(cams[t], unique[i].box) >= near), key=lambda o: o.category)
            if objs:
                cached.append((t, objs))
        ctx._frame_objects_cache = cached
    return cached


def camera_obj_abs_dist(ctx: Context, rng: np.random.Generator, limit: int) -> list:
    lo, hi = ctx.cfg.camera_dist_range
    cands = [(t, o) for t, objs in _frame_objects(ctx) for o in objs]
    out, T, cams = [], ctx.log.num_frames, ctx.log.camera_positions
    for t, o in shuffled(cands, rng, ctx.cfg.max_candidates):
        if len(out) >= limit:
            break
        d = point_box_distance(cams[t], o.box)
        if not lo <= d <= hi:
            continue
        text = CAM_OBJ_DIST.format(obj=word(o.category), frame=frame_desc(t, T))
        out.append(ctx.question("camera_obj_abs_dist", len(out), text, round(d, 1), frame=t,
                                category=o.category, instance_ids=[o.instance_id],
                                evidence_ids=[o.instance_id], evidence_frames=[t]))
    return out


def _frame_pairs(ctx: Context, rng: np.random.Generator) -> list[tuple[int, int]]:
    """Up to ``max_candidates`` distinct random pairs of grid frames ``displacement_frames`` apart
    (sampled, not enumerated: episodes can run 10,000+ steps)."""
    grid = ctx.grid_frames()
    gmin, gmax = ctx.cfg.displacement_frames
    pairs: dict[tuple[int, int], None] = {}
    for _ in range(4 * ctx.cfg.max_candidates):
        if len(pairs) >= ctx.cfg.max_candidates or len(grid) < 2:
            break
        a, b = sorted(rng.choice(len(grid), 2, replace=False))
        i, j = grid[a], grid[b]
        if gmin <= j - i <= gmax:
            pairs[(int(i), int(j))] = None
    return list(pairs)


def camera_displacement(ctx: Context, rng: np.random.Generator, limit: int) -> list:
    lo, hi = ctx.cfg.camera_dist_range
    out, T, cams = [], ctx.log.num_frames, ctx.log.camera_positions
    for i, j in _frame_pairs(ctx, rng):
        if len(out) >= limit:
            break
        d = float(np.linalg.norm(cams[j] - cams[i]))
        if not lo <= d <= hi:
            continue
        text = DISPLACEMENT.format(start=frame_desc(i, T, False), end=frame_desc(j, T))
        out.append(ctx.question("camera_displacement", len(out), text, round(d, 1), frames=[i, j],
                                evidence_frames=[i, j]))
    return out


def camera_movement_direction(ctx: Context, rng: np.random.Generator, limit: int) -> list:
    bal, out, T = LetterBalancer(rng), [], ctx.log.num_frames
    c2w = ctx.log.camera_to_world.astype(np.float64)
    for i, j in _frame_pairs(ctx, rng):
        if len(out) >= limit:
            break
        d_cam = c2w[i, :3, :3].T @ (c2w[j, :3, 3] - c2w[i, :3, 3])
        gt = movement_label(d_cam, ctx.cfg.movement_min, ctx.cfg.movement_dominance)
        if gt is None:
            continue
        options, letter = bal.arrange(gt, [d for d in DIRECTIONS if d != gt])
        names = [o.split(". ", 1)[1] for o in options]
        text = MOVEMENT.format(start=frame_desc(i, T, False), end=frame_desc(j, T), a=names[0], b=names[1],
                               c=names[2], d=names[3])
        out.append(ctx.question("camera_movement_direction", len(out), text, letter, options, gt, frames=[i, j],
                                evidence_frames=[i, j]))
    return out


def relpos_label(qtype: str, ca: np.ndarray, cb: np.ndarray, m: float) -> str | None:
    """The answer for box centres ``ca``, ``cb`` in camera axes, or None within the margin ``m``."""
    # the first answer (Near / Left / Up) is A having the smaller value of: depth -z, x, or -y
    axis, sign = {"obj_obj_relative_pos_nf": (2, -1.0), "obj_obj_relative_pos_lr": (0, 1.0),
                  "obj_obj_relative_pos_ud": (1, -1.0)}[qtype]
    a, b = sign * float(ca[axis]), sign * float(cb[axis])
    first, second = RELPOS[qtype][1]
    if a + m < b:
        return first
    if a > b + m:
        return second
    return None


def _relpos(ctx: Context, qtype: str, rng: np.random.Generator, limit: int) -> list:
    template, choices = RELPOS[qtype]
    bal, out, T = LetterBalancer(rng), [], ctx.log.num_frames
    cands = [(t, a, b) for t, objs in _frame_objects(ctx) for a, b in permutations(objs, 2)]
    for t, a, b in shuffled(cands, rng, ctx.cfg.max_candidates):
        if len(out) >= limit:
            break
        c2w = ctx.log.camera_to_world[t]
        ca, cb = world_to_camera(c2w, np.stack([a.box.center, b.box.center]))
        if ca[2] >= 0 or cb[2] >= 0:
            continue  # a centre behind the camera
        gt = relpos_label(qtype, ca, cb, ctx.cfg.relpos_margin)
        if gt is None:
            continue
        options, letter = bal.arrange(gt, [c for c in choices if c != gt])
        text = template.format(frame=frame_desc(t, T), a=word(a.category), b=word(b.category))
        ids = [a.instance_id, b.instance_id]
        out.append(ctx.question(qtype, len(out), text, letter, options, gt, frame=t,
                                categories=[a.category, b.category], instance_ids=ids,
                                evidence_ids=ids, evidence_frames=[t]))
    return out


def obj_obj_relative_pos_nf(ctx, rng, limit):
    return _relpos(ctx, "obj_obj_relative_pos_nf", rng, limit)


def obj_obj_relative_pos_lr(ctx, rng, limit):
    return _relpos(ctx, "obj_obj_relative_pos_lr", rng, limit)


def obj_obj_relative_pos_ud(ctx, rng, limit):
    return _relpos(ctx, "obj_obj_relative_pos_ud", rng, limit)


def _rel_dist(ctx: Context, qtype: str, n: int, rng: np.random.Generator, limit: int) -> list:
    bal, out, T, cams = LetterBalancer(rng), [], ctx.log.num_frames, ctx.log.camera_positions
    frames = [(t, objs) for t, objs in _frame_objects(ctx) if len(objs) >= n]
    tried = set()
    for _ in range(ctx.cfg.max_candidates if frames else 0):
        if len(out) >= limit:
            break
        t, objs = frames[int(rng.integers(len(frames)))]
        pick = tuple(sorted(objs[i].instance_id for i in rng.choice(len(objs), n, replace=False)))
        if (t, pick) in tried:
            continue
        tried.add((t, pick))
        chosen = [o for o in objs if o.instance_id in pick]
        d = {o.category: point_box_distance(cams[t], o.box) for o in chosen}
        ranked = sorted(d, key=d.get)
        if min(np.diff([d[c] for c in ranked])) < ctx.cfg.relpos_margin:
            continue
        options, letter = bal.arrange(word(ranked[0]), [word(c) for c in ranked[1:]])
        names = ", ".join(o.split(". ", 1)[1] for o in options)
        text = REL_DIST.format(choices=names, frame=frame_desc(t, T))
        ids = [o.instance_id for o in chosen]
        out.append(ctx.question(qtype, len(out), text, letter, options, word(ranked[0]), frame=t,
                                categories=sorted(d), distances={c: round(v, 3) for c, v in d.items()},
                                evidence_ids=ids, evidence_frames=[t]))
    return out


def camera_obj_rel_dist_v1(ctx, rng, limit):
    return _rel_dist(ctx, "camera_obj_rel_dist_v1", 4, rng, limit)


def camera_obj_rel_dist_v2(ctx, rng, limit):
    return _rel_dist(ctx, "camera_obj_rel_dist_v2", 3, rng, limit)


def camera_obj_rel_dist_v3(ctx, rng, limit):
    return _rel_dist(ctx, "camera_obj_rel_dist_v3", 2, rng, limit)
