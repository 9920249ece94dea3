"""Can a stage-3 model read its memory at all? Its grounding questions on held-out test videos.

    python experiments/grounding_check.py --run outputs/study/mem_working_ground-s0

For every test episode, the automatic counting questions of ``vlm2_agent.training.grounding``
(seen and unseen categories, 24 per video, the same seed for every run) answered from the
episode's own cached features and from another scene's video of the same horizon. Printed: exact
accuracy of the count, accuracy of "is it there" (count > 0 or not) with both videos, and the share
of identical replies. A model that reads its memory answers presence from its own video better
than from another scene's. Also printed: how well the memory prefix itself, in the LM's input
space, says which categories a video shows (ROC AUC over videos x categories of the best cosine
match between a prefix token and the category's word embedding, as the presence alignment loss
of ``vlm2_agent.training.alignment`` scores it; near 0.5 for a model trained without that loss).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch


def main() -> None:
    from sklearn.metrics import roc_auc_score

    from envs.gym.objectnav import default_categories
    from vlm2_agent.eqa.audit import split_loader
    from vlm2_agent.model import VLM2Streamer
    from vlm2_agent.training.alignment import category_embeddings, category_token_ids, presence_logits
    from vlm2_agent.training.data import EpisodeVideoDataset
    from vlm2_agent.training.diagnostics import other_scene_partner
    from vlm2_agent.training.evaluation import repeat_state
    from vlm2_agent.training.features import EpisodeFeatureDataset, build_feature_cache
    from vlm2_agent.training.grounding import grounding_questions, instance_categories, seen_counts

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", type=Path, required=True)
    p.add_argument("--data-root", type=Path, default=Path("data/eqa"))
    p.add_argument("--scenes-root", type=Path, default=Path("data/scenes"))
    p.add_argument("--per-video", type=int, default=24)
    a = p.parse_args()
    torch.set_num_threads(1)
    cfg = json.loads((a.run / "train_config.json").read_text())["train"]
    streamer = VLM2Streamer.from_pretrained(a.run / "model", device="cpu")
    model, tok = streamer.model.eval(), streamer.tokenizer
    videos = EpisodeVideoDataset(a.data_root / "test", cfg["stride"])
    ds = EpisodeFeatureDataset(videos, build_feature_cache(model, videos, a.data_root / "features" / "test"))
    load, _ = split_loader(a.data_root, "test", a.scenes_root)
    items = [ds[i] for i in range(len(ds))]
    partner = other_scene_partner([it.episode_id for it in items], [it.questions[0].scene_id for it in items],
                                  [it.questions[0].horizon for it in items])
    rows = {"own": [], "other": []}
    truths = []
    categories = default_categories()
    with torch.no_grad():
        words = category_embeddings(model.lm.get_input_embeddings(), category_token_ids(tok, categories))
    scores, present = [], []
    for i, item in enumerate(items):
        scene, log = load(item.questions[0])
        counts = seen_counts(instance_categories(scene), log.visible, item.frame_indices)
        present += [counts.get(c, 0) > 0 for c in categories]
        qs = grounding_questions(item.episode_id, instance_categories(scene),
                                 log.visible, item.frame_indices, default_categories(), a.per_video,
                                 np.random.default_rng([0, i]))
        truths += [q.ground_truth for q in qs]
        for name, video in (("own", item), ("other", items[partner[i]])):
            with torch.no_grad():
                state = model.init_memory(1)
                model.observe_encoded(state, video.fused[None], None if video.coords is None else video.coords[None])
                if name == "own":
                    scores += presence_logits(*model.memory_prefix(state), words)[0].tolist()
                rows[name] += model.generate_answers(repeat_state(state, len(qs)), tok, [q.prompt() for q in qs])
    truth = np.array(truths)

    def number(r):
        try:
            return float(r.split()[0])
        except (ValueError, IndexError):
            return -1.0

    for name, replies in rows.items():
        pred = np.array([number(r) for r in replies])
        print(f"{name:>5} video: count exact {np.mean(pred == truth):.3f}, present-or-not "
              f"{np.mean((pred > 0) == (truth > 0)):.3f} (truth present {np.mean(truth > 0):.2f})")
    print(f"memory prefix vs category words, presence ROC AUC {roc_auc_score(present, scores):.3f} "
          f"({np.mean(present):.2f} of video x category pairs present)")
    print(f"identical replies own vs other: {np.mean([x == y for x, y in zip(rows['own'], rows['other'])]):.3f}; "
          f"{len(truth)} questions, {len(items)} videos")


if __name__ == "__main__":
    main()
