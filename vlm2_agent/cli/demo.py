"""``vlm2-demo`` (``make demo``): the main job, end to end on a fresh machine.

1. Builds the scene set (train/val/test apartments in the Habitat scene-dataset layout) unless cached,
   with a top-down map per scene.
2. Renders RGB | depth | semantic views of each scene's rooms.
3. Records a long exploration episode in a held-out test scene: mp4, EpisodeLog, top-down trajectory.
4. Question answering (``qa.enabled``): records a tour of that held-out scene at the training store's
   resolution, asks the EQA generator's questions about it, streams every ``qa.stride``-th frame into
   the shipped VLM2 checkpoint's memory, answers, and writes ``qa/qa_video.mp4`` (streamed frames,
   then one card per question: the model's answer, the truth, blind/frequency answers) and
   ``qa/qa_report.json`` and ``qa/qa_report.md`` (scores of VLM2 and the baselines on every question).

Example (shell)::

    vlm2-demo logger=none scene.num_scenes.train=2 task.tour=mid
"""

from __future__ import annotations

import os
from pathlib import Path

import hydra
from omegaconf import DictConfig, open_dict

from vlm2_agent.cli import vlm2_app

os.environ.setdefault("EGL_PLATFORM", "surfaceless")


def render_views(dataset_dir: Path, scene_ids: list[str], cfg: DictConfig) -> list[Path]:
    """One view sheet per scene under ``<dataset>/views/``."""
    from tqdm import tqdm

    import scenes
    from envs.config import SimulatorConfig
    from envs.views import save_room_views

    sim_cfg = SimulatorConfig(resolution=tuple(cfg.views.resolution), hfov=float(cfg.sim.hfov),
                              sensor_height=float(cfg.sim.sensor_height), sensor_types=("rgb", "depth", "semantic"))
    paths = []
    for scene_id in tqdm(scene_ids, desc="views", unit="scene"):
        scene = scenes.load(dataset_dir, scene_id)
        paths.append(save_room_views(scene, dataset_dir / "views" / f"{scene_id}.png", config=sim_cfg,
                                     max_rooms=int(cfg.views.max_rooms)))
    return paths


@vlm2_app("demo")
def main(cfg: DictConfig) -> None:
    from vlm2_agent.cli.episode import run_episode
    from vlm2_agent.cli.scenes import build

    out_dir = Path(hydra.utils.to_absolute_path(cfg.out_dir))
    summary = build(cfg)
    dataset_dir = Path(summary["dataset_dir"])
    scene_ids = [sid for ids in summary["splits"].values() for sid in ids]
    print(f"[demo] scenes: {summary['built']} built, {summary['cached']} cached -> {dataset_dir}")
    print(f"[demo] top-down maps: {dataset_dir / 'maps'}")

    views = render_views(dataset_dir, scene_ids, cfg)
    print(f"[demo] rendered views ({len(views)} sheets): {dataset_dir / 'views'}")

    with open_dict(cfg):
        cfg.task.dataset_path = str(dataset_dir)
    paths = run_episode(cfg, run_dir=out_dir / "episode")
    print("[demo] long exploration episode in a held-out scene:")
    for name, p in paths.items():
        print(f"         {name}: {p}")
    if cfg.qa.enabled:
        from envs.episode_log import EpisodeLog
        from vlm2_agent.cli.demo_episode import run_qa

        scene_id = EpisodeLog.load(paths["episode_log"]).scene_id
        qa = run_qa(cfg.qa, dataset_dir, scene_id, out_dir / "qa",
                    checkpoint=Path(hydra.utils.to_absolute_path(cfg.qa.checkpoint)))
        print("[demo] VLM2 question answering on the held-out scene:")
        for name, p in qa.items():
            print(f"         {name}: {p}")


if __name__ == "__main__":
    main()
