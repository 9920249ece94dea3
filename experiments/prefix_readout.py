"""Which limit binds: can VLM2's language model learn to read a prefix at all, in the stage-3 budget?

    python experiments/prefix_readout.py --variants words frames frames_std soft_words --steps 1500

A fresh LM of the shipped size (VLM2Config's text tower: 2 layers, width 128) is trained, alone, on
the grounding questions of ``vlm2_agent.training.grounding`` ("How many <category>(s) appear in
this video?", half about categories seen in the kept frames, half about ones not seen) of the v2
train videos, one video per step, and tested on the test videos, answered with the video's own
prefix and with another scene's. Only the prefix differs between variants:

- ``words``: the names of the categories seen, as LM input embeddings (one token each, shuffled):
  the easiest possible memory, a list to look things up in;
- ``frames``: one token per kept frame, the frame's cached stage-1 H_t averaged over its patches,
  mapped to the LM by a trained MLP (no memory module: every kept frame is in the prefix);
- ``frames_std``: the same with each feature channel standardised by the train frames' mean and
  standard deviation (most of H_t's energy is a component common to every frame);
- ``soft_words``: one token per kept frame made of words: the stage-1 category head's probability
  of each category (its largest over the frame's patches) weighting that category's word embedding,
  summed; what the perception recognised, written in the LM's own vocabulary.

If ``words`` learns to read (own video far above another scene's) but ``frames`` does not, the
limit is the perception-to-LM interface, not the LM; if even ``words`` does not, it is the LM and
its training budget. Prints a table (presence accuracy own / other, exact counts, identical
replies, seconds) and writes it to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch


def video_labels(ds, loader):
    """Per item: (instance -> category, per-frame visible instances) of its scene and episode."""
    from vlm2_agent.training.grounding import instance_categories

    out = []
    for i in range(len(ds)):
        scene, log = loader(ds[i].questions[0])
        out.append((instance_categories(scene), log.visible))
    return out


def main() -> None:
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    from envs.gym.objectnav import default_categories
    from vlm2_agent.eqa.audit import split_loader
    from vlm2_agent.eqa.questions.common import word
    from vlm2_agent.model import VLM2Config, VLM2Streamer, build_tokenizer
    from vlm2_agent.model.fusion import mlp
    from vlm2_agent.model.tokenizer import prompt_batch, training_batch
    from vlm2_agent.training.alignment import category_token_ids
    from vlm2_agent.training.data import EpisodeVideoDataset
    from vlm2_agent.training.diagnostics import other_scene_partner
    from vlm2_agent.training.features import EpisodeFeatureDataset, build_feature_cache
    from vlm2_agent.training.grounding import grounding_questions, grounding_texts, seen_counts
    from vlm2_agent.training.trainer import warmup_cosine

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--perception-run", type=Path, default=Path("outputs/study/vlm2_dual_ground-s0"),
                   help="a stage-3 run whose model holds the stage-1 perception (its feature cache is reused)")
    p.add_argument("--stage1", type=Path, default=Path("outputs/study/stage1/oracle"),
                   help="the stage-1 folder with dense_heads.safetensors (soft_words)")
    p.add_argument("--data-root", type=Path, default=Path("data/eqa"))
    p.add_argument("--scenes-root", type=Path, default=Path("data/scenes"))
    p.add_argument("--variants", nargs="+", choices=["words", "frames", "frames_std", "soft_words"],
                   default=["words", "frames", "frames_std", "soft_words"])
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--per-video", type=int, default=24)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("results/eqa_v2/study/prefix_readout.md"))
    a = p.parse_args()
    torch.set_num_threads(1)
    categories = default_categories()
    perception = VLM2Streamer.from_pretrained(a.perception_run / "model", device="cpu").model.eval()
    heads = load_file(str(a.stage1 / "dense_heads.safetensors"))
    splits = {}
    for split in ("train", "test"):
        videos = EpisodeVideoDataset(a.data_root / split, 8)
        ds = EpisodeFeatureDataset(videos, build_feature_cache(perception, videos, a.data_root / "features" / split))
        loader, _ = split_loader(a.data_root, split, a.scenes_root)
        frames = [ds[i].fused.float().mean(dim=1) for i in range(len(ds))]  # (T, D) per video
        with torch.no_grad():  # (T, C): per frame, the category head's largest probability over patches
            detected = [torch.softmax(ds[i].fused.float() @ heads["category.weight"].T + heads["category.bias"],
                                      -1)[..., 1:].amax(dim=1) for i in range(len(ds))]
        labels = video_labels(ds, loader)
        counts = [seen_counts(c, v, ds[i].frame_indices) for i, (c, v) in enumerate(labels)]
        splits[split] = {"ds": ds, "labels": labels, "counts": counts, "frames": frames, "detected": detected}
    train_frames = torch.cat(splits["train"]["frames"])
    mean, std = train_frames.mean(0), train_frames.std(0).clamp_min(1e-6)
    tok = build_tokenizer(grounding_texts(categories) + [" ".join(word(c) for c in categories), "0 1 2 3 4 5 6 7 8 9"],
                          vocab_size=512)
    cat_ids = category_token_ids(tok, categories)
    test = splits["test"]
    partner = other_scene_partner([test["ds"][i].episode_id for i in range(len(test["ds"]))],
                                  [test["ds"][i].questions[0].scene_id for i in range(len(test["ds"]))],
                                  [test["ds"][i].questions[0].horizon for i in range(len(test["ds"]))])
    rows = []
    for variant in a.variants:
        torch.manual_seed(a.seed)
        text_config = VLM2Config().text_config
        lm = AutoModelForCausalLM.from_config(text_config)
        embed = lm.get_input_embeddings()
        bridge = mlp(train_frames.shape[1], text_config.hidden_size, text_config.hidden_size)
        params = list(lm.parameters()) + (list(bridge.parameters()) if variant.startswith("frames") else [])
        opt = torch.optim.AdamW(params, lr=a.lr, weight_decay=0.01, betas=(0.9, 0.98))
        sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(100, a.steps, 0.05))

        def prefix(split, i, rng):
            if variant == "words":
                seen = [c for c in categories if splits[split]["counts"][i].get(c, 0) > 0]
                order = rng.permutation(len(seen))
                ids = [cat_ids[categories.index(seen[k])] for k in order] or [[tok.pad_token_id]]
                return torch.stack([embed(torch.tensor(t)).mean(0) for t in ids])
            if variant == "soft_words":
                words = torch.stack([embed(torch.tensor(t)).mean(0) for t in cat_ids])  # (C, H)
                return splits[split]["detected"][i] @ words
            x = splits[split]["frames"][i]
            return bridge((x - mean) / std if variant == "frames_std" else x)

        def questions(split, i, rng):
            item = splits[split]["ds"][i]
            category_of, visible = splits[split]["labels"][i]
            return grounding_questions(item.episode_id, category_of, visible, item.frame_indices, categories,
                                       a.per_video, rng)

        t0 = time.perf_counter()
        n_train = len(splits["train"]["ds"])
        order = np.random.default_rng(a.seed).permutation(np.tile(np.arange(n_train), a.steps // n_train + 1))
        lm.train()
        for step in range(a.steps):
            rng = np.random.default_rng([a.seed, step])
            i = int(order[step])
            qs = questions("train", i, rng)
            batch = training_batch(tok, [q.prompt() for q in qs], [f"{q.ground_truth:g}" for q in qs])
            pre = prefix("train", i, rng)[None].expand(len(qs), -1, -1)
            emb = torch.cat([pre, embed(batch["input_ids"])], 1)
            mask = torch.cat([torch.ones(pre.shape[:2], dtype=torch.long), batch["attention_mask"]], 1)
            labels = torch.cat([torch.full(pre.shape[:2], -100), batch["labels"]], 1)
            loss = lm(inputs_embeds=emb, attention_mask=mask, labels=labels).loss
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
        train_s = time.perf_counter() - t0
        lm.eval()
        replies = {"own": [], "other": []}
        truths = []
        with torch.no_grad():
            for i in range(len(test["ds"])):
                rng = np.random.default_rng([1, i])
                qs = questions("test", i, rng)
                truths += [q.ground_truth for q in qs]
                for name, j in (("own", i), ("other", partner[i])):
                    pre = prefix("test", j, np.random.default_rng([2, j]))[None].expand(len(qs), -1, -1)
                    pb = prompt_batch(tok, [q.prompt() for q in qs])
                    emb = torch.cat([pre, embed(pb["input_ids"])], 1)
                    mask = torch.cat([torch.ones(pre.shape[:2], dtype=torch.long), pb["attention_mask"]], 1)
                    nxt = lm(inputs_embeds=emb, attention_mask=mask).logits[:, -1].argmax(-1)
                    replies[name] += tok.batch_decode(nxt[:, None])
        truth = np.array(truths)

        def number(r):
            try:
                return float(r.strip())
            except ValueError:
                return -1.0

        row = {"variant": variant, "train_seconds": round(train_s, 1), "questions": len(truth),
               "present_share": float(np.mean(truth > 0))}
        for name, rs in replies.items():
            pred = np.array([number(r) for r in rs])
            row[f"presence_{name}"] = float(np.mean((pred > 0) == (truth > 0)))
            row[f"count_exact_{name}"] = float(np.mean(pred == truth))
        row["identical"] = float(np.mean([x == y for x, y in zip(replies["own"], replies["other"])]))
        rows.append(row)
        print(json.dumps(row), flush=True)
    lines = ["# Can the LM read a prefix? (experiments/prefix_readout.py)", "",
             f"Grounding questions only, {a.steps} steps, one train video per step, {a.per_video} questions each; "
             f"test: {rows[0]['questions']} questions on the test videos ({rows[0]['present_share']:.0%} present). "
             "The first answer token is scored (counts 0-9).", "",
             "| prefix | presence, own video | presence, another scene's | count exact, own | count exact, other "
             "| identical replies | train s |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['variant']} | {100 * r['presence_own']:.1f} | {100 * r['presence_other']:.1f} | "
                     f"{100 * r['count_exact_own']:.1f} | {100 * r['count_exact_other']:.1f} | "
                     f"{100 * r['identical']:.0f}% | {r['train_seconds']:.0f} |")
    from vlm2_base.io import atomic_write

    atomic_write(a.out, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
