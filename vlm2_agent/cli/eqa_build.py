"""``vlm2-eqa-build``: build one EQA split (config ``configs/eqa_build.yaml``).

Scenes are taken from (or written to) the ``scene`` group's dataset; videos, questions and a
manifest go to ``<eqa.out_root>/<eqa.split>/``. Re-running resumes: complete episodes are skipped.

Example (shell)::

    python -m vlm2_agent.cli.eqa_build eqa.split=test
    python -m vlm2_agent.cli.eqa_build eqa.split=train eqa.num_scenes.train=4 eqa.resolution=[96,96]
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from vlm2_agent.cli import abs_path, run_logger, vlm2_app


def build_config(cfg: DictConfig):
    """A :class:`~vlm2_agent.eqa.build.BuildConfig` from the ``eqa`` and ``scene`` groups."""
    from scenes.config import SceneDatasetConfig
    from vlm2_agent.eqa.build import BuildConfig

    eqa = OmegaConf.to_container(cfg.eqa, resolve=True)
    eqa.pop("progress", None)
    eqa.pop("workers", None)
    n = eqa.pop("num_scenes")
    if not isinstance(eqa.get("split"), str):
        raise ValueError(f"eqa.split: expected one of train, val, test, got {eqa.get('split')!r}")
    if isinstance(n, dict):
        if eqa.get("split") not in n:
            raise ValueError(f"eqa.num_scenes: no entry for split {eqa.get('split')!r} (have {sorted(n)})")
        n = n[eqa["split"]]
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"eqa.num_scenes.{eqa['split']}: expected a positive int, got {n!r}")
    out_root = eqa.get("out_root", "data/eqa")
    if not isinstance(out_root, str) or not out_root:
        raise ValueError(f"eqa.out_root: expected a folder path, got {out_root!r}")
    sc = SceneDatasetConfig.from_config(cfg.scene)
    return BuildConfig.from_mapping(
        eqa, num_scenes=n, out_root=str(abs_path(out_root)), scenes_root=str(abs_path(sc.root)),
        dataset_name=sc.name, num_rooms=sc.num_rooms, write_maps=sc.maps, scene_spec=sc.spec())


@vlm2_app("eqa_build")
def main(cfg: DictConfig) -> None:
    from vlm2_agent.eqa.build import build_split, format_counts

    bcfg = build_config(cfg)
    with run_logger(cfg) as (_, logger):
        m = build_split(bcfg, progress=bool(cfg.eqa.get("progress", True)), workers=int(cfg.eqa.get("workers", 1)))
        logger.log({"eqa/questions": m["num_questions"], "eqa/episodes_recorded": m["episodes_recorded"],
                    "eqa/seconds": m["seconds"]["total"]})
    out = Path(bcfg.out_root) / bcfg.split
    print(format_counts(m["counts"]))
    print(f"{m['num_questions']} questions from {len(m['episodes'])} episodes of {len(m['scenes'])} scenes "
          f"({m['episodes_recorded']} recorded, {m['episodes_skipped']} already complete) "
          f"in {m['seconds']['total']:.0f} s; {m['num_candidates']} candidates, {m['num_selected']} after "
          f"balancing, {m['num_questions']} after bias pruning")
    print(f"questions: {out / 'questions.jsonl'}   episodes: {out / 'episodes'}   manifest: {out / 'manifest.json'}")


if __name__ == "__main__":
    main()
