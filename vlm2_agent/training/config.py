"""Trainer settings (the ``train`` Hydra group) as a typed dataclass with checked values.

Example:
    >>> cfg = TrainConfig.from_mapping({"max_steps": 10, "lr": 1e-3})
    >>> cfg.max_steps, cfg.stride
    (10, 8)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass
class TrainConfig:
    """Everything the trainer reads; see configs/train/*.yaml for the presets.

    Attributes:
        data_root: folder with one sub-folder per split (``<data_root>/<split>/episodes``).
        stride: keep every ``stride``-th frame of the 4 fps video (8: one frame per 2 s).
        max_steps: optimisation steps of the whole run (sets the cosine schedule).
        stop_after: stop (after checkpointing) once this many steps are done, as if killed; the next
            run with the same ``run_dir`` resumes. ``null``: run to ``max_steps``.
        videos_per_step: videos per step and process (the same frame count is needed to batch >1).
        questions_per_video: questions drawn per video and step (``null``: all of them).
        num_threads: ``torch.set_num_threads`` (tiny tensors on a busy 2-core CPU: 1 is fastest).
        bf16: bf16 autocast on CUDA (ignored on CPU).
        eval_every: evaluate on ``val_split`` every N steps (0: only at the end); eval_max_episodes
            caps those periodic evaluations; the final test evaluation uses every episode.
        perception: stage 3: the folder of a stage-1 model (``experiments/train_stage1.py``); its
            perception is copied in and frozen, and every split is read from a feature cache.
        feature_cache: where the caches live (``null``: ``<data_root>/features``).
        grounding_questions: per training video and step, this many automatic counting questions
            about the kept frames (:mod:`vlm2_agent.training.grounding`; 0: none); ``scenes_root``
            holds the scene dataset they read the categories from.
        presence_alignment: weight of the presence alignment loss
            (:mod:`vlm2_agent.training.alignment`: memory tokens vs the category words, labels from the
            episode log read as for the grounding questions; 0: off).
        resume: continue from ``<run_dir>/checkpoints/last.pt`` when it exists (false: start anew
            and overwrite it).
        diagnostics: the final test evaluation also answers with another scene's video and a blank
            one and writes ``eval/diagnostics.{md,json}`` (:mod:`vlm2_agent.training.diagnostics`).
    """

    name: str = "default"
    data_root: str = "data/eqa"
    train_split: str = "train"
    val_split: str | None = "val"
    test_split: str | None = "test"
    stride: int = 8
    cache_frames: bool = True
    max_steps: int = 300
    stop_after: int | None = None
    videos_per_step: int = 1
    questions_per_video: int | None = 32
    lr: float = 1e-3
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.98)
    warmup_steps: int = 20
    min_lr_ratio: float = 0.1
    grad_clip: float = 1.0
    seed: int = 0
    num_threads: int | None = 1
    device: str | None = None
    bf16: bool = True
    tokenizer_vocab_size: int = 512
    log_every: int = 10
    checkpoint_every: int = 50
    eval_every: int = 0
    eval_max_episodes: int | None = 12
    find_unused_parameters: bool = True
    progress: bool = True
    perception: str | None = None
    feature_cache: str | None = None
    diagnostics: bool = True
    grounding_questions: int = 0
    presence_alignment: float = 0.0
    scenes_root: str = "data/scenes"
    resume: bool = True

    @classmethod
    def from_mapping(cls, d: Mapping[str, Any]) -> TrainConfig:
        from vlm2_base.config import check_fields

        cfg = cls(**check_fields(cls, d, "train"))
        cfg.validate()
        return cfg

    def validate(self) -> TrainConfig:
        for name in ("stride", "max_steps", "videos_per_step", "log_every", "checkpoint_every",
                     "tokenizer_vocab_size"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"train.{name}={getattr(self, name)!r}: expected a positive int")
        if self.stop_after is not None and not 1 <= self.stop_after <= self.max_steps:
            raise ValueError(f"train.stop_after={self.stop_after}: expected null or 1..max_steps={self.max_steps}")
        if self.questions_per_video is not None and self.questions_per_video < 1:
            raise ValueError(f"train.questions_per_video={self.questions_per_video}: expected null or >= 1")
        if not self.lr > 0 or not 0 <= self.min_lr_ratio <= 1 or self.warmup_steps < 0 or self.grad_clip <= 0:
            raise ValueError(f"train: need lr > 0, 0 <= min_lr_ratio <= 1, warmup_steps >= 0, grad_clip > 0; got "
                             f"lr={self.lr}, min_lr_ratio={self.min_lr_ratio}, warmup_steps={self.warmup_steps}, "
                             f"grad_clip={self.grad_clip}")
        if self.eval_every < 0:
            raise ValueError(f"train.eval_every={self.eval_every}: expected >= 0 (0: only at the end)")
        if not self.presence_alignment >= 0:
            raise ValueError(f"train.presence_alignment={self.presence_alignment}: expected a weight >= 0 (0: off)")
        if self.num_threads is not None and self.num_threads < 1:
            raise ValueError(f"train.num_threads={self.num_threads}: expected null or >= 1")
        return self

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        return d


__all__ = ["TrainConfig"]
