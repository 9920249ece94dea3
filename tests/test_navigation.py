"""Navigation grid, agent kinematics, measures and the oracle follower on hand-built scenes.

The reference room is 6 m x 4 m (x in [0, 6], z in [0, 4]) with 0.1 m thick outer walls and an
interior wall at x = 3 (0.1 m thick) running from z = 0 to z = 3, leaving a 1 m gap at z in [3, 4].
Known answers come from plane geometry: the grid keeps every point of a navigable cell at least
``agent_radius`` from geometry, so its corners are the wall corners pushed out by
``clearance = agent_radius + cell_size / sqrt(2)``.
"""

from __future__ import annotations

import numpy as np
import pytest

from envs.agent import Action, AgentKinematics
from envs.measures import NavigationMeasures, evaluate_path, soft_spl, spl
from envs.navigation import NavGrid
from envs.oracle import ShortestPathFollower
from envs.simulator import AgentState
from scenes.types import MeshPart, OrientedBox, Scene

CELL, RADIUS = 0.05, 0.1
CLEARANCE = RADIUS + CELL * np.sqrt(0.5)


def box(name: str, lo, hi) -> MeshPart:
    """A closed axis-aligned box with outward-facing triangles."""
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    v = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])], np.float32)
    quads = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    faces = [tri for a, b, c, d in quads for tri in ((a, b, c), (a, c, d))]
    return MeshPart(name, v, np.array(faces, np.uint32))


def floor_quad(x0, z0, x1, z1, y=0.0) -> MeshPart:
    v = np.array([[x0, y, z0], [x1, y, z0], [x1, y, z1], [x0, y, z1]], np.float32)
    return MeshPart("floor", v, np.array([[0, 2, 1], [0, 3, 2]], np.uint32))  # faces +Y


def walls_around(x0, z0, x1, z1, t=0.1, h=2.5) -> list[tuple]:
    """(lo, hi) boxes of four walls enclosing [x0, x1] x [z0, z1] from outside."""
    return [([x0 - t, 0, z0 - t], [x1 + t, h, z0]), ([x0 - t, 0, z1], [x1 + t, h, z1 + t]),
            ([x0 - t, 0, z0], [x0, h, z1]), ([x1, 0, z0], [x1 + t, h, z1])]


ROOM_WALLS = walls_around(0, 0, 6, 4) + [([2.95, 0, 0], [3.05, 2.5, 3.0])]


def room_scene(extra: list[MeshPart] = (), walls=ROOM_WALLS) -> Scene:
    meshes = [floor_quad(-0.1, -0.1, 6.1, 4.1)] + [box(f"wall{i}", lo, hi) for i, (lo, hi) in enumerate(walls)]
    return Scene("room", meshes + list(extra))


@pytest.fixture(scope="module")
def grid() -> NavGrid:
    return NavGrid.from_scene(room_scene(), cell_size=CELL, agent_radius=RADIUS)


def p3(x, z) -> np.ndarray:
    return np.array([x, 0.0, z])


def dist_to_boxes(xz: np.ndarray, walls) -> np.ndarray:
    """Exact distance from points (N, 2) to the (x, z) footprints of axis-aligned wall boxes."""
    out = np.full(len(xz), np.inf)
    for lo, hi in walls:
        dx = np.maximum.reduce([lo[0] - xz[:, 0], np.zeros(len(xz)), xz[:, 0] - hi[0]])
        dz = np.maximum.reduce([lo[2] - xz[:, 1], np.zeros(len(xz)), xz[:, 1] - hi[2]])
        out = np.minimum(out, np.hypot(dx, dz))
    return out


def test_grid_floor_obstacles_and_conversions(grid):
    assert grid.floor_height == pytest.approx(0.0, abs=1e-6)
    assert grid.is_navigable(p3(1.5, 2.0)) and grid.is_navigable(p3(3.0, 3.5))  # room and the gap
    assert not grid.is_navigable(p3(3.0, 1.0))  # inside the interior wall
    assert not grid.is_navigable(p3(3.0 + 0.05 + CLEARANCE - 0.04, 1.0))  # too close to it
    assert grid.is_navigable(p3(3.0 + 0.05 + CLEARANCE + 0.04, 1.0))
    assert not grid.is_navigable(p3(-1.0, 1.0))  # off the grid
    cells = grid.world_to_grid(np.array([[1.5, 0, 2.0], [4.2, 0, 0.7]]))
    back = grid.grid_to_world(cells)
    assert np.all(np.abs(back[:, [0, 2]] - [[1.5, 2.0], [4.2, 0.7]]) <= CELL / 2 + 1e-9)
    img = grid.to_image(path=np.array([[1.0, 0, 1.0], [2.0, 0, 2.0]]), points=p3(1, 1)[None])
    assert img.shape == grid.shape + (3,) and img.dtype == np.uint8


def test_rug_walkable_table_blocks_lamp_above_head_does_not(grid):
    rug = box("rug", [0.5, 0, 0.5], [1.5, 0.01, 1.5])
    table = box("table", [4.0, 0, 0.5], [5.0, 0.75, 1.5])
    lamp = box("lamp", [1.0, 1.8, 3.0], [1.6, 2.0, 3.6])  # hangs above agent_height 1.5
    # a sloped panel from y=-1 to y=3 crossing the body slab only over x in [4.25, 4.75]
    slope = MeshPart("slope", np.array([[4.0, -1.0, 2.5], [5.0, 3.0, 2.5], [5.0, 3.0, 2.7]], np.float32),
                     np.array([[0, 1, 2]], np.uint32))
    g = NavGrid.from_scene(room_scene([rug, table, lamp, slope]), cell_size=CELL, agent_radius=RADIUS)
    assert g.floor_height == pytest.approx(0.0, abs=1e-6)
    assert g.is_navigable(p3(1.0, 1.0))  # on the rug
    assert not g.is_navigable(p3(4.5, 1.0))  # under / on the table: not floor, blocked
    assert g.is_navigable(p3(1.3, 3.3))  # under the lamp
    # slab [0.2, 1.5] is crossed for x in [4.3, 4.625]: blocked there, free beside it
    assert not g.is_navigable(p3(4.45, 2.6))
    assert g.is_navigable(p3(4.05, 2.6)) and g.is_navigable(p3(4.95, 2.6))


def test_geodesic_around_wall_matches_hand_computation(grid):
    a, b = p3(1.5, 1.0), p3(4.5, 2.5)
    # taut string: a -> left corner of the wall end -> right corner -> b, corners pushed out by clearance
    c0, c1 = np.array([2.95 - CLEARANCE, 3.0 + CLEARANCE]), np.array([3.05 + CLEARANCE, 3.0 + CLEARANCE])
    hand = np.linalg.norm(c0 - [1.5, 1.0]) + np.linalg.norm(c1 - c0) + np.linalg.norm([4.5, 2.5] - c1)
    assert grid.geodesic_distance(a, b) == pytest.approx(hand, abs=2 * CELL)
    path = grid.shortest_path(a, b)
    assert np.allclose(path[0], a) and np.allclose(path[-1], b)
    assert np.linalg.norm(np.diff(path[:, [0, 2]], axis=0), axis=1).sum() == pytest.approx(hand, abs=2 * CELL)
    assert grid.navigable_at(path).all()
    # in line of sight the distance is exactly Euclidean, and symmetric-ish around the wall
    assert grid.geodesic_distance(p3(1.0, 1.0), p3(2.0, 2.0)) == pytest.approx(np.sqrt(2))
    assert grid.geodesic_distance(b, a) == pytest.approx(grid.geodesic_distance(a, b), abs=2 * CELL)


def test_a_distance_field_solved_to_a_limit_is_the_full_one_within_it_and_grows_on_demand(grid):
    from dataclasses import replace

    goal = p3(1.5, 1.0)
    fresh = replace(grid, _fields=type(grid._fields)())  # same grid, empty field cache
    full = grid.distance_field(goal[None])
    near = fresh.distance_field(goal[None], limit=2.0)
    inside = np.isfinite(near)
    assert inside.any() and not inside.all()
    assert np.array_equal(near[inside], full[inside]) and (full[~inside] > 2.0).all()
    # beyond the limit, the shortest path around the wall (about 4.5 m) solves the rest of the field
    far = p3(4.5, 2.5)
    assert fresh.geodesic_distance(far, goal) == grid.geodesic_distance(far, goal) > 2.0
    assert np.array_equal(fresh.distance_field(goal[None]), full)
    assert np.array_equal(fresh.shortest_path(far, goal), grid.shortest_path(far, goal))


def test_pointnav_episodes_are_those_of_full_distance_fields(monkeypatch):
    import gymnasium as gym

    import envs  # noqa: F401
    import envs.gym.pointnav as pointnav

    def play(margin):
        monkeypatch.setattr(pointnav, "_FIELD_MARGIN", margin)
        env = gym.make("VLM2/PointNav-v0", sensors=("depth",), sim={"resolution": (8, 8)}, num_scenes=2,
                       config={"max_episode_steps": 40})
        rows, rng = [], np.random.default_rng(0)
        for seed in range(4):
            obs, info = env.reset(seed=seed)
            rows.append((obs["pointgoal_with_gps_compass"], info["distance_to_goal"]))
            for a in rng.integers(1, 4, 40):
                obs, r, term, trunc, info = env.step(int(a))
                rows.append((obs["pointgoal_with_gps_compass"], r, info["distance_to_goal"], info["spl"]))
        env.close()
        return rows

    lean, full = play(2.0), play(np.inf)
    assert len(lean) == len(full)
    for x, y in zip(lean, full):
        assert all(np.array_equal(a, b) for a, b in zip(x, y))


def test_unreachable_and_largest_component():
    # a 1 m x 1 m closet sealed off inside the right half of the room
    closet = walls_around(4.5, 0.5, 5.5, 1.5)
    g = NavGrid.from_scene(room_scene(walls=ROOM_WALLS + closet), cell_size=CELL, agent_radius=RADIUS)
    inside, outside = p3(5.0, 1.0), p3(1.5, 2.0)
    assert g.is_navigable(inside) and g.is_navigable(outside)
    assert g.geodesic_distance(outside, inside) == np.inf
    assert len(g.shortest_path(outside, inside)) == 0
    assert g.geodesic_distance(outside, p3(3.0, 1.0)) == np.inf  # goal inside a wall
    rng = np.random.default_rng(0)
    pts = np.array([g.sample_navigable_point(rng) for _ in range(500)])
    in_closet = (pts[:, 0] > 4.4) & (pts[:, 0] < 5.6) & (pts[:, 2] > 0.4) & (pts[:, 2] < 1.6)
    assert not in_closet.any() and g.navigable_at(pts).all()
    rng2 = np.random.default_rng(0)
    assert np.array_equal(pts[0], g.sample_navigable_point(rng2))  # deterministic per seed


def test_random_walk_never_enters_obstacles(grid):
    kin = AgentKinematics(grid)
    rng = np.random.default_rng(1)
    state, positions, collisions = AgentState(p3(1.0, 1.0), 0.0), [], 0
    actions = rng.choice([1, 2, 3], size=10_000, p=[0.6, 0.2, 0.2])
    for a in actions:
        result = kin.step(state, int(a))
        state, collisions = result.state, collisions + result.collided
        positions.append(state.position)
    xz = np.array(positions)[:, [0, 2]]
    # analytic check against the walls themselves, not the grid
    assert dist_to_boxes(xz, ROOM_WALLS).min() >= RADIUS
    assert collisions > 50  # the walk did hit walls
    assert (xz[:, 0] > 3.05).any() and (xz[:, 0] < 2.95).any()  # and got through the gap


def test_diagonal_move_into_wall_slides_along_it(grid):
    kin = AgentKinematics(grid, forward_step_size=0.25)
    # near the bottom wall (z = 0), heading pi/4 + pi/2 ... i.e. forward = (-sin h, -cos h) towards -x, -z
    h = np.pi / 4  # forward = (-0.707, -0.707): into the z = 0 wall and along -x
    start = p3(2.0, CLEARANCE + 0.06)
    r = kin.step(AgentState(start, h), Action.MOVE_FORWARD)
    moved = r.state.position - start
    assert r.collided
    assert moved[0] < -0.1  # slid along the wall (-x) by more than the free part of the diagonal
    assert r.state.position[2] >= CLEARANCE - 1e-9  # without entering the clearance band
    assert grid.is_navigable(r.state.position)
    free = kin.step(AgentState(p3(1.5, 2.0), h), "move_forward")
    assert not free.collided and np.allclose(free.state.position, p3(1.5 - 0.25 / np.sqrt(2), 2.0 - 0.25 / np.sqrt(2)))


def test_turns_and_stop():
    g = NavGrid.from_scene(room_scene(), cell_size=0.1, agent_radius=RADIUS)
    kin = AgentKinematics(g, turn_angle=10)
    s = AgentState(p3(1.0, 1.0), 0.0)
    left = kin.step(s, "turn_left").state
    assert left.heading == pytest.approx(np.radians(10)) and np.allclose(left.position, s.position)
    assert kin.step(s, Action.TURN_RIGHT).state.heading == pytest.approx(-np.radians(10))
    assert kin.step(s, 0).stopped
    fwd = kin.step(AgentState(p3(1.0, 2.0), np.pi / 2), "move_forward").state  # heading pi/2 looks along -X
    assert np.allclose(fwd.position, p3(0.75, 2.0))
    with pytest.raises(ValueError, match="unknown action"):
        kin.step(s, "jump")


def test_spl_and_soft_spl_on_a_known_path():
    goal = np.array([3.0, 0.0, 4.0])
    euclid = lambda p: float(np.hypot(p[0] - goal[0], p[2] - goal[2]))  # noqa: E731
    # start 5 m from the goal; detour 3 m along x, 4 m along z ends 0.15 m short of the goal
    path = np.array([[0, 0, 0], [3, 0, 0], [3, 0, 3.85]], float)
    m = evaluate_path(path, euclid, stopped=True, success_distance=0.2)
    assert m["path_length"] == pytest.approx(6.85)
    assert m["success"] == 1.0 and m["spl"] == pytest.approx(5.0 / 6.85)
    assert m["soft_spl"] == pytest.approx((1 - 0.15 / 5.0) * 5.0 / 6.85)
    assert evaluate_path(path, euclid, stopped=False)["spl"] == 0.0
    # the incremental measures give the same numbers step by step
    nm = NavigationMeasures(euclid, success_distance=0.2)
    assert nm.reset(path[0])["distance_to_goal"] == pytest.approx(5.0)
    nm.update(path[1])
    out = nm.update(path[2], stopped=True)
    assert out["spl"] == pytest.approx(m["spl"]) and out["soft_spl"] == pytest.approx(m["soft_spl"])
    assert spl(1.0, 2.0, 1.0) == 1.0 and soft_spl(3.0, 2.0, 2.0) == 0.0  # clipped like habitat
    assert evaluate_path(path, euclid, success_distance=0.1)["success"] == 0.0  # 0.15 m is not < 0.1


def test_oracle_reaches_goal_around_wall(grid):
    kin = AgentKinematics(grid)
    start, goal = p3(1.0, 0.8), p3(5.0, 0.8)
    follower = ShortestPathFollower(grid, kin, goal=goal, success_distance=0.2)
    state, positions = AgentState(start, 0.0), [start]
    for _ in range(500):
        action = follower.get_next_action(state)
        if action == Action.STOP:
            break
        state = kin.step(state, action).state
        positions.append(state.position)
    m = evaluate_path(np.array(positions), lambda p: grid.geodesic_distance(p, goal), stopped=action == Action.STOP)
    assert m["success"] == 1.0
    d0 = grid.geodesic_distance(start, goal)
    assert m["path_length"] <= 1.1 * d0 and m["spl"] >= 0.9


def test_object_goal_cells_and_multi_goal_distance(grid):
    box_ = OrientedBox(center=np.array([4.5, 0.4, 1.0]), axis_lengths=np.array([0.4, 0.8, 0.4]))
    cells = grid.goal_cells_near_object(box_, radius=1.0)
    centres = grid.grid_to_world(cells)[:, [0, 2]]
    d_fp = np.hypot(np.maximum(np.abs(centres[:, 0] - 4.5) - 0.2, 0), np.maximum(np.abs(centres[:, 1] - 1.0) - 0.2, 0))
    assert len(cells) > 100 and d_fp.max() <= 1.0 + 1e-9 and grid.navigable_at(grid.grid_to_world(cells)).all()
    # from the left half, the nearest view point lies around the wall end
    a = p3(1.5, 1.0)
    d = grid.geodesic_distance_to_cells(a, cells)
    assert 0 < d < grid.geodesic_distance(a, p3(4.5, 1.0))
    assert grid.geodesic_distance_to_cells(grid.grid_to_world(cells[0]), cells) == 0.0
    follower = ShortestPathFollower(grid, AgentKinematics(grid), goal_cells=cells, success_distance=0.1)
    state = AgentState(a, 0.0)
    for _ in range(300):
        action = follower.get_next_action(state)
        if action == Action.STOP:
            break
        state = AgentKinematics(grid).step(state, action).state
    assert action == Action.STOP and follower.distance(state.position) < 0.1


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="cell_size"):
        NavGrid.from_scene(room_scene(), cell_size=0)
    with pytest.raises(ValueError, match="no triangles"):
        NavGrid.from_scene(Scene("empty", []))
    wall_only = MeshPart("v", np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], np.float32), np.array([[0, 1, 2]], np.uint32))
    with pytest.raises(ValueError, match="upward-facing"):
        NavGrid.from_scene(Scene("walls", [wall_only]))
    bad = MeshPart("bad", np.zeros((3, 3), np.float32), np.array([[0, 1, 5]], np.uint32))
    with pytest.raises(ValueError, match="'bad'"):
        NavGrid.from_scene(Scene("s", [bad]))
