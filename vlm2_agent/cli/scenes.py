"""``vlm2-scenes``: build the procedural apartment dataset with Hydra (config ``configs/scenes.yaml``).

Example (shell)::

    vlm2-scenes scene.num_scenes.train=10 scene.splits=[train] logger=none
"""

from __future__ import annotations

from omegaconf import DictConfig

from scenes.config import SceneDatasetConfig
from vlm2_agent.cli import abs_path, run_logger, vlm2_app


def build(cfg: DictConfig, progress: bool = True) -> dict:
    """Build the splits named in ``cfg.scene.splits``; returns :func:`scenes.writer.write_dataset`'s summary."""
    from scenes.writer import write_dataset

    sc = SceneDatasetConfig.from_config(cfg.scene)
    return write_dataset(abs_path(sc.root), sc.counts(), name=sc.name, spec=sc.spec(), num_rooms=sc.num_rooms,
                         write_maps=sc.maps, progress=progress, use_cache=sc.cache)


@vlm2_app("scenes")
def main(cfg: DictConfig) -> None:
    with run_logger(cfg) as (_, logger):
        summary = build(cfg)
        secs = summary["seconds"]
        mean = sum(secs) / len(secs) if secs else 0.0
        logger.log({"scenes/built": summary["built"], "scenes/cached": summary["cached"],
                    "scenes/seconds_per_scene": mean})
    d = summary["dataset_dir"]
    print(f"built {summary['built']} scenes, {summary['cached']} unchanged (cached)"
          + (f", {mean:.2f} s/scene" if secs else ""))
    print(f"dataset config: {d / (cfg.scene.name + '.scene_dataset_config.json')}")
    for split, ids in summary["splits"].items():
        print(f"  {split}: {len(ids)} scenes")
    print(f"stages: {d / 'stages'}   semantics: {d / 'semantics'}   maps: {d / 'maps'}   splits: {d / 'splits.json'}")


if __name__ == "__main__":
    main()
