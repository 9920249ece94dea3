"""Apartment floor plans: rectangular rooms that tile a rectangle, and doorways between them.

Two plan families, both guillotine partitions of one outer rectangle (so shared walls are straight):

- a *corridor* plan: a hallway strip runs along the apartment; the other rooms line both sides;
- a *treemap* plan: the rectangle is split recursively, each cut dividing the remaining rooms into
  two groups of similar area (slice along the longer side), so rooms keep their target areas.

Doorways sit on shared walls; a random spanning tree over the adjacency graph (preferring doors
into the hallway and living room) guarantees every room is reachable, with a few extra openings.

Example:
    >>> import numpy as np
    >>> plan = make_plan(np.random.default_rng(0), 4)
    >>> len(plan.rects), len(plan.doorways) >= 3
    (4, True)
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from scenes.catalog import ROOM_AREA, ROOM_MIN_SIDE
from scenes.types import Doorway

Rect = tuple[float, float, float, float]  # x0, z0, x1, z1
EPS = 1e-6


@dataclass(frozen=True)
class PlanSpec:
    """Geometry parameters of floor plans (metres)."""

    wall_thickness: float = 0.1
    door_width: tuple[float, float] = (0.8, 1.0)
    opening_width: tuple[float, float] = (1.2, 1.6)  # open passages between living/dining/kitchen
    door_margin: float = 0.2  # door edge to wall corner
    hallway_width: tuple[float, float] = (1.1, 1.5)
    max_aspect: float = 2.6  # longest/shortest side of a room (hallways excepted)
    extra_door_prob: float = 0.35


@dataclass(frozen=True)
class Plan:
    """A floor plan: room types and rectangles (same order, index = room id) and doorways."""

    room_types: list[str]
    rects: list[Rect]
    doorways: list[Doorway]


def choose_room_types(rng: np.random.Generator, n: int) -> list[str]:
    """Room types for an ``n``-room apartment (2-7): a living room and a bathroom always."""
    if not 2 <= n <= 7:
        raise ValueError(f"num_rooms: expected 2..7, got {n}")
    types = ["living_room", "bathroom"]
    if n >= 3:
        types.append("bedroom")
    if n >= 4:
        types.append("kitchen" if rng.random() < 0.85 else "office")
    if n >= 5:
        types.append("hallway" if rng.random() < 0.75 else "bedroom")
    while len(types) < n:
        pool = ["bedroom", "office", "dining_room"] + (["kitchen"] if "kitchen" not in types else [])
        if "dining_room" in types:
            pool.remove("dining_room")
        types.append(str(rng.choice(pool)))
    return types


def _bipartitions(n: int):
    for r in range(1, n // 2 + 1):
        for left in itertools.combinations(range(n), r):
            yield list(left), [i for i in range(n) if i not in left]


def _treemap(rng: np.random.Generator, rect: Rect, items: list[int], areas: np.ndarray, out: dict) -> None:
    if len(items) == 1:
        out[items[0]] = rect
        return
    x0, z0, x1, z1 = rect
    total = areas[items].sum()
    best, best_score = None, np.inf
    for left, right in _bipartitions(len(items)):
        a, b = [items[i] for i in left], [items[i] for i in right]
        frac = areas[a].sum() / total
        score = abs(frac - 0.5) + 0.15 * rng.random()  # noise: varied plans with similar balance
        if score < best_score:
            best, best_score = (a, b, frac), score
    a, b, frac = best
    if rng.random() < 0.5:
        a, b, frac = b, a, 1 - frac
    if x1 - x0 >= z1 - z0:
        xm = x0 + frac * (x1 - x0)
        _treemap(rng, (x0, z0, xm, z1), a, areas, out)
        _treemap(rng, (xm, z0, x1, z1), b, areas, out)
    else:
        zm = z0 + frac * (z1 - z0)
        _treemap(rng, (x0, z0, x1, zm), a, areas, out)
        _treemap(rng, (x0, zm, x1, z1), b, areas, out)


def _treemap_plan(rng: np.random.Generator, types: list[str]) -> list[Rect]:
    areas = np.array([rng.uniform(*ROOM_AREA[t]) for t in types])
    aspect = rng.uniform(1.0, 1.6)
    depth = float(np.sqrt(areas.sum() / aspect))
    out: dict[int, Rect] = {}
    _treemap(rng, (0.0, 0.0, aspect * depth, depth), list(range(len(types))), areas, out)
    return [out[i] for i in range(len(types))]


def _corridor_plan(rng: np.random.Generator, types: list[str], spec: PlanSpec) -> list[Rect]:
    others = [i for i, t in enumerate(types) if t != "hallway"]
    hall = types.index("hallway")
    areas = np.array([rng.uniform(*ROOM_AREA[t]) if t != "hallway" else 0.0 for t in types])
    best, best_score = None, np.inf
    for left, right in _bipartitions(len(others)):
        a, b = [others[i] for i in left], [others[i] for i in right]
        score = abs(areas[a].sum() - areas[b].sum()) * (1 + 0.3 * rng.random())
        if score < best_score:
            best, best_score = (a, b), score
    side_a, side_b = best
    length = max(areas[side_a].sum(), areas[side_b].sum()) / rng.uniform(3.5, 5.0)
    hw = rng.uniform(*spec.hallway_width)
    rects: dict[int, Rect] = {}
    da, db = areas[side_a].sum() / length, areas[side_b].sum() / length
    for side, z0, z1 in ((side_a, 0.0, da), (side_b, da + hw, da + hw + db)):
        order = list(rng.permutation(side))
        x = 0.0
        for i in order:
            w = areas[i] / (z1 - z0)
            rects[i] = (x, z0, x + w, z1)
            x += w
    rects[hall] = (0.0, da, length, da + hw)
    return [rects[i] for i in range(len(types))]


def _valid(types: list[str], rects: list[Rect], spec: PlanSpec) -> bool:
    for t, (x0, z0, x1, z1) in zip(types, rects):
        short, long = sorted((x1 - x0, z1 - z0))
        if short < ROOM_MIN_SIDE[t]:
            return False
        if t != "hallway" and long / short > spec.max_aspect:
            return False
    return True


def shared_wall(a: Rect, b: Rect) -> tuple[str, float, float, float] | None:
    """The wall two rectangles share: (axis, line coordinate, lo, hi) along the axis, or None.

    ``axis`` is the direction the wall runs: "z" for a wall on a line x = c, "x" for z = c.
    """
    for (lo_a, hi_a), (lo_b, hi_b), axis, (s0, s1), (t0, t1) in (
        ((a[0], a[2]), (b[0], b[2]), "z", (a[1], a[3]), (b[1], b[3])),
        ((a[1], a[3]), (b[1], b[3]), "x", (a[0], a[2]), (b[0], b[2])),
    ):
        for line_a, line_b in ((hi_a, lo_b), (lo_a, hi_b)):
            if abs(line_a - line_b) < EPS:
                lo, hi = max(s0, t0), min(s1, t1)
                if hi - lo > EPS:
                    return axis, line_a, lo, hi
    return None


def _edge_weight(rng: np.random.Generator, ta: str, tb: str) -> float:
    hubs = {"hallway", "living_room"}
    w = rng.random()
    if not ({ta, tb} & hubs):
        w += 2.0
    if "bathroom" in (ta, tb):
        other = tb if ta == "bathroom" else ta
        w += {"hallway": 0.0, "living_room": 0.5, "bedroom": 1.5}.get(other, 4.0)
    if {ta, tb} in ({"kitchen", "dining_room"}, {"living_room", "dining_room"}):
        w -= 0.5
    return w


def _door(rng: np.random.Generator, a: int, b: int, wall, types: list[str], spec: PlanSpec):
    axis, line, lo, hi = wall
    open_plan = {types[a], types[b]} <= {"living_room", "dining_room", "kitchen"}
    width = rng.uniform(*(spec.opening_width if open_plan else spec.door_width))
    room = hi - lo - 2 * (spec.door_margin + spec.wall_thickness / 2)
    if room < spec.door_width[0]:
        return None
    width = min(width, room)
    low, high = lo + (hi - lo - room) / 2 + width / 2, hi - (hi - lo - room) / 2 - width / 2
    c = rng.uniform(low, max(low, high))  # a door as wide as the room: equal bounds, up to rounding
    c, width = round(float(c), 3), round(float(width), 2)
    center = np.array([c, line]) if axis == "x" else np.array([line, c])
    return Doorway(room_a=a, room_b=b, center=center, width=width, axis=axis)


def _doorways(rng: np.random.Generator, types: list[str], rects: list[Rect], spec: PlanSpec):
    n = len(types)
    edges = []
    for a, b in itertools.combinations(range(n), 2):
        wall = shared_wall(rects[a], rects[b])
        if wall is not None:
            edges.append((_edge_weight(rng, types[a], types[b]), a, b, wall))
    edges.sort(key=lambda e: e[0])
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    doors: list[Doorway] = []
    for w, a, b, wall in edges:
        tree_edge = find(a) != find(b)
        extra = (not tree_edge and "bathroom" not in (types[a], types[b])
                 and w < 2.0 and rng.random() < spec.extra_door_prob)
        if tree_edge or extra:
            door = _door(rng, a, b, wall, types, spec)
            if door is not None:
                doors.append(door)
                parent[find(a)] = find(b)
    if len({find(i) for i in range(n)}) != 1:
        return None
    return doors


def _private_pass_through(types: list[str], doors: list[Doorway]) -> bool:
    """True if some bedroom or bathroom is the only way into another room (an unrealistic plan)."""
    for cut, t in enumerate(types):
        if t not in ("bedroom", "bathroom"):
            continue
        rest = [i for i in range(len(types)) if i != cut]
        seen, todo = {rest[0]}, [rest[0]]
        while todo:
            i = todo.pop()
            for d in doors:
                for a, b in ((d.room_a, d.room_b), (d.room_b, d.room_a)):
                    if a == i and b != cut and b not in seen:
                        seen.add(b)
                        todo.append(b)
        if len(seen) < len(rest):
            return True
    return False


def make_plan(rng: np.random.Generator, num_rooms: int, spec: PlanSpec | None = None,
              max_tries: int = 200) -> Plan:
    """A connected floor plan with ``num_rooms`` rooms; deterministic given ``rng``'s state."""
    spec = spec or PlanSpec()
    types = choose_room_types(rng, num_rooms)
    for attempt in range(max_tries):
        if "hallway" in types:
            rects = _corridor_plan(rng, types, spec)
        else:
            rects = _treemap_plan(rng, types)
        if not _valid(types, rects, spec):
            continue
        # Round corners to the centimetre: the files store 4 decimals and walls must still meet.
        rects = [tuple(float(round(v, 2)) for v in r) for r in rects]
        doors = _doorways(rng, types, rects, spec)
        if doors is not None and (attempt >= max_tries // 2 or not _private_pass_through(types, doors)):
            return Plan(room_types=types, rects=rects, doorways=doors)
    raise RuntimeError(f"no valid {num_rooms}-room plan for types {types} in {max_tries} tries")
