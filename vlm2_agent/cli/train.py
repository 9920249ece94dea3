"""``vlm2-train``: train VLM2 on the EQA episode store and score it on the held-out test scenes.

Examples (shell)::

    vlm2-train train=cpu_small logger=none                       # VLM2: dual memory, oracle geometry
    vlm2-train train=cpu_small memory=uniform logger=none        # an ablation
    vlm2-train train=cpu_small train.stop_after=100              # stop early; the same command resumes
    torchrun --nproc_per_node=8 -m vlm2_agent.cli.train train=gpu model.text_model_path=/models/qwen2

Writes ``<run_dir>/{metrics.jsonl, checkpoints/last.pt, model/, eval/test.*}`` (see
:mod:`vlm2_agent.training.trainer`) and prints the test table.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from vlm2_agent.cli import abs_path, vlm2_app


def run(cfg: DictConfig) -> dict:
    """Train (or resume) the run described by a composed ``train.yaml`` config; returns the summary."""
    from vlm2_agent.eqa.metrics import format_table
    from vlm2_agent.model.configuration_vlm2 import config_from_hydra
    from vlm2_agent.training import TrainConfig, Trainer
    from vlm2_base.logger import make_logger

    run_dir = abs_path(cfg.run_dir)
    tcfg = TrainConfig.from_mapping(OmegaConf.to_container(cfg.train, resolve=True))
    config_from_hydra(cfg.model, cfg.memory)  # a bad model / memory key fails before any data is read
    resolved = OmegaConf.to_container(cfg, resolve=True)
    trainer = Trainer(tcfg, cfg.model, cfg.memory, run_dir=run_dir,
                      run_config={"model": resolved["model"], "memory": resolved["memory"]})
    logger = make_logger(cfg.logger, run_dir, resolved) if trainer.is_main else None
    if logger is not None:
        trainer.logger = logger
    try:
        summary = trainer.fit()
    finally:
        if logger is not None:
            logger.finish()
    if "test" in summary:
        print(format_table(summary["test"]["table"]))
    if cfg.get("export_dir") and "model_dir" in summary:
        dst = Path(hydra.utils.to_absolute_path(cfg.export_dir))
        dst.mkdir(parents=True, exist_ok=True)
        for f in Path(summary["model_dir"]).iterdir():
            shutil.copy2(f, dst / f.name)
        summary["export_dir"] = str(dst)
    print(f"[train] {run_dir}: step {summary['step']}, finished={summary['finished']}")
    return summary


@vlm2_app("train")
def main(cfg: DictConfig) -> None:
    run(cfg)


if __name__ == "__main__":
    main()
