"""VSI-Bench numerical types: ``object_counting``, ``object_abs_distance``, ``object_size_estimation``,
``room_size_estimation``. Templates are VSI-Bench's; answers in its units and rounding.

Rules:

* counting: categories with at least 2 *seen* instances; the answer is the number seen. The VSI wording
  "How many X(s) are in this room?" is used when the whole episode stays in one room and every
  instance of X in that room was seen; otherwise "How many X(s) are shown in this video?" (our
  apartments have several rooms, and "this room" would then be ambiguous).
* absolute distance: pairs of uniquely named seen objects, distance between the closest points of
  their boxes rounded to 0.1 m; pairs closer than ``min_pair_distance`` (0.2 m) are skipped.
* size: the longest box dimension of a uniquely named seen object, in centimetres (integer).
* room size: area of the room polygon in m^2 rounded to 0.1. If the whole episode stays in one room
  we ask VSI's "What is the size of this room (in square meters)?"; otherwise we ask about each visited
  room whose type is unique in the scene: "What is the size of the <room type> (in square meters)?".
  "Visited" means the agent stood inside it in at least one frame. (VSI's ScanNet scenes are single
  rooms; we do not ask for an apartment's total area, which the video rarely shows in full.)

Example:
    >>> from .common import GenConfig
    >>> GenConfig().min_pair_distance
    0.2
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

from .common import Context, box_distance, shuffled

COUNT_ROOM = "How many {category}(s) are in this room?"
COUNT_VIDEO = "How many {category}(s) are shown in this video?"
SIZE = ("What is the length of the longest dimension (length, width, or height) of the {category}, "
        "measured in centimeters?")
ROOM_SIZE = ("What is the size of this room (in square meters)? "
             "If multiple rooms are shown, estimate the size of the combined space.")
NAMED_ROOM_SIZE = "What is the size of the {room} (in square meters)?"
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
        if len(objs) < 2:
            continue
        in_room = room is not None and all(o.room_id == room.room_id for o in objs) and len(objs) == sum(
            1 for o in ctx.scene.objects if o.category == category and o.room_id == room.room_id)
        text = (COUNT_ROOM if in_room else COUNT_VIDEO).format(category=category)
        out.append(ctx.question("object_counting", len(out), text, float(len(objs)), category=category,
                                instance_ids=[o.instance_id for o in objs]))
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
        text = ABS_DISTANCE.format(object1=a.category, object2=b.category)
        out.append(ctx.question("object_abs_distance", len(out), text, round(d, 1),
                                categories=[a.category, b.category], instance_ids=[a.instance_id, b.instance_id]))
    return out


def object_size_estimation(ctx: Context, rng: np.random.Generator, limit: int) -> list:
    out = []
    for o in shuffled(ctx.unique_seen(), rng, ctx.cfg.max_candidates):
        if len(out) >= limit:
            break
        cm = round(float(np.max(o.box.axis_lengths)) * 100)
        if cm <= 0:
            continue
        out.append(ctx.question("object_size_estimation", len(out), SIZE.format(category=o.category),
                                float(cm), category=o.category, instance_ids=[o.instance_id]))
    return out


def room_size_estimation(ctx: Context, rng: np.random.Generator, limit: int) -> list:
    room = _episode_room(ctx)
    if room is not None:
        area = round(room.area, 1)
        return [ctx.question("room_size_estimation", 0, ROOM_SIZE, area, room_id=room.room_id,
                             room_type=room.room_type)] if area > 0 and limit > 0 else []
    visited = {getattr(ctx.scene.room_at(float(x), float(z)), "room_id", None) for x, _, z in ctx.log.positions}
    type_counts: dict[str, int] = {}
    for r in ctx.scene.rooms:
        type_counts[r.room_type] = type_counts.get(r.room_type, 0) + 1
    rooms = [r for r in ctx.scene.rooms if r.room_id in visited and type_counts[r.room_type] == 1]
    out = []
    for r in shuffled(rooms, rng, ctx.cfg.max_candidates):
        if len(out) >= limit:
            break
        area = round(r.area, 1)
        if area <= 0:
            continue
        text = NAMED_ROOM_SIZE.format(room=r.room_type.replace("_", " "))
        out.append(ctx.question("room_size_estimation", len(out), text, area, room_id=r.room_id,
                                room_type=r.room_type))
    return out
