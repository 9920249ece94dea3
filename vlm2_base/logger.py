"""Experiment logging: wandb (offline by default) or nothing, chosen by the ``logger`` config group."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping


class NullLogger:
    """Accepts every call and records nothing (``logger=none``)."""

    def log(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        pass

    def finish(self) -> None:
        pass


class WandbLogger:
    """A thin wrapper over a wandb run. ``mode: offline`` writes under ``run_dir``, no network."""

    def __init__(self, cfg: Mapping[str, Any], run_dir: str | Path, run_config: Mapping[str, Any] | None = None):
        import wandb

        os.environ.setdefault("WANDB_SILENT", "true")
        Path(run_dir).mkdir(parents=True, exist_ok=True)
        self._run = wandb.init(
            project=cfg.get("project", "vlm2"),
            entity=cfg.get("entity"),
            mode=cfg.get("mode", "offline"),
            tags=list(cfg.get("tags") or []),
            dir=str(run_dir),
            config=dict(run_config or {}),
            reinit="finish_previous",
        )

    def log(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        self._run.log(dict(metrics), step=step)

    def finish(self) -> None:
        self._run.finish()


def make_logger(cfg: Mapping[str, Any], run_dir: str | Path, run_config: Mapping[str, Any] | None = None):
    """Build the logger named by ``cfg.name`` (``wandb`` or ``none``)."""
    name = cfg.get("name", "none")
    if name == "none":
        return NullLogger()
    if name == "wandb":
        return WandbLogger(cfg, run_dir, run_config)
    raise ValueError(f"logger.name must be 'wandb' or 'none', got {name!r}")
