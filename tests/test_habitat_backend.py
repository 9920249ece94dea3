"""The habitat-sim backend against habitat-sim itself (``make test-habitat``; skipped where it is not installed)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("EGL_PLATFORM", "surfaceless")
habitat_sim = pytest.importorskip("habitat_sim", reason="habitat-sim is not installed (make test-habitat)")
pytestmark = pytest.mark.habitat

from envs.config import SensorSpec, SimulatorConfig  # noqa: E402
from envs.simulator import Simulator  # noqa: E402
from scenes import loader  # noqa: E402

ASSETS = Path(__file__).resolve().parents[1].parent / "shared" / "habitat-test-assets"
needs_assets = pytest.mark.skipif(not ASSETS.is_dir(), reason=f"Habitat test assets not found at {ASSETS}")


@pytest.fixture(scope="module")
def apartment_dataset(tmp_path_factory):
    from scenes.writer import write_dataset

    root = tmp_path_factory.mktemp("scenes")
    write_dataset(root, {"test": 1}, write_maps=False, progress=False)
    return root / "vlm2_apartments"


def _poses(scene, n=12, seed=0):
    from envs.navigation import NavGrid

    grid = NavGrid.from_scene(scene)
    rng = np.random.default_rng(seed)
    return [(grid.sample_navigable_point(rng), float(rng.uniform(-np.pi, np.pi))) for _ in range(n)]


def _render(scene, poses, backend, sensor_types=("rgb", "depth")):
    with warnings.catch_warnings():
        if backend == "gl":
            warnings.simplefilter("ignore")
        sim = Simulator(scene, SimulatorConfig(resolution=(48, 64), sensor_types=sensor_types, backend=backend))
    frames = []
    for position, heading in poses:
        sim.set_agent_state(position, heading)
        frames.append(sim.get_observations())
    sim.close()
    return frames


def _depth_agreement(scene, poses):
    gl, hs = _render(scene, poses, "gl"), _render(scene, poses, "habitat")
    diffs, both, either = [], 0, 0
    for g, h in zip(gl, hs):
        vg, vh = g["depth"] > 0, h["depth"] > 0
        both, either = both + int((vg & vh).sum()), either + int((vg | vh).sum())
        diffs.append(np.abs(g["depth"] - h["depth"])[vg & vh])
        assert h["rgb"].shape == g["rgb"].shape and h["rgb"].dtype == np.uint8
        # RGB: the same pixels are covered (lighting differs, so colours are not compared)
        assert ((h["rgb"].max(-1) > 0) == vh).mean() > 0.98
    d = np.concatenate(diffs)
    return float(np.median(d)), float((d < 0.02).mean()), both / either


def test_depth_and_coverage_agree_on_a_written_apartment(apartment_dataset):
    scene = loader.load(apartment_dataset, "apt_test_110000")
    median, within_2cm, coverage = _depth_agreement(scene, _poses(scene))
    assert median < 1e-3 and within_2cm > 0.99 and coverage > 0.99


@needs_assets
def test_depth_and_coverage_agree_on_a_real_stage():
    scene = loader.load(ASSETS / "scenes" / "simple_room.glb")
    median, within_2cm, coverage = _depth_agreement(scene, _poses(scene))
    assert median < 1e-3 and within_2cm > 0.99 and coverage > 0.99


def test_semantic_ids_agree_on_a_written_apartment(apartment_dataset):
    scene = loader.load(apartment_dataset, "apt_test_110000")
    poses = _poses(scene)
    gl = _render(scene, poses, "gl", ("depth", "semantic"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the writer's semantic mesh is found: no "no semantic annotation" warning
        hs = _render(scene, poses, "habitat", ("depth", "semantic"))
    agree = seen = 0
    ids: set[int] = set()
    for g, h in zip(gl, hs):
        both = (g["depth"] > 0) & (h["depth"] > 0)
        agree += int((g["semantic"][both] == h["semantic"][both]).sum())
        seen += int(both.sum())
        ids |= set(np.unique(h["semantic"]).tolist())
    assert agree / seen > 0.99
    assert len(ids - {0}) >= 5 and ids <= {0, *(o.instance_id for o in scene.objects)}


def test_pointnav_runs_the_same_poses_on_both_backends(apartment_dataset):
    import gymnasium as gym

    import envs  # noqa: F401

    def run(backend):
        env = gym.make("VLM2/PointNav-v0", dataset_path=str(apartment_dataset), split="test",
                       sim={"resolution": (32, 32), "backend": backend})
        obs, info = env.reset(seed=4)
        out = [(info["position"].copy(), obs["depth"].copy())]
        for _ in range(15):
            obs, _, term, trunc, info = env.step(env.unwrapped.oracle_action())
            out.append((info["position"].copy(), obs["depth"].copy()))
            if term or trunc:
                break
        env.close()
        return out

    gl, hs = run("gl"), run("habitat")
    assert len(gl) == len(hs) > 5
    for (pg, dg), (ph, dh) in zip(gl, hs):
        np.testing.assert_allclose(pg, ph)
        seen = (dg > 0) & (dh > 0)
        assert np.median(np.abs(dg - dh)[seen]) < 1e-3


def test_one_habitat_render_per_frame_for_every_mount_point(apartment_dataset):
    scene = loader.load(apartment_dataset, "apt_test_110000")
    sensors = [SensorSpec("front", "depth", (16, 16), 90.0, (0.0, 1.25, 0.0)),
               SensorSpec("low", "depth", (16, 16), 90.0, (0.0, 0.5, 0.0)),
               SensorSpec("rgb", "rgb", (16, 16), 90.0, (0.0, 1.25, 0.0))]
    sim = Simulator(scene, SimulatorConfig(sensors=sensors, backend="habitat"))
    calls = []
    real = sim.backend._sim.get_sensor_observations
    sim.backend._sim.get_sensor_observations = lambda *a, **k: calls.append(1) or real(*a, **k)
    position, heading = _poses(scene, 1)[0]
    sim.set_agent_state(position, heading)
    obs = sim.get_observations()
    assert len(calls) == 1 and {"front", "low", "rgb"} <= set(obs)
    # each mount point is where it was put: the low camera sees the floor nearer below the horizon
    gl = Simulator(scene, SimulatorConfig(sensors=sensors, backend="gl"))
    gl.set_agent_state(position, heading)
    ref = gl.get_observations()
    for uuid in ("front", "low"):
        seen = (obs[uuid] > 0) & (ref[uuid] > 0)
        assert np.median(np.abs(obs[uuid] - ref[uuid])[seen]) < 1e-3
    sim.close()
    gl.close()


def test_bad_scenes_raise_python_errors_not_segfaults(tmp_path, apartment_dataset):
    import shutil

    from envs.render.habitat_backend import HabitatBackend
    from scenes.generator import generate_scene

    cfg = SimulatorConfig(resolution=(16, 16), sensor_types=("depth",), backend="habitat")
    with pytest.raises(ValueError, match="exists only in memory"):
        HabitatBackend(generate_scene(110000, split="test"), cfg)
    lonely = tmp_path / "lonely"
    shutil.copytree(apartment_dataset / "scenes", lonely / "scenes")  # an instance without its dataset config
    scene = loader.load(apartment_dataset, "apt_test_110000")
    scene.source = str(next((lonely / "scenes").rglob("*.scene_instance.json")))
    with pytest.raises(ValueError, match="needs its \\*.scene_dataset_config.json"):
        HabitatBackend(scene, cfg)
    scene.source = str(tmp_path / "gone.glb")
    with pytest.raises(FileNotFoundError, match="gone.glb does not exist"):
        HabitatBackend(scene, cfg)
    with pytest.raises(FileNotFoundError, match="habitat_scene_dataset: no file"):
        HabitatBackend(scene, SimulatorConfig(resolution=(16, 16), backend="habitat",
                                              habitat_scene_dataset=str(tmp_path / "none.json")))


@needs_assets
def test_a_scene_without_semantics_warns():
    scene = loader.load(ASSETS / "scenes" / "simple_room.glb")
    with pytest.warns(UserWarning, match="no semantic annotation"):
        sim = Simulator(scene, SimulatorConfig(resolution=(16, 16), sensor_types=("rgb", "semantic"), backend="habitat"))
    sim.close()


@needs_assets
def test_a_scaled_stage_warns_under_habitat_sim_0_2():
    stage = ASSETS / "scenes" / "stage_floor1.stage_config.json"
    if not stage.is_file() or not habitat_sim.__version__.startswith("0.2."):
        pytest.skip("needs habitat-sim 0.2.x and the scaled test stage")
    scene = loader.load(stage)
    with pytest.warns(UserWarning, match=r"ignores the stage config's scale \[2.0, 2.0, 2.0\]"):
        sim = Simulator(scene, SimulatorConfig(resolution=(16, 16), sensor_types=("depth",), backend="habitat"))
    sim.close()
