"""Is what a video shows in its cached stage-1 features? A presence probe that needs no training.

    python experiments/probe_presence.py --stage1 outputs/study/stage1/oracle --split test

For every episode of the split: which object categories appear in its kept frames (an instance
covering at least 20 pixels of one kept frame; the episode log and the scene annotations say so),
and, per category, the largest probability the stage-1 category head gives it over all tokens of
all kept frames (read from the feature cache). Printed: the ROC AUC of that score per category and
its median. A high AUC says the perception saw the object and the memory had it to store; a
stage-3 model that still answers counts from the text is limited by what it learned to read, not
by what it was given.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch


def main() -> None:
    from safetensors.torch import load_file
    from sklearn.metrics import roc_auc_score

    from envs.gym.objectnav import default_categories
    from vlm2_agent.eqa.audit import split_loader
    from vlm2_agent.model import VLM2Model
    from vlm2_agent.training.data import EpisodeVideoDataset
    from vlm2_agent.training.features import EpisodeFeatureDataset, build_feature_cache
    from vlm2_agent.training.grounding import instance_categories, seen_counts

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--stage1", type=Path, default=Path("outputs/study/stage1/oracle"))
    p.add_argument("--data-root", type=Path, default=Path("data/eqa"))
    p.add_argument("--scenes-root", type=Path, default=Path("data/scenes"))
    p.add_argument("--split", default="test")
    p.add_argument("--stride", type=int, default=8)
    a = p.parse_args()
    torch.set_num_threads(1)
    heads = load_file(str(a.stage1 / "dense_heads.safetensors"))
    model = VLM2Model.from_pretrained(str(a.stage1 / "model"))
    videos = EpisodeVideoDataset(a.data_root / a.split, a.stride)
    ds = EpisodeFeatureDataset(videos, build_feature_cache(model, videos, a.data_root / "features" / a.split))
    load, _ = split_loader(a.data_root, a.split, a.scenes_root)
    cats = list(default_categories())
    scores, present = [], []
    for i in range(len(ds)):
        item = ds[i]
        scene, log = load(item.questions[0])
        seen = seen_counts(instance_categories(scene), log.visible, item.frame_indices)
        probs = torch.softmax(item.fused @ heads["category.weight"].T + heads["category.bias"], -1)[..., 1:]
        scores.append(probs.flatten(0, 1).max(0).values.numpy())
        present.append([c in seen for c in cats])
    x, y = np.array(scores), np.array(present)
    rows = [(c, y[:, k].mean(), roc_auc_score(y[:, k], x[:, k])) for k, c in enumerate(cats) if 0 < y[:, k].mean() < 1]
    print("| category | videos showing it | presence AUC |\n|---|---|---|")
    for c, share, auc in sorted(rows, key=lambda r: -r[2]):
        print(f"| {c} | {100 * share:.0f}% | {auc:.3f} |")
    aucs = [r[2] for r in rows]
    print(f"\n{a.split}: {len(ds)} episodes, {len(rows)} categories; presence AUC median {np.median(aucs):.3f}, "
          f"mean {np.mean(aucs):.3f}")


if __name__ == "__main__":
    main()
