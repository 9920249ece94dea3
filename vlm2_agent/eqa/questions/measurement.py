"""VSI-Bench numerical types: ``object_counting``, ``object_abs_distance``, ``object_size_estimation``,
``room_size_estimation``. Templates are VSI-Bench's; answers in its units and rounding.

Rules:

* counting: categories with at least 1 *seen* instance; the answer is the number seen. The VSI wording
  "How many X(s) are in this room?" is used when the whole episode stays in one room and every
  instance of X in that room was seen; otherwise "How many X(s) are shown in this video?" (our
  apartments have several rooms, and "this room" would then be ambiguous).
* absolute distance: pairs of uniquely named seen objects, distance between the closest points of
  their boxes rounded to 0.1 m; pairs closer than ``min_pair_distance`` (0.2 m) are skipped.
* size: the longest box dimension of a uniquely named seen object, in centimetres (integer).
* room size: area of the room polygon in m^2 rounded to 0.1. If the whole episode stays in one room
  we ask VSI's "What is the size of this room (in square meters)?"; otherwise the room is named by a
  frame in which the camera stands in it, at least ``ROOM_EDGE_MARGIN`` (0.5 m) from its walls:
  "... the room the camera is in at frame k of T ...". The room's type is never named, since area
  follows the type (a bathroom is small). (VSI's ScanNet scenes are single rooms; we do not ask for
  an apartment's total area, which the video rarely shows in full.)

Example:
    >>> from .common import GenConfig
    >>> GenConfig().min_pair_distance
    0.2
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

from .common import Context, box_distance, frame_desc, shuffled, word

COUNT_ROOM = "How many {category}(s) are in this room?"
COUNT_VIDEO = "How many {category}(s) are shown in this video?"
SIZE = ("What is the length of the longest dimension (length, width, or height) of the {category}, "
        "measured in centimeters?")
ROOM_SIZE = ("What is the size of this room (in square meters)? "
             "If multiple rooms are shown, estimate the size of the combined space.")
FRAME_ROOM_SIZE = "What is the size of the room the camera is in at {frame} (in square meters)?"
ROOM_EDGE_MARGIN = 0.5  # m
ABS_DISTANCE = ("Measuring from the closest point of each object, what is the direct distance between "
                "the {object1} and the {object2} (in meters)?")


def _episode_room(ctx: Context):
    """The one room the agent stays in for the whole episode, or None."""
    rooms = {getattr(ctx.scene.room_at(float(x), float(z)), "room_id", None) for x, _, z in ctx.log.positions}
    if len(rooms) == 1 and None not in rooms:
        return next(r for r in ctx.scene.rooms if r.room_id in rooms)
    return None


def object_counting(ctx: Context, rng: np.random.Generator, limit: int) -> list:
    room = _episode_room(ctx)
    out = []
    for category, objs in shuffled(list(ctx.seen_by_category().items()), rng, ctx.cfg.max_candidates):
        if len(out) >= limit:
            break
        in_room = room is not None and all(o.room_id == room.room_id for o in objs) and len(objs) == sum(
            1 for o in ctx.scene.objects if o.category == category and o.room_id == room.room_id)
        text = (COUNT_ROOM if in_room else COUNT_VIDEO).format(category=word(category))
        ids = [o.instance_id for o in objs]
        out.append(ctx.question("object_counting", len(out), text, float(len(objs)), category=category,
                                instance_ids=ids, evidence_ids=ids))
    return out


def object_abs_distance(ctx: Context, rng: np.random.Generator, limit: int) -> list:
    out = []
    pairs = list(combinations(ctx.unique_seen(), 2))
    for a, b in shuffled(pairs, rng, ctx.cfg.max_candidates):
        if len(out) >= limit:
            break
        d = box_distance(a.box, b.box)
        if d < ctx.cfg.min_pair_distance:
            continue
        if rng.random() < 0.5:  # both orders are valid wordings; vary which comes first
            a, b = b, a
        text = ABS_DISTANCE.format(object1=word(a.category), object2=word(b.category))
        ids = [a.instance_id, b.instance_id]
        out.append(ctx.question("object_abs_distance", len(out), text, round(d, 1),
                                categories=[a.category, b.category], instance_ids=ids, evidence_ids=ids))
    return out


def object_size_estimation(ctx: Context, rng: np.random.Generator, limit: int) -> list:
    out = []
    for o in shuffled(ctx.unique_seen(), rng, ctx.cfg.max_candidates):
        if len(out) >= limit:
            break
        cm = round(float(np.max(o.box.axis_lengths)) * 100)
        if cm <= 0:
            continue
        out.append(ctx.question("object_size_estimation", len(out), SIZE.format(category=word(o.category)),
                                float(cm), category=o.category, instance_ids=[o.instance_id],
                                evidence_ids=[o.instance_id]))
    return out


def _room_frames(ctx: Context) -> dict[int, list[int]]:
    """room id -> frames in which the camera stands in that room (any distance from its walls)."""
    out: dict[int, list[int]] = {}
    for t, (x, _, z) in enumerate(ctx.log.positions):
        r = ctx.scene.room_at(float(x), float(z))
        if r is not None:
            out.setdefault(r.room_id, []).append(t)
    return out


def room_size_estimation(ctx: Context, rng: np.random.Generator, limit: int) -> list:
    from shapely.geometry import Point, Polygon

    room = _episode_room(ctx)
    T = ctx.log.num_frames
    if room is not None:
        area = round(room.area, 1)
        return [ctx.question("room_size_estimation", 0, ROOM_SIZE, area, room_id=room.room_id,
                             room_type=room.room_type, evidence_frames=[T - 1])] if area > 0 and limit > 0 else []
    frames_in = _room_frames(ctx)
    out = []
    for r in shuffled([r for r in ctx.scene.rooms if r.room_id in frames_in], rng, ctx.cfg.max_candidates):
        if len(out) >= limit:
            break
        area = round(r.area, 1)
        poly = Polygon(np.asarray(r.polygon, float))
        inner = [t for t in frames_in[r.room_id] if ctx.on_grid(t) and poly.exterior.distance(
            Point(float(ctx.log.positions[t, 0]), float(ctx.log.positions[t, 2]))) >= ROOM_EDGE_MARGIN]
        if area <= 0 or not inner:
            continue
        t = inner[int(rng.integers(len(inner)))]
        text = FRAME_ROOM_SIZE.format(frame=frame_desc(t, T))
        out.append(ctx.question("room_size_estimation", len(out), text, area, room_id=r.room_id,
                                room_type=r.room_type, frame=t,
                                evidence_frames=[t, max(frames_in[r.room_id])]))
    return out
