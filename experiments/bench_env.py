"""Environment throughput and memory: steps/s for RGB-D at 128x128 and 256x256, in one process and
with 2 AsyncVectorEnv workers, and peak RSS after 1,000 and 10,000 steps of one episode.

Usage: python experiments/bench_env.py [--steps 2000] [--long 10000]
"""

from __future__ import annotations

import argparse
import os
import resource
import time

os.environ.setdefault("EGL_PLATFORM", "surfaceless")

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402

import envs  # noqa: E402,F401


def _kwargs(res: int, steps: int) -> dict:
    return dict(sensors=("rgb", "depth"), sim={"resolution": (res, res), "sensor_types": ["rgb", "depth"]},
                num_scenes=1, max_episode_steps=steps + 10)


def _actions(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(1, 4, n)  # moves and turns, never stop


def single(res: int, steps: int) -> float:
    env = gym.make("VLM2/Explore-v0", expert=False, **_kwargs(res, steps))
    env.reset(seed=0)
    acts = _actions(steps)
    t = time.perf_counter()
    for a in acts:
        env.step(int(a))
    dt = time.perf_counter() - t
    env.close()
    return steps / dt


def vector(res: int, steps: int, workers: int = 2) -> float:
    kw = _kwargs(res, steps)
    venv = gym.vector.AsyncVectorEnv([lambda: gym.make("envs:VLM2/Explore-v0", expert=False, **kw)] * workers,
                                     context="spawn")
    venv.reset(seed=list(range(workers)))
    acts = _actions(steps * workers).reshape(steps, workers)
    t = time.perf_counter()
    for a in acts:
        venv.step(a)
    dt = time.perf_counter() - t
    venv.close()
    return steps * workers / dt


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def long_episode(res: int, steps: int) -> list[tuple[int, float]]:
    env = gym.make("VLM2/Explore-v0", expert=False, **_kwargs(res, steps))
    env.reset(seed=0)
    out = []
    for i, a in enumerate(_actions(steps), 1):
        env.step(int(a))
        if i in (1000, steps):
            out.append((i, peak_rss_mb()))
    env.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--long", type=int, default=10000)
    args = ap.parse_args()
    print("| setting | 128x128 RGB-D | 256x256 RGB-D |\n|---|---|---|")
    print(f"| 1 process (steps/s) | {single(128, args.steps):.0f} | {single(256, args.steps):.0f} |")
    print(f"| AsyncVectorEnv x2 (steps/s, total) | {vector(128, args.steps):.0f} | {vector(256, args.steps):.0f} |")
    for n, mb in long_episode(128, args.long):
        print(f"peak RSS after {n} steps of one episode (128x128): {mb:.0f} MB")


if __name__ == "__main__":
    main()
