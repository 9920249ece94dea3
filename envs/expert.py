"""The exploration expert: a tour through every room and past every object, with looks around.

The tour visits rooms in a depth-first order of the room graph (rooms linked by doorways, nearest
neighbour first), walks to each room's centre along the nav grid's shortest path (so through the
doorways), turns a full circle there, then walks toward each object's nearest navigable point and
turns to face it. The oracle shortest-path follower turns the waypoints into actions on a dry run
of the agent's kinematics (no rendering), so the plan is exact: the env replays it step by step.

A scene without room annotations (a bare Habitat stage) gets a coverage tour instead: waypoints
1.5 m apart over the largest navigable component, walked nearest first, with a look-around every
few waypoints (:func:`coverage_points`).

Budgets: the richest plan that fits is used, dropping detail in this order: object visits, the
full circle (half a circle instead), then the looks; a tour still too long is cut at the budget.
When a full tour is shorter than the budget, further laps in new random room orders follow, so a
10,000-step episode keeps walking.

Example:
    >>> import gymnasium as gym, envs
    >>> env = gym.make("VLM2/Explore-v0", tour="short", sensors=("pose",), sim={"resolution": (16, 16)})
    >>> _ = env.reset(seed=0)
    >>> 0 < len(env.unwrapped.tour) <= 200
    True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from envs.agent import MOVE_FORWARD, STOP, TURN_LEFT, TURN_RIGHT  # noqa: F401  (the tour's action ids)

MIN_LAP_STEPS = 40  # a lap shorter than this is not worth starting
COVERAGE_SPACING = 1.5  # metres between the waypoints of a tour of a scene without rooms
LOOK_EVERY = 4  # coverage waypoints between two look-arounds


@dataclass(frozen=True)
class Detail:
    objects: bool
    look_turns: int  # turns of a look-around at a room centre (36 = full circle at 10 degrees)


LEVELS = (Detail(True, 36), Detail(False, 36), Detail(False, 18), Detail(False, 0))


def room_order(scene, start_room: int | None, rng: np.random.Generator | None = None) -> list[int]:
    """Depth-first order of the room graph from ``start_room``; neighbours nearest first (random
    order with ``rng``). Rooms not linked by doorways follow in order of distance.

    >>> import numpy as np
    >>> from scenes.types import Doorway, Room, Scene
    >>> sq = lambda x: np.array([[x, 0], [x + 3, 0], [x + 3, 3], [x, 3]], float)
    >>> rooms = [Room(i, "room", sq(3 * i), 2.5) for i in range(3)]
    >>> doors = [Doorway(0, 1, np.array([3.0, 1.5]), 0.9, "z"), Doorway(1, 2, np.array([6.0, 1.5]), 0.9, "z")]
    >>> room_order(Scene("s", [], rooms=rooms, doorways=doors), start_room=1)
    [1, 0, 2]
    """
    ids = [r.room_id for r in scene.rooms]
    if not ids:
        return []
    centers = {r.room_id: np.asarray(r.center)[[0, 2]] for r in scene.rooms}
    adj: dict[int, set[int]] = {i: set() for i in ids}
    for d in scene.doorways:
        if d.room_a in adj and d.room_b in adj:
            adj[d.room_a].add(d.room_b)
            adj[d.room_b].add(d.room_a)
    start = start_room if start_room in adj else ids[0]
    order: list[int] = []
    seen: set[int] = set()

    def neighbours(r: int, pool) -> list[int]:
        cand = sorted(pool)
        if rng is not None:
            return [cand[i] for i in rng.permutation(len(cand))]
        return sorted(cand, key=lambda n: (float(np.linalg.norm(centers[n] - centers[r])), n))

    stack = [start]
    while len(order) < len(ids):
        if not stack:  # a room cut off from the graph: continue from the nearest unvisited one
            last = order[-1]
            stack = [neighbours(last, set(ids) - seen)[0]]
        r = stack.pop()
        if r in seen:
            continue
        seen.add(r)
        order.append(r)
        stack.extend(reversed([n for n in neighbours(r, adj[r]) if n not in seen]))
    return order


def plan_tour(env, budget: int, rng: np.random.Generator) -> list[int]:
    """Actions of a tour from ``env``'s current pose (a ``VLM2NavEnv`` after reset), at most ``budget``."""
    from envs.gym.explore import room_id_at

    base = env.unwrapped if hasattr(env, "unwrapped") else env
    if base.scene.rooms:
        order = room_order(base.scene, room_id_at(base.world, base.position))
        plan = lambda level: _waypoints(base, order, level)  # noqa: E731
        lap_plan = lambda pos: _waypoints(base, room_order(base.scene, room_id_at(base.world, pos), rng), LEVELS[0])  # noqa: E731
    else:  # a scene without room annotations (a bare stage): cover its navigable floor instead
        points = coverage_points(base.navgrid)
        plan = lambda level: _coverage_items(points, base.position, level)  # noqa: E731
        lap_plan = lambda pos: _coverage_items(points, pos, LEVELS[0], rng)  # noqa: E731
    for level in LEVELS:
        actions, _ = _rollout(base, plan(level), base.position, base.heading, budget)
        if actions is not None:
            break
    else:  # even the plainest tour is too long: cut it at the budget
        actions, _ = _rollout(base, plan(LEVELS[-1]), base.position, base.heading, budget, allow_cut=True)
    pos, head = _replay(base, actions)
    while budget - len(actions) >= MIN_LAP_STEPS:
        more, (pos, head) = _rollout(base, lap_plan(pos), pos, head, budget - len(actions), allow_cut=True)
        if not more:
            break
        actions += more
    return actions[:budget]


def coverage_points(navgrid, spacing: float = COVERAGE_SPACING) -> np.ndarray:
    """Points (K, 3) that cover the largest navigable component: the navigable cell nearest the
    centre of each ``spacing``-metre square the component reaches into."""
    cells = navgrid.largest_component_cells
    if len(cells) == 0:
        return np.zeros((0, 3))
    world = navgrid.grid_to_world(cells)
    bins = np.floor(world[:, [0, 2]] / spacing).astype(np.int64)
    centres = (bins + 0.5) * spacing
    dist = np.hypot(*(world[:, [0, 2]] - centres).T)
    order = np.lexsort((dist, bins[:, 1], bins[:, 0]))
    _, first = np.unique(bins[order], axis=0, return_index=True)
    return world[order[first]]


def _coverage_items(points: np.ndarray, start, level: Detail, rng: np.random.Generator | None = None):
    """A nearest-neighbour walk over ``points`` from ``start`` (from a random point with ``rng``),
    a look-around every ``LOOK_EVERY`` points."""
    left = [p for p in points]
    here = np.asarray(points[rng.integers(len(points))] if rng is not None and len(points) else start, float)
    items: list[tuple[str, np.ndarray | int]] = []
    for k in range(len(left)):
        i = int(np.argmin([np.hypot(p[0] - here[0], p[2] - here[2]) for p in left]))
        here = left.pop(i)
        items.append(("goto", here))
        if level.look_turns and k % LOOK_EVERY == 0:
            items.append(("look", level.look_turns))
    return items


def _waypoints(base, order: list[int], level: Detail) -> list[tuple[str, np.ndarray | int]]:
    """The plan as ("goto", point) / ("look", turns) / ("face", point) items."""
    rooms = {r.room_id: r for r in base.scene.rooms}
    items: list[tuple[str, np.ndarray | int]] = []
    for rid in order:
        centre = base._snap(np.asarray(rooms[rid].center, float))
        items.append(("goto", centre))
        if level.look_turns:
            items.append(("look", level.look_turns))
        if level.objects:
            objs = [o for o in base.scene.objects if o.room_id == rid]
            here = centre
            while objs:  # nearest-neighbour tour over the room's objects
                objs.sort(key=lambda o: float(np.linalg.norm(np.asarray(o.box.center)[[0, 2]] - here[[0, 2]])))
                obj = objs.pop(0)
                target = base._snap(np.asarray(obj.box.center, float))
                items += [("goto", target), ("face", np.asarray(obj.box.center, float))]
                here = target
    return items


def _turns_to_face(position, heading: float, point, turn_deg: float) -> list[int]:
    d = np.asarray(point, float) - np.asarray(position, float)
    if np.hypot(d[0], d[2]) < 1e-6:
        return []
    want = np.arctan2(-d[0], -d[2])
    err = (want - heading + np.pi) % (2 * np.pi) - np.pi
    n = int(round(abs(np.degrees(err)) / turn_deg))
    return [TURN_LEFT if err > 0 else TURN_RIGHT] * n


def _rollout(base, items, position, heading, budget: int, allow_cut: bool = False):
    """Dry-run the items with the follower; returns (actions, final pose) or (None, None) if over
    budget and not ``allow_cut``."""
    pos, head = np.asarray(position, float).copy(), float(heading)
    actions: list[int] = []
    for kind, arg in items:
        if kind == "goto":
            acts = base._follow(pos, head, arg)
        elif kind == "look":
            acts = [TURN_LEFT] * int(arg)
        else:
            acts = _turns_to_face(pos, head, arg, base._turn_deg())
        for a in acts:
            if len(actions) >= budget:
                return (actions, (pos, head)) if allow_cut else (None, None)
            pos, head, _ = base._simulate(pos, head, a)
            actions.append(a)
    return actions, (pos, head)


def _replay(base, actions):
    pos, head = np.asarray(base.position, float).copy(), float(base.heading)
    for a in actions:
        pos, head, _ = base._simulate(pos, head, a)
    return pos, head
