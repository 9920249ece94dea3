"""Stage 1: train VLM2's perception on dense simulator labels (``vlm2_agent.training.dense``).

    python experiments/train_stage1.py --out outputs/stage1/oracle                       # the VLM2 model
    python experiments/train_stage1.py --out outputs/stage1/none model.geometry_source=none \
        model.use_a3pi=false model.use_vaga=false
    python experiments/train_stage1.py --scenes 4 --views 8 --steps 50 --out /tmp/s1     # a smoke run

Renders ``--views`` random views of each of ``--scenes`` train-split apartments and of
``--test-scenes`` test-split ones, scores the perception with untrained heads, trains it with the
category, depth and cross-view instance losses, scores it again and writes to ``--out``:
``model/`` (the whole VLM2, ``save_pretrained``; only its perception is trained here),
``dense_heads.safetensors`` and ``stage1.json`` (settings, loss curve, test metrics before and
after, render and train seconds, peak memory). Extra arguments are Hydra overrides of
``configs/train.yaml`` (the ``model`` and ``memory`` groups), so stage 3 builds the same model.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> dict:
    import torch
    from omegaconf import OmegaConf

    from envs.gym.objectnav import default_categories
    from vlm2_agent.model import VLM2Model
    from vlm2_agent.model.configuration_vlm2 import config_from_hydra
    from vlm2_agent.training.dense import DenseConfig, DenseHeads, evaluate_dense, save_heads, train_dense
    from vlm2_agent.training.perception import render_frames

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--scenes", type=int, default=200, help="train-split scenes to render")
    p.add_argument("--views", type=int, default=24, help="random views per scene")
    p.add_argument("--test-scenes", type=int, default=12)
    p.add_argument("--test-views", type=int, default=24)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch-scenes", type=int, default=8)
    p.add_argument("--batch-views", type=int, default=4)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    args, overrides = p.parse_known_args(argv)
    from hydra import compose, initialize_config_module

    with initialize_config_module(config_module="configs", version_base="1.3"):
        cfg = compose(config_name="train", overrides=["logger=none", *overrides])
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    model = VLM2Model(config_from_hydra(cfg.model, cfg.memory)).eval()
    grid, n_cat = model.config.grid_size, len(default_categories())
    size = model.config.vision_config.image_size
    t0 = time.perf_counter()
    train = render_frames("train", args.scenes, args.views, grid, resolution=size, seed=args.seed)
    test = render_frames("test", args.test_scenes, args.test_views, grid, resolution=size, seed=args.seed + 1)
    render_s = time.perf_counter() - t0
    dense = DenseConfig(steps=args.steps, scenes=args.batch_scenes, views=args.batch_views, lr=args.lr, seed=args.seed)
    torch.manual_seed(args.seed)
    before = evaluate_dense(model, DenseHeads(model.config.hidden_size, n_cat, dense.embed_dim), test)
    t0 = time.perf_counter()
    heads, curve = train_dense(model, train, n_cat, dense)
    train_s = time.perf_counter() - t0
    after, on_train = evaluate_dense(model, heads, test), evaluate_dense(model, heads, train)
    out = Path(args.out)
    model.save_pretrained(out / "model")
    save_heads(heads, dense, out / "dense_heads.safetensors")
    record = {"args": vars(args), "overrides": overrides, "model": OmegaConf.to_container(cfg.model, resolve=True),
              "dense": dense.__dict__, "train_views": len(train), "test_views": len(test),
              "test_before": before, "test_after": after, "train_after": on_train, "curve": curve,
              "render_seconds": round(render_s, 1), "train_seconds": round(train_s, 1),
              "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    (out / "stage1.json").write_text(json.dumps(record, indent=1) + "\n")
    for name in ("accuracy", "object_accuracy", "no_object_baseline", "depth_abs_rel", "reid_accuracy",
                 "reid_same_category"):
        print(f"{name:>20}: untrained {100 * before[name]:5.1f}  trained {100 * after[name]:5.1f}  "
              f"(train views {100 * on_train[name]:5.1f})")
    print(f"render {render_s:.0f} s, train {train_s:.0f} s, peak RSS {record['peak_rss_mb']:.0f} MB -> {out}")
    return record


if __name__ == "__main__":
    main()
