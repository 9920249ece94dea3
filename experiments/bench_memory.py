"""Per-frame `observe` latency and memory footprint of VLM2's dual memory versus full context.

    python experiments/bench_memory.py                       # dual to 4096 frames, full_context to 1024
    python experiments/bench_memory.py --full-context-cap 4096

Uses the default tiny model (64x64 frames, 8x8 patches, SigLIP width 192 x 4 layers, oracle
geometry on synthetic depth) in inference mode, batch 1. Latency at frame n is the median of the
`--window` observe calls ending at frame n (after 8 warm-up calls); memory is the bytes of tensors held by the memory state
and the process RSS. Ratios are to frame 16. Timings on a shared CPU are noisy.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from tqdm import tqdm

from vlm2_agent.model import VLM2Config, VLM2Model
from vlm2_agent.model.memory import MemoryState


def state_bytes(state: MemoryState) -> int:
    tensors = [state.working, state.episodic, state.current] + [e for f in state.frames for e in f]
    return sum(t.numel() * t.element_size() for t in tensors if t is not None)


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def synthetic_stream(pool: int, size: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    frames = torch.randint(0, 256, (pool, 1, 3, size, size), dtype=torch.uint8, generator=g)
    depth = 0.5 + 4 * torch.rand(pool, 1, size, size, generator=g)
    k = torch.tensor([[[size / 2, 0, size / 2], [0, size / 2, size / 2], [0, 0, 1.0]]])
    return frames, depth, k


@torch.no_grad()
def bench(mode: str, checkpoints: list[int], window: int, seed: int = 0) -> list[dict]:
    torch.manual_seed(seed)
    model = VLM2Model(VLM2Config(memory_mode=mode)).eval()
    size = model.config.vision_config.image_size
    frames, depth, k = synthetic_stream(64, size, seed)
    warm = model.init_memory(1)
    for i in range(8):  # first calls pay one-off allocation / kernel selection costs
        model.observe(warm, frames[i], {"depth": depth[i], "intrinsics": k, "cam_to_world": torch.eye(4)[None]})
    state = model.init_memory(1)
    rows, times = [], []
    last = max(checkpoints)
    for n in tqdm(range(1, last + 1), desc=mode, leave=False):
        i = (n - 1) % frames.shape[0]
        pose = torch.eye(4)[None]
        pose[0, 0, 3] = 0.01 * n  # a slowly moving camera
        geo = {"depth": depth[i], "intrinsics": k, "cam_to_world": pose}
        t0 = time.perf_counter()
        model.observe(state, frames[i], geo)
        times.append(time.perf_counter() - t0)
        if n in checkpoints:
            rows.append({"mode": mode, "frame": n, "ms": 1000 * statistics.median(times[-window:]),
                         "state_kib": state_bytes(state) / 1024, "rss_mib": rss_bytes() / 2**20})
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, nargs="+", default=[16, 256, 1024, 4096])
    p.add_argument("--full-context-cap", type=int, default=1024, help="stop full_context after this frame")
    p.add_argument("--window", type=int, default=16, help="observe calls per latency median")
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    rows = bench("dual", a.frames, a.window)
    capped = [n for n in a.frames if n <= a.full_context_cap]
    rows += bench("full_context", capped, a.window)
    print(f"{'mode':<13} {'frame':>6} {'ms/frame':>9} {'x f16':>6} {'state KiB':>10} {'x f16':>7} {'RSS MiB':>8}")
    base = {r["mode"]: r for r in rows if r["frame"] == min(a.frames)}
    for r in rows:
        b = base[r["mode"]]
        print(f"{r['mode']:<13} {r['frame']:>6} {r['ms']:>9.2f} {r['ms'] / b['ms']:>6.2f} "
              f"{r['state_kib']:>10.1f} {r['state_kib'] / b['state_kib']:>7.2f} {r['rss_mib']:>8.1f}")
    skipped = [n for n in a.frames if n > a.full_context_cap]
    if skipped:
        print(f"note: full_context not run past frame {a.full_context_cap} (skipped {skipped}); its cost grows linearly")


if __name__ == "__main__":
    main()
