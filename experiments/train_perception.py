"""Semantic training of VLM2's perception from a checkpoint, for navigation and memory reads.

Renders random views of train-split apartments (and test-split ones for evaluation), trains the
perception modules of a VLM2 checkpoint with per-patch category labels
(``vlm2_agent.training.perception``), prints patch accuracy before and after, and saves the model
(``save_pretrained``) with the memory settings given, and the trained patch classifier beside it
(``semantic_head.safetensors``: ``weight`` (C + 1, D), ``bias``; class 0 = no object, class
c + 1 = category c of ``envs.gym.objectnav.default_categories()``). The language model is carried over unchanged:
it was trained on the old features, so use the result as a perception backbone, not for EQA.

Usage:
    python experiments/train_perception.py --out checkpoints/vlm2_cpu_small_semantic
    python experiments/train_perception.py --scenes 8 --views 20 --steps 100 --out /tmp/perc
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> dict:
    import numpy as np
    import torch
    from safetensors.torch import save_file

    from envs.gym.objectnav import default_categories
    from vlm2_agent.policy.backbone import build_backbone, memory_module
    from vlm2_agent.policy.training import write_json
    from vlm2_agent.training.perception import patch_accuracy, render_frames, semantic_head, train_semantic

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", default="checkpoints/vlm2_cpu_small", help="VLM2 checkpoint to start from")
    p.add_argument("--out", default="checkpoints/vlm2_cpu_small_semantic")
    p.add_argument("--scenes", type=int, default=64, help="train-split scenes to render")
    p.add_argument("--views", type=int, default=80, help="random views per scene")
    p.add_argument("--test-scenes", type=int, default=8)
    p.add_argument("--test-views", type=int, default=40)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--entry-grid", type=int, default=4, help="memory entry grid of the saved model (tokens kept per frame: its square)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    model = build_backbone(None, args.checkpoint)
    grid = model.config.vision_config.image_size // model.config.vision_config.patch_size
    n_cat = len(default_categories())
    t0 = time.time()
    train = render_frames("train", args.scenes, args.views, grid, seed=args.seed)
    test = render_frames("test", args.test_scenes, args.test_views, grid, seed=args.seed + 1)
    render_s = time.time() - t0
    probe = semantic_head(model, n_cat)
    before = patch_accuracy(model, probe, test)  # an untrained head: the chance level of the head
    t0 = time.time()
    head, losses = train_semantic(model, train, n_cat, args.steps, args.batch_size, args.lr, args.seed)
    train_s = time.time() - t0
    after, after_train = patch_accuracy(model, head, test), patch_accuracy(model, head, train)
    model.config.entry_grid = int(args.entry_grid)
    model.memory = memory_module(model)
    model.save_pretrained(args.out)
    save_file({k: v.contiguous() for k, v in head.state_dict().items()}, str(Path(args.out) / "semantic_head.safetensors"))
    result = {"args": vars(args), "train_frames": len(train), "test_frames": len(test),
              "object_patch_share_train": float((train.labels > 0).mean()), "render_seconds": render_s,
              "train_seconds": train_s, "untrained_head_test": before, "test": after, "train": after_train,
              "loss_first_100": float(np.mean(losses[:100])), "loss_last_100": float(np.mean(losses[-100:]))}
    write_json(Path(args.out) / "perception_training.json", result)
    print(json.dumps({k: result[k] for k in ("train_frames", "test", "train", "loss_last_100", "train_seconds")}, indent=1))
    return result


if __name__ == "__main__":
    main()
