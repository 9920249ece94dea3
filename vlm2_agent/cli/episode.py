"""``vlm2-episode``: record one exploration episode (the expert's tour) in a held-out scene.

Writes the mp4 (RGB | depth | semantic | map), the EpisodeLog and a top-down map with the trajectory
into the run directory. Example (shell)::

    vlm2-episode task.tour=long seed=3 sim.resolution=[256,256]
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig


@hydra.main(config_path="pkg://configs", config_name="episode", version_base="1.3")
def main(cfg: DictConfig) -> None:
    from envs.episode_runner import run_episode

    for name, path in run_episode(cfg).items():
        print(f"{name}: {path}")


if __name__ == "__main__":
    main()
