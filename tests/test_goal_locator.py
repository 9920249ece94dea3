"""Goal-conditioned memory read for ReturnNav: frames, entry positions, the locator, restarting navigation."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import vlm2_agent.policy  # noqa: F401  (registers VLM2/ReturnNav-v0)
from envs.gym.pointnav import polar_goal
from vlm2_agent.policy.backbone import build_backbone
from vlm2_agent.policy.goal_locator import GoalLocator, gps_from_camera, nearest_target_loss, polar_from_gps
from vlm2_agent.policy.memory_goal import MultiMemoryStreamer, TourData, collect_tours, goal_records, run_tour

pytestmark = pytest.mark.usefixtures("single_torch_thread")

RETURNNAV = {"config": {"sensors": ("rgb", "depth"), "num_scenes": 1, "sim": {"resolution": (32, 32)},
                        "max_episode_steps": 40}, "tour": 40, "min_pixels": 5}
VLM2_ORACLE = {"geometry_source": "oracle", "memory_mode": "dual", "working_memory_size": 4, "episodic_memory_size": 6}


@pytest.fixture(scope="module")
def toured():
    """A ReturnNav env whose 40-step tour was streamed into dual / working / none memories."""
    env = gym.make("VLM2/ReturnNav-v0", **RETURNNAV)
    streamer = MultiMemoryStreamer(build_backbone(VLM2_ORACLE, seed=0), ("dual", "working", "none"))
    run_tour(env, streamer, seed=2)
    yield env, streamer
    env.close()


def test_run_tour_streams_every_frame_and_returns_the_first_camera_pose():
    """The hook sees the reset's frame and each tour step's, in order; the pose returned is the
    depth camera's at the reset; the memory equals one streamed frame by frame here."""
    from vlm2_agent.policy.memory_wrapper import frame_inputs

    env = gym.make("VLM2/ReturnNav-v0", **RETURNNAV)
    base = env.unwrapped
    model = build_backbone(VLM2_ORACLE, seed=0)
    streamer = MultiMemoryStreamer(model, ("dual",))
    steps = []
    tour = run_tour(env, streamer, seed=3, on_frame=lambda e: steps.append(e.unwrapped.tour_step))
    assert steps == list(range(RETURNNAV["tour"] + 1)) and not base.in_tour
    assert tour.info["tour_step"] == RETURNNAV["tour"]

    types = {s.type: s for s in base.sim_config.sensors}
    env.reset(seed=3)
    np.testing.assert_array_equal(tour.first_camera_to_world, base.camera_to_world(types["depth"].uuid))
    by_hand = MultiMemoryStreamer(model, ("dual",))
    by_hand.reset()
    by_hand.observe(*frame_inputs(base, types["rgb"], types["depth"]))
    while base.in_tour:
        env.step(0)
        by_hand.observe(*frame_inputs(base, types["rgb"], types["depth"]))
    for got, expected in zip(streamer.snapshot("dual"), by_hand.snapshot("dual")):
        np.testing.assert_array_equal(got, expected)
    env.close()


def test_polar_goal_from_gps_matches_the_env(toured):
    env, _ = toured
    base = env.unwrapped
    rng = np.random.default_rng(0)
    for _ in range(5):  # walk a little so the pose differs from the tour's start
        for a in rng.integers(1, 4, 4):
            obs, *_ = env.step(int(a))
        goal = base.position + np.array([rng.uniform(-3, 3), 0.0, rng.uniform(-3, 3)])
        expected = polar_goal(base.position, base.heading, goal)
        got = polar_from_gps(base.to_start_frame(goal)[0], obs["gps"], obs["compass"])
        np.testing.assert_allclose(got, expected, atol=1e-4)
        np.testing.assert_allclose(base.from_start_frame(base.to_start_frame(goal)[0])[[0, 2]], goal[[0, 2]],
                                   atol=1e-9)


def test_entry_positions_are_where_the_depth_camera_saw_things(toured):
    """The current frame's entry centroids, from the memory, against the same frame's depth
    back-projected here with numpy into the tour-start frame, quadrant by quadrant."""
    from vlm2_agent.policy.memory_wrapper import frame_inputs

    env, streamer = toured
    base = env.unwrapped
    env.step(2)
    types = {s.type: s for s in base.sim_config.sensors}
    streamer.observe(*frame_inputs(base, types["rgb"], types["depth"]))
    spec = types["depth"]
    depth = np.asarray(base.sensor_observations()[spec.uuid], float).reshape(spec.resolution)
    h, w = depth.shape
    f = (w / 2) / np.tan(np.radians(spec.hfov) / 2)
    v, u = np.mgrid[0:h, 0:w] + 0.5
    cam = np.stack([(u - w / 2) / f * depth, -(v - h / 2) / f * depth, -depth, np.ones_like(depth)], axis=-1)
    world = cam @ base.camera_to_world(spec.uuid).T
    xy = base.to_start_frame(world[..., :3].reshape(-1, 3)).reshape(h, w, 2)
    _, coords, _ = streamer.snapshot("none")  # the none memory's prefix is the current frame's entry only
    got = gps_from_camera(torch.from_numpy(coords))[:, :].numpy()
    quadrants = [xy[:h // 2, :w // 2], xy[:h // 2, w // 2:], xy[h // 2:, :w // 2], xy[h // 2:, w // 2:]]
    expected = np.array([q.reshape(-1, 2).mean(axis=0) for q in quadrants])
    np.testing.assert_allclose(got, expected, atol=0.02)  # pooling order: row-major 2x2 entry grid
    assert np.all(coords[:, 3] > 0.99)  # every pixel of an indoor view has depth


def test_memories_hold_what_their_mode_promises(toured):
    env, streamer = toured
    sizes = {m: streamer.snapshot(m)[0].shape[0] for m in ("dual", "working", "none")}
    k = 4  # 2x2 entry grid
    assert sizes == {"dual": (6 + 4 + 1) * k, "working": (4 + 1) * k, "none": k}
    records = goal_records(env)
    assert records and all(0 <= r["age"] <= 40 for r in records)
    base = env.unwrapped
    goal = next(r for r in records if base.categories[r["category"]] == base.goal_category
                and base.room_types[r["room"]] == base.goal_room_type)
    assert goal["age"] == len(base.tour) - env.unwrapped._info()["goal_last_seen"]
    for r in records:  # seen with the env's min_pixels in one frame; centres and targets name the same instances
        assert r["pixels"] >= RETURNNAV["min_pixels"]
        np.testing.assert_allclose(base.to_start_frame(r["centres"]), r["targets"])


def test_locator_learns_to_pick_the_entry_of_the_goal_category():
    """Hand-built memories: each entry token is a category code; the goal's position is the entry
    of its category. Trained briefly, the locator must find it; an untrained one must not."""
    rng = np.random.default_rng(0)
    n_cat, dim, entries = 6, 16, 6
    codes = rng.normal(size=(n_cat, dim)).astype(np.float32)

    def batch(n):
        cats = np.stack([rng.permutation(n_cat) for _ in range(n)])
        tokens = torch.from_numpy(codes[cats])
        coords = torch.cat([torch.from_numpy(rng.uniform(-5, 5, (n, entries, 3)).astype(np.float32)),
                            torch.ones(n, entries, 1)], dim=-1)
        goal = torch.from_numpy(rng.integers(0, n_cat, n))
        where = torch.from_numpy(np.argmax(cats == goal.numpy()[:, None], axis=1))
        target = gps_from_camera(coords[torch.arange(n), where])[:, None]
        return tokens, coords, torch.ones(n, entries, dtype=torch.bool), goal, torch.zeros(n, dtype=torch.long), target

    torch.manual_seed(0)
    loc = GoalLocator(hidden_size=dim, num_categories=n_cat, num_room_types=1, query_size=16)
    test = batch(256)
    mask_t = torch.ones(256, 1, dtype=torch.bool)

    def error():
        with torch.no_grad():
            return float(nearest_target_loss(loc(*test[:5]).position, test[5], mask_t))

    before = error()
    opt = torch.optim.Adam(loc.parameters(), lr=1e-2)
    for _ in range(300):
        *inputs, target = batch(64)
        loss = nearest_target_loss(loc(*inputs).position, target, torch.ones(64, 1, dtype=torch.bool))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert before > 2.0 and error() < 0.3


def test_locator_save_load_and_errors(tmp_path):
    loc = GoalLocator(hidden_size=8, num_categories=3, num_room_types=2).eval()
    tokens = torch.randn(2, 5, 8)
    coords = torch.cat([torch.randn(2, 5, 3), torch.ones(2, 5, 1)], dim=-1)
    args = (tokens, coords, torch.ones(2, 5, dtype=torch.bool), torch.tensor([0, 2]), torch.tensor([1, 0]))
    loc.save_pretrained(tmp_path / "loc")
    again = GoalLocator.from_pretrained(tmp_path / "loc")
    assert torch.equal(loc(*args).position, again(*args).position)
    with pytest.raises(FileNotFoundError, match="goal_locator.json"):
        GoalLocator.from_pretrained(tmp_path)
    no_geometry = coords.clone()
    no_geometry[0, :, 3] = 0.0
    with pytest.raises(ValueError, match="no memory entry with geometry"):
        loc(tokens, no_geometry, *args[2:])


def test_collected_tours_round_trip(tmp_path):
    data = collect_tours(RETURNNAV, None, episodes=1, seed=2, modes=("dual", "none"), vlm2=VLM2_ORACLE, progress=False)
    data.save(tmp_path / "t.npz")
    again = TourData.load(tmp_path / "t.npz")
    assert set(again.tokens) == {"dual", "none"} and again.tokens["dual"].shape == (1, 44, 128)
    np.testing.assert_array_equal(again.targets, data.targets)
    np.testing.assert_allclose(again.tokens["none"], data.tokens["none"], rtol=1e-2, atol=1e-2)  # stored as float16


def test_restart_navigation_replays_the_same_navigation_phase():
    env = gym.make("VLM2/ReturnNav-v0", **RETURNNAV)
    env.reset(seed=4)  # a goal the oracle reaches within the 40-step limit (1.3 m away)
    while env.unwrapped.in_tour:
        env.step(0)
    runs = []
    for _ in range(2):
        obs, info = env.unwrapped.restart_navigation()
        start = (env.unwrapped.position.copy(), info["distance_to_goal"], obs["gps"].copy())
        actions, done = [], False
        while not done:
            actions.append(env.unwrapped.oracle_action())
            obs, _, term, trunc, info = env.step(actions[-1])
            done = term or trunc
        runs.append((start, actions, info["success"], info["spl"]))
    (s0, a0, ok0, spl0), (s1, a1, ok1, spl1) = runs
    np.testing.assert_array_equal(s0[0], s1[0])
    assert s0[1] == s1[1] and a0 == a1 and ok0 == ok1 == 1.0 and spl0 == spl1
    env.close()


def test_restart_navigation_with_another_goal_asks_for_it():
    env = gym.make("VLM2/ReturnNav-v0", **RETURNNAV)
    env.reset(seed=4)
    while env.unwrapped.in_tour:
        env.step(0)
    base = env.unwrapped
    first = (base.goal_category, base.goal_room_type)
    other = next(k for k in sorted(base.goal_candidates(min_pixels=1)) if k != first)
    obs, info = base.restart_navigation(goal=other)
    assert (base.goal_category, base.goal_room_type) == other
    assert obs["objectgoal"][0] == base.categories.index(other[0])
    assert obs["roomgoal"][0] == base.room_types.index(other[1])
    cells = base._goal_cells_for(*other)
    assert info["distance_to_goal"] == pytest.approx(base.navgrid.geodesic_distance_to_cells(base.position, cells))
    assert {o.instance_id for o in base.scene.objects if o.category == other[0]} >= set(info["goal_instances"])
    with pytest.raises(ValueError, match="was not seen in this tour"):
        base.restart_navigation(goal=("no such category", "kitchen"))
    env.close()


def test_semantic_head_prior_points_at_the_goal_category_without_training(tmp_path):
    """Tokens are category codes and the perception head classifies them perfectly: the locator
    initialised from that head finds the goal's entry before any locator training."""
    from safetensors.torch import save_file

    n_cat, entries = 5, 5
    torch.manual_seed(0)
    save_file({"weight": 20.0 * torch.eye(n_cat + 1), "bias": torch.zeros(n_cat + 1)}, str(tmp_path / "head.safetensors"))
    loc = GoalLocator(hidden_size=n_cat + 1, num_categories=n_cat, num_room_types=1, semantic_classes=n_cat + 1)
    loc.load_semantic_head(tmp_path / "head.safetensors")
    order = torch.stack([torch.randperm(n_cat) for _ in range(32)])  # which category each entry shows
    tokens = torch.nn.functional.one_hot(order + 1, n_cat + 1).float()
    coords = torch.cat([torch.rand(32, entries, 3) * 10 - 5, torch.ones(32, entries, 1)], dim=-1)
    goal = torch.randint(0, n_cat, (32,))
    where = (order == goal[:, None]).float().argmax(dim=1)
    with torch.no_grad():
        est = loc(tokens, coords, torch.ones(32, entries, dtype=torch.bool), goal, torch.zeros(32, dtype=torch.long))
    expected = gps_from_camera(coords[torch.arange(32), where])
    torch.testing.assert_close(est.position, expected, atol=0.05, rtol=0)
    with pytest.raises(ValueError, match="semantic_classes"):
        GoalLocator(hidden_size=8, num_categories=5, num_room_types=1, semantic_classes=3)


def test_shortest_path_action_reaches_a_snapped_point():
    env = gym.make("VLM2/ReturnNav-v0", **{**RETURNNAV, "config": {**RETURNNAV["config"], "max_episode_steps": 200}})
    env.reset(seed=4)
    while env.unwrapped.in_tour:
        env.step(0)
    base = env.unwrapped
    goal = base.snap_to_navigable(base.position + np.array([2.5, 0.0, -1.5]))
    assert base.navgrid.navigable_at(goal[None])[0]
    for _ in range(200):
        a = base.shortest_path_action(goal)
        if a == 0:
            break
        env.step(a)
    assert a == 0 and np.hypot(*(base.position - goal)[[0, 2]]) < 0.2 + 1e-6
    env.close()


def test_returnnav_step_limit_counts_navigation_steps_only():
    env = gym.make("VLM2/ReturnNav-v0", **RETURNNAV)  # 40 tour steps, then at most 40 navigation steps
    env.reset(seed=5)
    tour = 0
    while env.unwrapped.in_tour:
        *_, term, trunc, _ = env.step(0)
        tour += 1
        assert not (term or trunc)
    assert tour == 40
    for i in range(40):
        *_, term, trunc, info = env.step(2)  # turn in place: never ends the episode by itself
        assert not term and trunc == (i == 39) and info["nav_steps"] == i + 1
    with pytest.raises(ValueError):
        env.unwrapped.step(7)
    assert env.unwrapped.nav_steps == 40
    env.close()
