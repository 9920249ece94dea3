"""habitat-lab episode files: write / read round trip, replay, scene resolution, bad files, evaluation."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401  (registers the VLM2/* ids)
from envs.datasets import EpisodeFileError, generate_episodes, read_episodes, write_episodes
from envs.pose import heading_to_quaternion

ROOT = Path(__file__).resolve().parents[1]
TEST_SCENES = {"split": "test", "num_scenes": 2, "sensors": ("depth",), "sim": {"resolution": (16, 16)}}


@pytest.mark.parametrize("env_id", ["VLM2/PointNav-v0", "VLM2/ObjectNav-v0"])
def test_episode_file_round_trip_and_replay(env_id, tmp_path):
    eps = generate_episodes(env_id, 3, seed=7, env_kwargs=TEST_SCENES)
    path = write_episodes(tmp_path / "eps.json.gz", eps)
    again = write_episodes(tmp_path / "again.json.gz", eps)
    assert path.read_bytes() == again.read_bytes()  # no timestamp in the gzip header
    doc = json.loads(gzip.decompress(path.read_bytes()))
    assert set(doc["episodes"][0]) >= {"episode_id", "scene_id", "start_position", "start_rotation", "goals", "info"}
    back = read_episodes(path).episodes
    assert [e.to_dict() for e in back] == [e.to_dict() for e in eps]
    # replayed in file order by a fresh env: the same start, goal and start distance
    env = gym.make(env_id, episodes_path=str(path), **TEST_SCENES)
    for ep in eps:
        _, info = env.reset()
        assert info["scene_id"] == ep.scene_id
        np.testing.assert_allclose(info["position"], ep.start_position, atol=1e-9)
        assert info["distance_to_goal"] == pytest.approx(ep.info["geodesic_distance"], abs=1e-9)
        if ep.object_category:
            assert info["goal_category"] == ep.object_category
        else:
            np.testing.assert_allclose(info["goal"], ep.goals[0]["position"], atol=1e-9)
    env.close()


def _user_episode(scene_id: str) -> dict:
    """An episode as a habitat-lab user writes it by hand: a scene path of their own data folder."""
    return {"episode_id": "user-0", "scene_id": scene_id, "start_position": [0.0, 0.0, 0.0],
            "start_rotation": heading_to_quaternion(0.5).tolist(),
            "goals": [{"position": [0.0, 0.0, 0.0], "radius": 0.2}],
            "info": {"geodesic_distance": 0.0}, "shortest_paths": None, "start_room": None}


def test_habitat_lab_user_file_runs_on_our_scenes(tmp_path):
    from hydra import compose, initialize_config_module

    from vlm2_agent.cli.scenes import build

    with initialize_config_module(config_module="configs", version_base="1.3"):
        cfg = compose("scenes", overrides=[f"scene.root={tmp_path}", "scene.splits=[test]",
                                           "scene.num_scenes.test=1", "scene.maps=false", "logger=none"])
    build(cfg, progress=False)
    dataset = tmp_path / "vlm2_apartments"
    # start and goal: two navigable points of the procedural apartment, chosen independently
    probe = gym.make("VLM2/PointNav-v0", **TEST_SCENES).unwrapped
    probe.reset(seed=0, options={"scene": "apt_test_110000"})
    rng = np.random.default_rng(0)
    start, goal = (probe.navgrid.sample_navigable_point(rng) for _ in range(2))
    expected = probe.navgrid.geodesic_distance(start, goal)
    probe.close()
    ep = _user_episode("data/scene_datasets/vlm2_apartments/scenes/apt_test_110000.scene_instance.json")
    ep["start_position"], ep["goals"][0]["position"] = start.tolist(), goal.tolist()
    path = tmp_path / "user.json.gz"
    path.write_bytes(gzip.compress(json.dumps({"episodes": [ep]}).encode()))
    for kwargs in ({"dataset_path": str(dataset)}, {}):  # the written dataset, then the procedural scene
        env = gym.make("VLM2/PointNav-v0", episodes_path=str(path), **{**TEST_SCENES, **kwargs})
        _, info = env.reset()
        assert info["scene_id"] == "apt_test_110000"
        assert info["distance_to_goal"] == pytest.approx(expected, rel=1e-6)
        assert abs(env.unwrapped.heading - 0.5) < 1e-9
        while True:
            _, _, term, trunc, info = env.step(env.unwrapped.oracle_action())
            if term or trunc:
                break
        assert info["success"] == 1.0
        env.close()


@pytest.mark.parametrize("doc, match", [
    (b"not gzip", r"not a \(gzipped\) JSON episode file"),
    ({"episodes": []}, "'episodes' is empty"),
    ({"episodes": [{"episode_id": 0, "scene_id": "apt_test_110000", "start_position": [0, 0, 0]}]},
     r"episodes\[0\]: missing field\(s\) \['start_rotation'\]"),
    ({"episodes": [{**_user_episode("apt_test_110000"), "start_rotation": [0, 0, 0, 2]}]},
     r"episodes\[0\]\.start_rotation: expected a unit quaternion"),
    ({"episodes": [{**_user_episode("apt_test_110000"), "start_position": [0, "x", 0]}]},
     r"episodes\[0\]\.start_position: expected 3 numbers"),
    ({"episodes": [{**_user_episode("apt_test_110000"), "goals": []}]},
     r"episodes\[0\]: needs 'goals' \(PointNav\) or 'object_category' \(ObjectNav\)"),
])
def test_bad_episode_files_name_file_and_field(tmp_path, doc, match):
    path = tmp_path / "bad.json.gz"
    path.write_bytes(doc if isinstance(doc, bytes) else gzip.compress(json.dumps(doc).encode()))
    with pytest.raises(EpisodeFileError, match=match) as e:
        read_episodes(path)
    assert str(path) in str(e.value)


def test_unknown_scene_of_an_episode_is_named(tmp_path):
    path = tmp_path / "eps.json.gz"
    path.write_bytes(gzip.compress(json.dumps({"episodes": [_user_episode("my_house")]}).encode()))
    with pytest.raises(ValueError, match="unknown scene 'my_house'"):
        gym.make("VLM2/PointNav-v0", episodes_path=str(path), **TEST_SCENES)


def test_evaluation_plays_the_shipped_test_episodes():
    from vlm2_agent.policy.training import evaluate_nav

    shipped = read_episodes(ROOT / "episodes" / "pointnav_test.json.gz").episodes
    assert len(shipped) == 100 and len({e.scene_id for e in shipped}) == 8
    cfg = {"task": "pointnav", "extractor": "none", "sim": {"resolution": [16, 16]}, "env": {"sensors": ["depth"]},
           "tasks": {"pointnav": {"max_episode_steps": 64}}}
    out = evaluate_nav(lambda o, e: e.unwrapped.oracle_action(), cfg, 4, progress=False,
                       episodes_path=ROOT / "episodes" / "pointnav_test.json.gz")
    assert out["episodes"] == 4 and out["success"] == 1.0 and out["spl"] > 0.9


RETURNNAV = {"tour": 120, "sensors": ("rgb", "semantic"), "sim": {"resolution": (24, 24)},
             "config": {"split": "test", "num_scenes": 2, "max_episode_steps": 40}}


def _tour_frames(env, **reset) -> tuple[list[np.ndarray], dict]:
    obs, info = env.reset(**reset)
    frames = [obs["rgb"].copy()]
    while env.unwrapped.in_tour:
        obs, _, _, _, info = env.step(0)
        frames.append(obs["rgb"].copy())
    return frames, info


def test_returnnav_episode_file_replays_the_seeded_tour_and_goals(tmp_path):
    from envs.datasets import generate_returnnav_episodes

    eps = generate_returnnav_episodes(2, seed=3, env_kwargs=RETURNNAV, age_bins=(0, 30, 60, 121))
    assert [e.info["tour_id"] for e in eps].count(0) >= 2  # a tour's own goal and goals of other ages
    for ep in eps:
        assert len(ep.info["tour_actions"]) == 120 and ep.info["seed"] == 3 + ep.info["tour_id"]
        lo, _, hi = ep.episode_id.partition("-age")[2].partition("-")
        if lo:
            assert int(lo) <= ep.info["goal_age"] <= int(hi)
    path = write_episodes(tmp_path / "returnnav.json.gz", eps)
    back = read_episodes(path).episodes
    assert [e.to_dict() for e in back] == [e.to_dict() for e in eps]
    seeded = gym.make("VLM2/ReturnNav-v0", **RETURNNAV)
    played = gym.make("VLM2/ReturnNav-v0", episodes_path=str(path), **RETURNNAV)
    for ep in eps:
        frames, info = _tour_frames(seeded, seed=ep.info["seed"])
        again, info_file = _tour_frames(played)  # the file's next episode
        assert len(frames) == len(again) and all(np.array_equal(a, b) for a, b in zip(frames, again))
        assert (info_file["goal_category"], info_file["goal_room_type"]) == (ep.object_category, ep.info["room_type"])
        assert info_file["distance_to_goal"] == pytest.approx(ep.info["geodesic_distance"], abs=1e-9)
        assert len(played.unwrapped.tour) - info_file["goal_last_seen"] == ep.info["goal_age"]
        if "-age" not in ep.episode_id:  # the seeded episode asks for the tour's own goal
            assert info["goal_category"] == ep.object_category
    seeded.close()
    played.close()


def test_bad_returnnav_episodes_name_the_field():
    env = gym.make("VLM2/ReturnNav-v0", **RETURNNAV)
    ep = {**_user_episode("apt_test_110000"), "goals": [], "object_category": "sofa", "info": {"room_type": "kitchen"}}
    with pytest.raises(ValueError, match="needs info.tour_actions"):
        env.reset(options={"episode": ep})
    ep["info"]["tour_actions"] = [1, 0, 2]
    with pytest.raises(ValueError, match="tour_actions must be move_forward"):
        env.reset(options={"episode": ep})
    env.close()


def test_the_shipped_returnnav_episodes_replay():
    path = ROOT / "episodes" / "returnnav_test_tour1000.json.gz"
    eps = read_episodes(path).episodes
    assert len({e.info["tour_id"] for e in eps}) == 100
    assert all(900 < len(e.info["tour_actions"]) <= 1000 for e in eps)  # the expert's last lap may end early
    # the semantic sensor at the evaluation's resolution decides which objects the tour has seen
    env = gym.make("VLM2/ReturnNav-v0", episodes_path=str(path), sensors=("semantic",), sim={"resolution": (64, 64)},
                   config={"split": "test", "num_scenes": 8})
    _, info = env.reset()
    while env.unwrapped.in_tour:
        _, _, _, _, info = env.step(0)
    assert (info["goal_category"], info["goal_room_type"]) == (eps[0].object_category, eps[0].info["room_type"])
    assert info["distance_to_goal"] == pytest.approx(eps[0].info["geodesic_distance"], abs=1e-9)
    assert len(env.unwrapped.tour) - info["goal_last_seen"] == eps[0].info["goal_age"]
    env.close()
