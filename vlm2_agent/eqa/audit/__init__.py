"""The benchmark's proof that its answers need the video: blind models, bias pruning, the oracle.

* :mod:`.features` - what a blind model may read (question text and options, parsed);
* :mod:`.blind` - text-only random forest and bag-of-words models, fit on train or TsT on test;
* :mod:`.baselines` - the references: expected chance, the best constant;
* :mod:`.prune` - iterative bias pruning, the last step of ``vlm2-eqa-build``;
* :mod:`.oracle` - answers from the text plus the scene annotations and episode log;
* :mod:`.report` - the audit table with bootstrap intervals, plots, and :func:`audit_split`.

Example (shell)::

    vlm2-eqa-audit                                  # data/eqa: test audited, blind models fit on train
    vlm2-eqa-audit compare_root=data_v1/eqa         # the same table for an older build beside it
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .prune import PruneConfig, prune_bias
from .report import audit, markdown


def split_loader(data_root: str | Path, split: str, scenes_root: str | Path):
    """``load(question) -> (scene, episode log)`` for a built split (cached per scene and episode)."""
    import json

    import scenes

    from ..store import EpisodeStore

    manifest = json.loads((Path(data_root) / split / "manifest.json").read_text())
    dataset_dir = Path(scenes_root) / manifest["scene_dataset"]
    store = EpisodeStore(Path(data_root) / split / "episodes")
    cache_scene: dict[str, Any] = {}
    cache_log: dict[str, Any] = {}

    def load(q):
        if q.scene_id not in cache_scene:
            cache_scene[q.scene_id] = scenes.load(dataset_dir, scene_id=q.scene_id)
        if q.episode_id not in cache_log:
            cache_log[q.episode_id] = store.log(q.episode_id)
        return cache_scene[q.scene_id], cache_log[q.episode_id]

    return load, manifest


def audit_split(data_root: str | Path, split: str = "test", train_split: str = "train",
                scenes_root: str | Path = "data/scenes", with_oracle: bool = True, accept_versions=("v2",),
                folds: int = 5, reps: int = 1000, seed: int = 0, progress: bool = True) -> dict[str, Any]:
    """:func:`~.report.audit` of ``<data_root>/<split>`` with blind models fit on ``train_split``."""
    from ..question import load_jsonl
    from ..questions.common import GenConfig
    from .oracle import oracle_replies

    root = Path(data_root)
    for s in (split, train_split):
        if not (root / s / "questions.jsonl").is_file():
            raise FileNotFoundError(f"{root / s / 'questions.jsonl'}: missing; build it with vlm2-eqa-build eqa.split={s}")
    test = load_jsonl(root / split / "questions.jsonl", accept_versions)
    train = load_jsonl(root / train_split / "questions.jsonl", accept_versions)
    oracle = None
    if with_oracle:
        load, manifest = split_loader(root, split, scenes_root)
        gen = GenConfig(**manifest.get("config", {}).get("gen", {}))
        oracle = lambda qs: oracle_replies(qs, load, gen)  # noqa: E731
    return audit(test, train, oracle, folds=folds, reps=reps, seed=seed, progress=progress)


__all__ = ["PruneConfig", "audit", "audit_split", "markdown", "prune_bias", "split_loader"]
