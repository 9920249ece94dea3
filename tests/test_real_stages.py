"""Real Habitat stages without this project's annotations: an exploration episode and its map."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("EGL_PLATFORM", "surfaceless")

ASSETS = Path(__file__).resolve().parents[1].parent / "shared" / "habitat-test-assets"
pytestmark = pytest.mark.skipif(not ASSETS.is_dir(), reason=f"Habitat test assets not found at {ASSETS}")


@pytest.mark.parametrize("stage", ["simple_room.glb", "stage_floor1.glb"])
def test_explore_episode_and_map_on_a_real_stage(stage, tmp_path):
    import imageio.v3 as iio
    from hydra import compose, initialize_config_module

    from envs.episode_log import EpisodeLog
    from vlm2_agent.cli.episode import run_episode

    with initialize_config_module(config_module="configs", version_base="1.3"):
        cfg = compose("episode", overrides=[f"scene_key={ASSETS / 'scenes' / stage}", "task.tour=120", "logger=none",
                                            "sim.resolution=[32,32]"])
    paths = run_episode(cfg, tmp_path)
    log = EpisodeLog.load(paths["episode_log"])
    assert log.num_frames == 121  # the whole coverage tour, not one step
    walked = np.abs(np.diff(log.positions[:, [0, 2]], axis=0)).sum()
    assert walked > 5.0 and len({tuple(np.round(p[[0, 2]], 1)) for p in log.positions}) > 20
    # the map shows the floor (light grey), obstacles and the trajectory (crimson), not a blank page
    img = iio.imread(paths["topdown"])[..., :3].astype(int)
    grey = (np.abs(img - 224).max(-1) < 8).mean()
    crimson = ((img[..., 0] > 180) & (img[..., 1] < 60) & (img[..., 2] < 90)).sum()
    assert grey > 0.05 and crimson > 50
    frames = np.stack(list(iio.imiter(paths["video"])))
    assert frames.shape[0] == 121


def test_coverage_points_span_the_floor():
    from envs.expert import COVERAGE_SPACING, coverage_points
    from envs.navigation import NavGrid
    from scenes.loader import load

    grid = NavGrid.from_scene(load(ASSETS / "scenes" / "simple_room.glb"))
    pts = coverage_points(grid)
    cells = grid.largest_component_cells
    world = grid.grid_to_world(cells)[:, [0, 2]]
    # every walkable cell lies within one spacing square's diagonal of a waypoint
    d = np.min(np.linalg.norm(world[:, None] - pts[None, :, [0, 2]], axis=-1), axis=1)
    assert d.max() <= COVERAGE_SPACING * np.sqrt(2) + 1e-9
    assert all(grid.is_navigable(p) for p in pts)


def test_episode_refuses_a_bad_fps_before_recording(tmp_path):
    from hydra import compose, initialize_config_module

    from vlm2_agent.cli.episode import run_episode

    with initialize_config_module(config_module="configs", version_base="1.3"):
        cfg = compose("episode", overrides=["fps=0", "logger=none", "task.tour=10"])
    with pytest.raises(ValueError, match="fps=0(\.0)?: expected a positive number"):
        run_episode(cfg, tmp_path / "run")
    assert not (tmp_path / "run").exists()
