"""Overfit a tiny VLM2 on a handful of synthetic questions about synthetic videos (sanity check).

Each video shows coloured squares over a few frames, with oracle depth/pose. The same question
text is asked about every video with a video-dependent answer, so 100% exact match needs the
visual information to flow through A3PI/VAGA/fusion, the memory and the LM prefix.

    python experiments/overfit_tiny.py --videos 4 --steps 300   # 8 questions

Prints a table of step / loss / exact-match accuracy.
"""

from __future__ import annotations

import argparse
import math

import torch

from vlm2_agent.model import VLM2Config, VLM2Model, build_tokenizer, training_batch
from vlm2_agent.model.device import autocast_context, select_device

COLORS = {"red": (230, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 230), "yellow": (230, 220, 30)}
LETTERS = "ABCD"
COUNT_Q = "How many squares are in the video?"
FIRST_Q = ("Which color is the first square? A. red B. green C. blue D. yellow "
           "Answer with the option's letter from the given choices directly.")


def synthetic_videos(num_videos: int, frames: int, size: int, seed: int = 0):
    """Videos (V, T, 3, S, S) uint8, geometry dict, and (questions, answers, video_index)."""
    g = torch.Generator().manual_seed(seed)
    names = list(COLORS)
    videos = torch.full((num_videos, frames, 3, size, size), 40, dtype=torch.uint8)
    questions, answers, index = [], [], []
    for v in range(num_videos):
        count = 1 + v % frames
        first = (v * 3 + 1) % len(names)
        for t in range(count):
            color = names[(first + t) % len(names)]
            y, x = torch.randint(0, size - size // 4, (2,), generator=g).tolist()
            videos[v, t, :, y:y + size // 4, x:x + size // 4] = torch.tensor(COLORS[color]).view(3, 1, 1)
        questions += [COUNT_Q, FIRST_Q]
        answers += [str(count), LETTERS[first]]
        index += [v, v]
    depth = 1.0 + torch.rand(num_videos, frames, size, size, generator=g)
    k = torch.tensor([[size / 2, 0, size / 2], [0, size / 2, size / 2], [0, 0, 1.0]])
    pose = torch.eye(4).repeat(num_videos, frames, 1, 1)
    pose[..., 0, 3] = torch.arange(frames, dtype=torch.float32) * 0.25  # the camera slides along +x
    geometry = {"depth": depth, "intrinsics": k.expand(num_videos, frames, 3, 3).clone(), "cam_to_world": pose}
    return videos, geometry, (questions, answers, torch.tensor(index))


def tiny_config(vocab_size: int, size: int = 32, **overrides) -> VLM2Config:
    kwargs = dict(
        vision_config={"model_type": "siglip_vision_model", "hidden_size": 48, "intermediate_size": 96,
                       "num_hidden_layers": 1, "num_attention_heads": 2, "image_size": size,
                       "patch_size": 8, "vision_use_head": False},
        text_config={"model_type": "qwen2", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
                     "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": vocab_size,
                     "max_position_embeddings": 512, "tie_word_embeddings": False},
        hidden_size=64, geometry_dim=32, num_heads=4, working_memory_size=2, episodic_memory_size=4, entry_grid=2,
        max_new_tokens=4,
    )
    kwargs.update(overrides)
    return VLM2Config(**kwargs)


@torch.no_grad()
def exact_match(model, tokenizer, videos, geometry, questions, answers, index) -> float:
    model.eval()
    state = model.init_memory(len(index))
    model.observe(state, videos[index], {k: v[index] for k, v in geometry.items()})
    preds = model.generate_answers(state, tokenizer, questions)
    model.train()
    return sum(p == a for p, a in zip(preds, answers)) / len(answers)


def run_overfit(num_videos: int = 4, frames: int = 4, size: int = 32, steps: int = 300, lr: float = 1e-3,
                eval_every: int = 25, seed: int = 0, device: str | None = None, verbose: bool = True,
                stop_at_100: bool = True) -> list[tuple[int, float, float]]:
    """Train until every answer is exactly right; returns rows (step, loss, accuracy)."""
    torch.manual_seed(seed)
    dev = select_device(device)
    videos, geometry, (questions, answers, index) = synthetic_videos(num_videos, frames, size, seed)
    tokenizer = build_tokenizer(questions + answers, vocab_size=300)
    model = VLM2Model(tiny_config(len(tokenizer), size)).to(dev).train()
    videos, geometry, index = videos.to(dev), {k: v.to(dev) for k, v in geometry.items()}, index.to(dev)
    batch = training_batch(tokenizer, questions, answers, device=dev)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 20) * (0.5 + 0.5 * math.cos(math.pi * s / steps)))
    rows = []
    if verbose:
        print(f"{'step':>6} {'loss':>9} {'accuracy':>9}")
    for step in range(1, steps + 1):
        with autocast_context(dev):
            loss = model(videos, geometry=geometry, video_index=index, **batch).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % eval_every == 0 or step == steps:
            acc = exact_match(model, tokenizer, videos, geometry, questions, answers, index)
            rows.append((step, loss.item(), acc))
            if verbose:
                print(f"{step:>6} {loss.item():>9.4f} {acc:>9.1%}", flush=True)
            if acc == 1.0 and stop_at_100:
                break
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--videos", type=int, default=4, help="videos; 2 questions each (default 4 -> 8 questions)")
    p.add_argument("--frames", type=int, default=4)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (tiny tensors: 1 is fastest)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    rows = run_overfit(a.videos, a.frames, a.size, a.steps, a.lr, seed=a.seed, device=a.device, stop_at_100=False)
    print(f"final accuracy {rows[-1][2]:.1%} after {rows[-1][0]} steps")


if __name__ == "__main__":
    main()
