"""Gymnasium layer: API checks, determinism, vectorisation, errors, recorder, exploration expert."""

from __future__ import annotations

import hashlib
import os
import warnings

import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401  (registers the VLM2/* ids)
from envs.gym import ACTIONS

os.environ.setdefault("EGL_PLATFORM", "surfaceless")
IDS = ["VLM2/Explore-v0", "VLM2/PointNav-v0", "VLM2/ObjectNav-v0"]
ALL_SENSORS = ("rgb", "depth", "semantic", "pose")  # the default is rgb + depth; the tests check every sensor
SMALL = dict(num_rooms=2, num_scenes=2, sensors=ALL_SENSORS, sim={"resolution": (24, 32)})


def _hash(obs: dict) -> str:
    h = hashlib.sha256()
    for k in sorted(obs):
        h.update(k.encode())
        h.update(np.ascontiguousarray(obs[k]).tobytes())
    return h.hexdigest()


RETURNNAV = {"tour": 30, "min_pixels": 15, "config": {"num_rooms": 2, "num_scenes": 1, "sensors": ALL_SENSORS,
                                                      "sim": {"resolution": (24, 32)},
                                                      "max_episode_steps": 20}}
CHECK_KWARGS = {**{i: dict(max_episode_steps=20, **SMALL) for i in IDS}, "VLM2/ReturnNav-v0": RETURNNAV}


@pytest.mark.parametrize("env_id", sorted(CHECK_KWARGS))
def test_gymnasium_check_env(env_id):
    """Every navigation id of the registry (``VLM2/EQA-v0`` needs a built split: test_eqa_pipeline)."""
    from gymnasium.utils.env_checker import check_env

    env = gym.make(env_id, **CHECK_KWARGS[env_id])
    with warnings.catch_warnings():
        warnings.simplefilter("error", category=UserWarning)  # any checker complaint fails the test
        check_env(env.unwrapped, skip_render_check=True)
    env.close()


@pytest.mark.parametrize("env_id", IDS)
def test_sb3_check_env(env_id):
    from stable_baselines3.common.env_checker import check_env

    env = gym.make(env_id, max_episode_steps=20, **{**SMALL, "sensors": ("rgb", "depth", "pose")}).unwrapped
    check_env(env, warn=False)
    env.close()


def test_reset_with_seed_is_deterministic():
    def rollout(seed):
        env = gym.make("VLM2/PointNav-v0", **SMALL)
        obs, info = env.reset(seed=seed)
        hashes, poses = [_hash(obs)], [obs["pose"].copy()]
        rng = np.random.default_rng(0)
        for _ in range(15):
            obs, *_ = env.step(int(rng.integers(1, 4)))
            hashes.append(_hash(obs))
            poses.append(obs["pose"].copy())
        env.close()
        return hashes, np.stack(poses)

    h1, p1 = rollout(7)
    h2, p2 = rollout(7)
    h3, _ = rollout(8)
    assert h1 == h2 and np.array_equal(p1, p2)
    assert h1[0] != h3[0]


def test_pointgoal_is_relative_polar_left_positive():
    env = gym.make("VLM2/PointNav-v0", **SMALL).unwrapped
    env.reset(seed=0)
    env.goal = env.position + np.array([-2.0, 0.0, 0.0])  # 2 m along -X
    env.heading = 0.0  # looking along -Z: the goal is to the left
    rho, phi = env._task_observation()["pointgoal_with_gps_compass"]
    assert rho == pytest.approx(2.0, abs=1e-5) and phi == pytest.approx(np.pi / 2, abs=1e-5)
    env.heading = np.pi / 2  # looking along -X: straight ahead
    assert env._task_observation()["pointgoal_with_gps_compass"][1] == pytest.approx(0.0, abs=1e-5)
    env.close()


@pytest.mark.parametrize("env_id", ["VLM2/PointNav-v0", "VLM2/ObjectNav-v0"])
def test_oracle_succeeds_with_high_spl(env_id):
    env = gym.make(env_id, max_episode_steps=300, **SMALL)
    env.reset(seed=2)
    for _ in range(300):
        _, _, term, trunc, info = env.step(env.unwrapped.oracle_action())
        if term or trunc:
            break
    assert term and info["success"] == 1.0 and info["spl"] > 0.8
    env.close()


def test_objectnav_random_starts_are_not_at_the_goal():
    # As habitat-lab's ObjectNav episodes: stopping at once must not succeed from a random start.
    env = gym.make("VLM2/ObjectNav-v0", **{**SMALL, "sensors": ("depth",)})
    starts = []
    for seed in range(12):
        _, info = env.reset(seed=seed)
        starts.append(info["distance_to_goal"])
    _, _, term, _, info = env.step(0)  # stop
    assert min(starts) >= env.unwrapped.min_start_distance == 1.0
    assert term and info["success"] == 0.0
    env.close()


def test_async_vector_env_two_workers():
    # "envs:" makes each spawned worker import envs (and so register the ids) before make
    fns = [lambda: gym.make("envs:VLM2/Explore-v0", tour=10, **SMALL) for _ in range(2)]
    venv = gym.vector.AsyncVectorEnv(fns, context="spawn")
    obs, _ = venv.reset(seed=[1, 2])
    assert obs["rgb"].shape == (2, 24, 32, 3)
    for _ in range(3):
        obs, rew, term, trunc, _ = venv.step(np.array([1, 2]))
    assert obs["depth"].shape == (2, 24, 32, 1) and rew.shape == (2,)
    venv.close()


def test_pointnav_success_is_strict_at_the_boundary():
    # habitat-lab (and envs.measures) count success only for distance_to_goal < success_distance
    env = gym.make("VLM2/PointNav-v0", **SMALL).unwrapped
    env.reset(seed=0)
    start = env._snap(env.position)  # reset options are snapped to grid cells: use such points
    # a goal a few cells away on a clear straight line, where the geodesic is the Euclidean distance
    goal = next(g for g in (env._snap(start + off) for off in 0.15 * np.array([[1, 0, 0], [-1, 0, 0], [0, 0, 1]]))
                if 0.1 < np.hypot(*(g - start)[[0, 2]]) < 0.2)
    d = float(np.hypot(*(goal - start)[[0, 2]]))
    for success_distance, expected in [(d, 0.0), (np.nextafter(d, np.inf), 1.0), (d / 2, 0.0)]:
        env.success_distance = success_distance
        _, info = env.reset(seed=0, options={"position": start, "heading": 0.0, "goal": goal})
        assert info["distance_to_goal"] == pytest.approx(d, abs=1e-12)
        _, reward, term, _, info = env.step(ACTIONS.index("stop"))
        assert term and info["success"] == expected and info["spl"] == expected
        assert reward == pytest.approx(-0.01 + 2.5 * expected)
    env.close()


def test_sb3_subproc_vec_env_two_spawned_workers():
    from stable_baselines3.common.vec_env import SubprocVecEnv

    kw = {**SMALL, "sensors": ("rgb", "depth", "pose")}
    # "envs:" makes each spawned worker import envs (registering the ids); GL contexts are made there
    venv = SubprocVecEnv([lambda: gym.make("envs:VLM2/PointNav-v0", max_episode_steps=50, **kw)] * 2,
                         start_method="spawn")
    try:
        space = venv.observation_space
        venv.seed(3)
        obs = venv.reset()
        for _ in range(3):
            obs, rew, done, info = venv.step(np.array([1, 2]))
        for key, sub in space.spaces.items():
            assert obs[key].shape == (2, *sub.shape) and obs[key].dtype == sub.dtype, key
        assert obs["rgb"].shape == (2, 24, 32, 3) and obs["depth"].shape == (2, 24, 32, 1)
        assert rew.shape == (2,) and done.shape == (2,) and "distance_to_goal" in info[0]
        assert not np.array_equal(obs["rgb"][0], obs["rgb"][1])  # two seeds, two scenes or poses
    finally:
        venv.close()


def test_invalid_actions_and_configs_raise_clear_errors():
    env = gym.make("VLM2/Explore-v0", **SMALL).unwrapped
    env.reset(seed=0)
    for bad in (4, -1, 1.5, "forward", None):
        with pytest.raises(ValueError, match="invalid action"):
            env.step(bad)
    assert env.action_id("turn_left") == ACTIONS.index("turn_left") == 2
    env.close()
    with pytest.raises(ValueError, match="sensors"):
        gym.make("VLM2/Explore-v0", sensors=("lidar",))
    with pytest.raises(ValueError, match="tour"):
        gym.make("VLM2/Explore-v0", tour="forever")
    with pytest.raises(ValueError, match="scene_seeds"):
        gym.make("VLM2/Explore-v0", split="test", scene_seeds=[3])
    with pytest.raises(FileNotFoundError, match="dataset_path"):
        gym.make("VLM2/Explore-v0", dataset_path="/no/such/dataset")
    with pytest.raises(ValueError, match="resolution"):
        gym.make("VLM2/Explore-v0", sim={"resolution": (0, 10)})
    env = gym.make("VLM2/Explore-v0", **SMALL).unwrapped
    with pytest.raises(Exception, match="no/such/scene.glb"):
        env.reset(options={"scene": "/no/such/scene.glb"})


def test_expert_visits_every_room_within_budget():
    env = gym.make("VLM2/Explore-v0", tour="mid", num_rooms=3, num_scenes=1, sensors=("pose",),
                   sim={"resolution": (8, 8)})
    env.reset(seed=0)
    steps = 0
    while True:
        _, _, term, trunc, info = env.step(env.unwrapped.expert_action())
        steps += 1
        if term or trunc:
            break
    assert steps <= 400
    assert info["num_rooms"] == 3 and info["rooms_visited"] == 3
    env.close()


def test_recorder_writes_video_and_episode_log(tmp_path):
    import imageio.v3 as iio

    from envs.episode_log import EpisodeLog
    from envs.wrappers import RecordEpisode

    env = RecordEpisode(gym.make("VLM2/Explore-v0", tour=12, **SMALL), tmp_path)
    obs, _ = env.reset(seed=0)
    n = 0
    while True:
        obs, _, term, trunc, _ = env.step(env.unwrapped.expert_action())
        n += 1
        if term or trunc:
            break
    env.close()
    video, logdir = env.written[0]
    frames = iio.imread(video, plugin="pyav") if False else np.stack(list(iio.imiter(video)))
    assert len(frames) == n + 1
    log = EpisodeLog.load(logdir)
    assert log.num_frames == n + 1 and log.image_size == (24, 32)
    base = env.unwrapped
    np.testing.assert_allclose(log.positions[-1], base.position, atol=1e-5)
    sem = base.sensor_observations()["semantic"]
    ids, counts = np.unique(sem[sem > 0], return_counts=True)
    assert log.visible[-1] == dict(zip(ids.tolist(), counts.tolist()))
    assert not list(tmp_path.glob(".*tmp*"))


def _project_exceptions() -> list[type]:
    """Every exception class defined in the project's packages (each module imported once)."""
    import importlib
    import inspect
    import pkgutil

    found = {}
    for package in ("vlm2_base", "scenes", "envs", "vlm2_agent"):
        root = importlib.import_module(package)
        for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}."):
            module = importlib.import_module(info.name)
            for _, cls in inspect.getmembers(module, inspect.isclass):
                if issubclass(cls, BaseException) and cls.__module__ == info.name:
                    found[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return [found[k] for k in sorted(found)]


def test_project_errors_survive_pickling_across_processes():
    import pickle

    from scenes.types import SceneLoadError

    kinds = _project_exceptions()
    assert len(kinds) >= 8 and SceneLoadError in kinds
    for kind in kinds:
        err = kind("scenes/x.glb", "file not found") if kind is SceneLoadError else kind("data/x.json: bad value")
        back = pickle.loads(pickle.dumps(err))
        assert type(back) is kind and str(back) == str(err), kind
        again = kind(str(err))  # how gymnasium's AsyncVectorEnv re-raises a worker's error
        assert type(again) is kind and str(again) == str(err), kind


def test_vector_env_reports_a_worker_scene_error_and_closes(tmp_path):
    # A worker that cannot load its scene: the parent gets the worker's own SceneLoadError (not a
    # TypeError from unpickling it) and close() returns. Run in a subprocess with a timeout, so a
    # hang fails the test instead of blocking the suite.
    import subprocess
    import sys

    code = f"""
import gymnasium as gym, envs
from scenes.types import SceneLoadError
venv = gym.vector.AsyncVectorEnv([lambda: gym.make("envs:VLM2/Explore-v0", expert=False, sensors=("depth",),
                                                   sim={{"resolution": (8, 8)}}, scene_ids=("nope",),
                                                   dataset_path={str(tmp_path)!r})], context="spawn")
try:
    venv.reset(seed=0)
except Exception as e:
    print("ERROR", type(e).__name__, e)
venv.close(terminate=True)
print("CLOSED")
"""
    (tmp_path / "splits.json").write_text('{"train": ["nope"]}')
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "CLOSED" in out.stdout, out.stderr[-2000:]
    assert f"ERROR SceneLoadError {tmp_path}: expected one *.scene_dataset_config.json" in out.stdout, \
        out.stdout + out.stderr[-1000:]


def test_the_env_step_limit_set_through_config_truncates_there():
    env = gym.make("VLM2/Explore-v0", expert=False, sensors=("depth",), sim={"resolution": (8, 8)}, num_scenes=1,
                   config={"max_episode_steps": 5})
    env.reset(seed=0)
    ends = [env.step(1)[3] for _ in range(5)]
    assert ends == [False] * 4 + [True]
    env.close()


@pytest.mark.parametrize("env_id, kwargs, mode", [
    ("VLM2/PointNav-v0", {"goal_distance": (0.5, 1.5)}, "NextStep"),  # short episodes: autoresets happen
    ("VLM2/PointNav-v0", {"goal_distance": (0.5, 1.5)}, "SameStep"),
    ("VLM2/ObjectNav-v0", {"sensors": ("rgb", "depth", "semantic")}, "NextStep"),
])
def test_batched_vector_env_equals_gymnasium_sync_vector_env_bit_for_bit(env_id, kwargs, mode):
    from gymnasium.vector import AutoresetMode

    common = dict(sim={"resolution": (24, 32)}, num_scenes=3, config={"max_episode_steps": 25}, **kwargs)
    n = 3
    batched = gym.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point", autoreset_mode=mode,
                           **common)
    reference = gym.vector.SyncVectorEnv([lambda: gym.make(env_id, **common) for _ in range(n)],
                                         autoreset_mode=AutoresetMode(mode))
    assert batched.observation_space == reference.observation_space
    assert batched.metadata["autoreset_mode"] == reference.metadata["autoreset_mode"]
    rng = np.random.default_rng(0)
    a, b = batched.reset(seed=7), reference.reset(seed=7)
    ends = 0
    for t in range(60):
        for key in b[0]:
            assert np.array_equal(a[0][key], b[0][key]), (t, key)
        assert batched.observation_space.contains(a[0])
        if t:
            for x, y in zip(a[1:4], b[1:4]):  # rewards, terminations, truncations
                assert np.array_equal(x, y), t
            ends += int(np.sum(a[2] | a[3]))
        info_a, info_b = a[-1], b[-1]
        assert info_a.keys() == info_b.keys()
        for key in ("distance_to_goal", "success", "spl", "position"):
            if key in info_b:
                assert np.array_equal(info_a[key], info_b[key]), (t, key)
        if "final_obs" in info_b:  # same-step autoreset: the finished episodes' last frames and measures
            assert np.array_equal(info_a["_final_obs"], info_b["_final_obs"]), t
            for i in np.flatnonzero(info_b["_final_obs"]):
                for key in info_b["final_obs"][i]:
                    assert np.array_equal(info_a["final_obs"][i][key], info_b["final_obs"][i][key]), (t, i, key)
            assert np.array_equal(info_a["final_info"]["spl"], info_b["final_info"]["spl"]), t
        actions = rng.integers(0, 4, n)
        a, b = batched.step(actions), reference.step(actions)
    assert ends >= 2  # episodes ended and the sub-envs were reset by the next step, on both sides
    batched.close()
    reference.close()


def test_batched_vector_env_passes_gymnasium_style_vector_checks():
    """What gymnasium's own vector-env tests check (it ships no vector checker): the batched spaces
    hold every reset and step; the same seed gives the same data; returned arrays are never reused;
    close is idempotent."""
    from gymnasium.utils.env_checker import data_equivalence

    kwargs = dict(sim={"resolution": (16, 16)}, num_scenes=2, config={"max_episode_steps": 10})
    venv = gym.make_vec("VLM2/PointNav-v0", num_envs=2, vectorization_mode="vector_entry_point", **kwargs)
    assert venv.num_envs == 2 and venv.single_action_space == gym.spaces.Discrete(4)
    obs_a, info_a = venv.reset(seed=11)
    obs_b, info_b = venv.reset(seed=11)
    assert venv.observation_space.contains(obs_a) and data_equivalence(obs_a, obs_b)
    assert data_equivalence(info_a, info_b)
    venv.action_space.seed(0)
    previous = obs_b
    for _ in range(15):
        obs, rewards, terms, truncs, infos = venv.step(venv.action_space.sample())
        assert venv.observation_space.contains(obs)
        assert rewards.shape == terms.shape == truncs.shape == (2,) and terms.dtype == truncs.dtype == bool
        assert all(not np.shares_memory(obs[k], previous[k]) for k in obs)
        previous = obs
    venv.close()
    venv.close()
