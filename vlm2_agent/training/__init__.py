"""Training VLM2 on the simulated EQA benchmark, in stages: :mod:`.dense` (stage 1, the perception
from dense simulator labels), :mod:`.features` (stage 2, its features cached), :mod:`.trainer`
(stage 3, memory and LM on the cache; or end to end from frames), :mod:`.diagnostics` (does the
model use its video?), :mod:`.grounding` (automatic training questions), data pipeline,
checkpoints, evaluation.

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
           FeatureItem,
           VideoItem,
           answer_text,
           collate,
           subsample_indices,
)
from .dense import DenseConfig, evaluate_dense, train_dense
from .evaluation import answer_dataset, repeat_state
from .features import EpisodeFeatureDataset, FeatureCache, build_feature_cache
from .trainer import Trainer, build_model, load_perception, make_tokenizer, warmup_cosine

__all__ = ["DenseConfig", "EpisodeFeatureDataset", "EpisodeVideoDataset", "FeatureCache", "FeatureItem",
           "TrainConfig", "build_feature_cache", "evaluate_dense", "load_perception", "train_dense", "Trainer", "VideoItem", "answer_dataset", "answer_text",
           "build_model", "collate", "load_checkpoint", "make_tokenizer", "plot_curves", "read_metrics",
           "repeat_state", "save_checkpoint", "subsample_indices", "warmup_cosine"]
