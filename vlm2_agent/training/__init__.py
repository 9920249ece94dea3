"""Training VLM2 on the simulated EQA benchmark: data pipeline, trainer, checkpoints, evaluation.

Example:
    >>> from vlm2_agent.training import TrainConfig, warmup_cosine
    >>> round(warmup_cosine(10, 100, 0.1)(0), 2), round(warmup_cosine(10, 100, 0.1)(100), 2)
    (0.1, 0.1)
"""

from .checkpoint import load_checkpoint, save_checkpoint
from .config import TrainConfig
from .curves import plot_curves, read_metrics
from .data import (
           EpisodeVideoDataset,
           VideoItem,
           answer_text,
           collate,
           subsample_indices,
)
from .evaluation import answer_dataset, repeat_state
from .trainer import Trainer, build_model, make_tokenizer, warmup_cosine

__all__ = ["EpisodeVideoDataset", "TrainConfig", "Trainer", "VideoItem", "answer_dataset", "answer_text",
           "build_model", "collate", "load_checkpoint", "make_tokenizer", "plot_curves", "read_metrics",
           "repeat_state", "save_checkpoint", "subsample_indices", "warmup_cosine"]
