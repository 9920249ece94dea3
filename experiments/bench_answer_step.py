"""The training step with a shared memory prefix against the reference step, side by side.

    python experiments/bench_answer_step.py                          # train=cpu_small, 40 steps each
    python experiments/bench_answer_step.py --steps 60 train.data_root=data/eqa model.geometry_source=none

Two trainers are built from the same seed (so the same weights, batches and question draws); one
runs ``share_prefix=False`` (every question carries its own copy of the memory prefix, logits at
every position), the other ``share_prefix=True`` (each video's prefix goes through the LM once and
its keys and values are shared by its questions; logits at label positions only). They take turns
step by step, so load on a shared CPU falls on both alike. Printed: median seconds per step,
questions per second and their ratio, and the loss of both at every ``--every`` steps (the fast
step computes the same loss, so the curves must agree to float rounding). Extra arguments are Hydra
overrides of ``configs/train.yaml``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch


def compose(overrides: list[str]):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module

    with initialize_config_module(config_module="configs", version_base="1.3"):
        return hydra_compose(config_name="train", overrides=["logger=none", *overrides])


def make_trainer(cfg, share_prefix: bool):
    from omegaconf import OmegaConf

    from vlm2_agent.training import TrainConfig, Trainer

    tcfg = TrainConfig.from_mapping({**OmegaConf.to_container(cfg.train, resolve=True), "progress": False})
    trainer = Trainer(tcfg, cfg.model, cfg.memory, run_dir="outputs/bench_answer_step")
    trainer.model.config.share_prefix = share_prefix
    return trainer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--every", type=int, default=5, help="print the losses every N steps")
    ap.add_argument("--warmup", type=int, default=3, help="steps left out of the timing")
    args, overrides = ap.parse_known_args()
    cfg = compose(overrides)
    trainers = {"reference (prefix per question)": make_trainer(cfg, False),
                "shared prefix": make_trainer(cfg, True)}
    seconds = {k: [] for k in trainers}
    losses = {k: [] for k in trainers}
    questions, tokens = [], []
    for step in range(args.steps):
        for name, tr in trainers.items():
            t0 = time.perf_counter()
            row = tr.train_step(step)
            if step >= args.warmup:
                seconds[name].append(time.perf_counter() - t0)
            losses[name].append(row["lm_loss"])
        questions.append(row["questions"])
        batch = tr.batch_at(step)
        tokens.append((int(batch["attention_mask"].sum()), batch["attention_mask"].numel()))
    names = list(trainers)
    print(f"{args.steps} steps (first {args.warmup} untimed); {statistics.mean(questions):.1f} questions per step; "
          f"question tokens that are padding: {1 - sum(t for t, _ in tokens) / sum(n for _, n in tokens):.0%}; "
          f"torch threads {torch.get_num_threads()}\n")
    print("| step | median s/step | questions/s | speed-up |")
    print("|---|---|---|---|")
    base = None
    for name in names:
        med = statistics.median(seconds[name])
        qps = sum(questions[args.warmup:]) / sum(seconds[name])
        base = base or qps
        print(f"| {name} | {med:.3f} | {qps:.1f} | {qps / base:.2f}x |")
    print("\n| step | " + " | ".join(f"lm loss: {n}" for n in names) + " | abs diff |")
    print("|---|" + "---|" * (len(names) + 1))
    for s in range(0, args.steps, args.every):
        a, b = (losses[n][s] for n in names)
        print(f"| {s + 1} | {a:.5f} | {b:.5f} | {abs(a - b):.1e} |")
    worst = max(abs(a - b) for a, b in zip(*(losses[n] for n in names)))
    print(f"\nlargest loss difference over {args.steps} steps: {worst:.2e}")
    answer_step_alone(trainers["shared prefix"], args.steps)


def answer_step_alone(trainer, steps: int) -> None:
    """The LM part alone (memory prefix fixed, loss + backward into it), both ways on the same batches."""
    model = trainer.model
    seconds = {"reference": 0.0, "shared prefix": 0.0}
    for step in range(steps):
        batch = trainer._to_device(trainer.batch_at(step))
        with torch.no_grad():
            state = model.init_memory(1)
            if "features" in batch:
                model.observe_encoded(state, batch["features"], batch.get("coords"))
            else:
                model.observe(state, batch["pixel_values"], batch["geometry"])
            prefix, pmask = model.memory_prefix(state)
        for name, fn in (("reference", model._answer_loss_full), ("shared prefix", model._answer_loss_shared)):
            p = prefix.clone().requires_grad_()
            t0 = time.perf_counter()
            loss, _ = fn(p, pmask, batch["video_index"], batch["input_ids"], batch["attention_mask"], batch["labels"])
            loss.backward()
            seconds[name] += time.perf_counter() - t0
    ratio = seconds["reference"] / seconds["shared prefix"]
    print(f"\nanswer step alone (LM forward + backward, same batches): reference {seconds['reference']:.2f} s, "
          f"shared prefix {seconds['shared prefix']:.2f} s over {steps} steps -> {ratio:.2f}x")


if __name__ == "__main__":
    main()
