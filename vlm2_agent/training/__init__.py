"""Training VLM2 on the simulated EQA benchmark, in stages: :mod:`.dense` (stage 1, the perception
from dense simulator labels), :mod:`.features` (stage 2, its features cached), :mod:`.trainer`
(stage 3, memory and LM on the cache; or end to end from frames), :mod:`.diagnostics` (does the
model use its video?), :mod:`.grounding` (automatic training questions), :mod:`.alignment`
(presence alignment loss), data pipeline, checkpoints, evaluation.

The names below are imported on first use (PEP 562): :mod:`.config` loads without torch.

Example:
    >>> from vlm2_agent.training import TrainConfig, warmup_cosine
    >>> round(warmup_cosine(10, 100, 0.1)(0), 2), round(warmup_cosine(10, 100, 0.1)(100), 2)
    (0.1, 0.1)
"""

from importlib import import_module

_EXPORTS = {
    "load_checkpoint": "checkpoint",
    "save_checkpoint": "checkpoint",
    "TrainConfig": "config",
    "plot_curves": "curves",
    "read_metrics": "curves",
    "EpisodeVideoDataset": "data",
    "FeatureItem": "data",
    "VideoItem": "data",
    "answer_text": "data",
    "collate": "data",
    "subsample_indices": "data",
    "DenseConfig": "dense",
    "evaluate_dense": "dense",
    "train_dense": "dense",
    "answer_dataset": "evaluation",
    "repeat_state": "evaluation",
    "EpisodeFeatureDataset": "features",
    "FeatureCache": "features",
    "build_feature_cache": "features",
    "Trainer": "trainer",
    "build_model": "trainer",
    "load_perception": "trainer",
    "make_tokenizer": "trainer",
    "warmup_cosine": "trainer",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
