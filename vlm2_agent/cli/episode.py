"""``vlm2-episode``: record one exploration episode (the expert's tour) in a held-out scene.

Writes the mp4 (RGB | depth | semantic | map), the EpisodeLog and a top-down map with the trajectory
into the run directory. Example (shell)::

    vlm2-episode task.tour=long seed=3 sim.resolution=[256,256]

From Python (``make demo`` does this)::

    from hydra import compose, initialize_config_module
    with initialize_config_module("configs", version_base="1.3"):
        cfg = compose("episode", overrides=["task.tour=short", "logger=none"])
    paths = run_episode(cfg, run_dir="outputs/ep")   # {'video', 'episode_log', 'topdown'}
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from vlm2_agent.cli import vlm2_app
from vlm2_base.io import atomic_savefig

os.environ.setdefault("EGL_PLATFORM", "surfaceless")

ENV_KEYS = ("split", "scene_seeds", "num_scenes", "num_rooms", "dataset_path", "sensors", "max_episode_steps")


def make_explore_env(cfg: DictConfig):
    """The Explore env of ``cfg.task`` / ``cfg.sim`` (semantic always rendered: the log needs it)."""
    from envs.gym.explore import ExploreEnv

    task = OmegaConf.to_container(cfg.task, resolve=True)
    sim = OmegaConf.to_container(cfg.sim, resolve=True)
    if sim.get("sensors") is None and "semantic" not in (sim.get("sensor_types") or []):
        sim["sensor_types"] = [*(sim.get("sensor_types") or ["rgb", "depth"]), "semantic"]
    kwargs: dict[str, Any] = {k: task[k] for k in ENV_KEYS if task.get(k) is not None}
    return ExploreEnv(tour=task.get("tour", "mid"), expert=True, sim=sim, **kwargs)


def save_topdown(scene, positions: np.ndarray, path: Path, occupancy=None) -> Path:
    """The scene's top-down map (scenes.topdown) with the trajectory, written atomically as PNG;
    ``occupancy`` (the nav grid's floor and obstacles) draws a scene that has no rooms."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from scenes.topdown import draw_topdown

    fig, ax = plt.subplots(figsize=(6, 6), dpi=120)
    draw_topdown(ax, scene, labels=True, occupancy=occupancy)
    ax.plot(positions[:, 0], positions[:, 2], "-", color="crimson", lw=1.2, label="trajectory")
    ax.plot(*positions[0, [0, 2]], "o", color="green", ms=6, label="start")
    ax.plot(*positions[-1, [0, 2]], "s", color="navy", ms=6, label="end")
    ax.legend(loc="upper right", fontsize=6)
    ax.set_title(f"{scene.scene_id}: {len(positions) - 1} steps", fontsize=8)
    return atomic_savefig(fig, path, bbox_inches="tight")


def run_episode(cfg: DictConfig, run_dir: str | Path | None = None) -> dict[str, Path]:
    """Run the expert's tour; returns the written paths: ``video``, ``episode_log``, ``topdown``."""
    from tqdm import tqdm

    from envs.episode_log import EpisodeLog
    from envs.wrappers import RecordEpisode
    from vlm2_base.logger import make_logger

    if run_dir is None:
        from hydra.core.hydra_config import HydraConfig

        run_dir = HydraConfig.get().runtime.output_dir
    fps = cfg.fps
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not fps > 0:
        raise ValueError(f"fps={fps!r}: expected a positive number of frames per second (the video's rate)")
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    logger = make_logger(cfg.logger, run_dir, OmegaConf.to_container(cfg, resolve=True))
    env = RecordEpisode(make_explore_env(cfg), run_dir, fps=float(cfg.fps))
    options = {} if cfg.get("scene_key") is None else {"scene": cfg.scene_key}
    _, info = env.reset(seed=int(cfg.seed), options=options)
    base = env.unwrapped
    with tqdm(total=base.config.max_episode_steps, desc=f"explore {base.scene.scene_id}", unit="step") as bar:
        while True:
            _, _, term, trunc, info = env.step(base.expert_action())
            bar.update(1)
            if term or trunc:
                break
    scene = base.scene
    occupancy = None if scene.rooms else base.navgrid.occupancy()
    env.close()
    video, log_dir = env.written[-1]
    log = EpisodeLog.load(log_dir)
    topdown = save_topdown(scene, log.positions, run_dir / "topdown.png", occupancy)
    logger.log({"steps": log.num_frames - 1, "rooms_visited": info["rooms_visited"],
                "num_rooms": info["num_rooms"], "coverage_m2": info["coverage_m2"]})
    logger.finish()
    return {"video": video, "episode_log": log_dir, "topdown": topdown}


@vlm2_app("episode")
def main(cfg: DictConfig) -> None:
    for name, path in run_episode(cfg).items():
        print(f"{name}: {path}")


if __name__ == "__main__":
    main()
