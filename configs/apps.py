"""Typed schemas of the console scripts' own top-level keys (``seed``, ``fps``, ``resume``, ...).

Each app's yaml names its schema first in ``defaults``, so Hydra refuses an unknown top-level key
and a wrongly typed value (``seed=abc``) with the key's name before the app runs. Config groups are
``Any`` here: their own schemas (``configs/__init__.py``) type them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional


@dataclass
class TrainApp:
    """``vlm2-train`` (train.yaml)."""

    train: Any = None
    model: Any = None
    memory: Any = None
    logger: Any = None
    run_dir: str = "outputs/train/run"
    export_dir: Optional[str] = None


@dataclass
class TrainPolicyApp:
    """``vlm2-train-policy`` (train_policy.yaml)."""

    policy: Any = None
    logger: Any = None
    seed: int = 0
    progress: bool = True
    verbose: int = 1
    tensorboard: bool = False
    resume: Optional[str] = None
    trusted: bool = False
    random_baseline_episodes: int = 20
    run_name: str = "run"


@dataclass
class EpisodeApp:
    """``vlm2-episode`` (episode.yaml)."""

    scene: Any = None
    sim: Any = None
    task: Any = None
    logger: Any = None
    seed: int = 0
    scene_key: Any = None  # a scene seed (int), a dataset scene id or a file path
    fps: float = 4.0


@dataclass
class EqaEvalApp:
    """``vlm2-eqa-eval`` (eqa_eval.yaml)."""

    logger: Any = None
    split: str = "test"
    data_root: str = "data/eqa"
    questions: Optional[str] = None
    predictions: Optional[str] = None
    benchmark: Optional[str] = None
    baseline: Optional[str] = None
    train_questions: Optional[str] = None
    seed: int = 0
    allow_missing: bool = False
    name: Optional[str] = None
    out_dir: Optional[str] = None


@dataclass
class EqaExportApp:
    """``vlm2-eqa-export`` (eqa_export.yaml)."""

    logger: Any = None
    split: str = "test"
    data_root: str = "data/eqa"
    out_dir: str = "exports/lmms_eval/test"
    progress: bool = True


@dataclass
class EqaAuditApp:
    """``vlm2-eqa-audit`` (eqa_audit.yaml)."""

    logger: Any = None
    data_root: str = "data/eqa"
    scenes_root: str = "data/scenes"
    split: str = "test"
    train_split: str = "train"
    oracle: bool = True
    compare_root: Optional[str] = None
    compare_version: str = "v1"
    folds: int = 5
    bootstrap: int = 1000
    seed: int = 0
    out_dir: Optional[str] = None


APP_SCHEMAS = {"train_app": TrainApp, "train_policy_app": TrainPolicyApp, "episode_app": EpisodeApp,
               "eqa_eval_app": EqaEvalApp, "eqa_export_app": EqaExportApp, "eqa_audit_app": EqaAuditApp}
