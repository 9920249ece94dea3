"""Environment throughput and memory: steps/s for RGB-D at 64x64, 128x128 and 256x256, in one
process and with 2 AsyncVectorEnv workers, each as a ratio to the renderer alone on the same poses
(the GL pass: the env's ceiling), and peak RSS after 1,000 and 10,000 steps of one episode.

Each throughput cell is the best of ``--repeat`` runs (other jobs sharing the CPU only ever slow a
run down). The long episode runs in a fresh process, so its peak RSS is its own. llvmpipe uses one
rendering thread per core unless ``LP_NUM_THREADS`` says otherwise.

Usage: python experiments/bench_env.py [--steps 2000] [--long 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import time

os.environ.setdefault("EGL_PLATFORM", "surfaceless")

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

import envs  # noqa: E402,F401

ENV_ID = "VLM2/Explore-v0"
EGL_DEVICE: int | None = None  # --egl-device: the EGL device every renderer here uses (None: the default)


def _kwargs(res: int, steps: int) -> dict:
    # the env's own step limit goes in ``config``: gym.make's max_episode_steps keyword would only add
    # gymnasium's TimeLimit and leave the env truncating at its own limit on every later step
    return dict(sensors=("rgb", "depth"), sim={"resolution": (res, res), "sensor_types": ["rgb", "depth"],
                                               "gpu_device_id": EGL_DEVICE},
                num_scenes=1, config={"max_episode_steps": steps + 10})


def _actions(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(1, 4, n)  # moves and turns, never stop


def single(res: int, steps: int, repeat: int = 1) -> float:
    """Steps/s of one env in this process (best of ``repeat`` runs over the same episode start)."""
    env = gym.make(ENV_ID, expert=False, **_kwargs(res, steps))
    acts = _actions(steps)
    best = 0.0
    for _ in range(repeat):
        env.reset(seed=0)
        t = time.perf_counter()
        for a in acts:
            env.step(int(a))
        best = max(best, steps / (time.perf_counter() - t))
    env.close()
    return best


def gl_pass(res: int, steps: int, repeat: int = 1) -> float:
    """Frames/s of the renderer alone on the poses of :func:`single`'s episode: the env's ceiling."""
    from envs import pose as P

    env = gym.make(ENV_ID, expert=False, **_kwargs(res, steps))
    base = env.unwrapped
    env.reset(seed=0)
    poses = []
    for a in _actions(steps):
        env.step(int(a))
        poses.append((base.position.copy(), float(base.heading)))
    sim = base.world.sim
    sensors = list(sim.sensors)
    mounts = [P.camera_to_world(p, h, sensors[0].position) for p, h in poses]
    best = 0.0
    for _ in range(repeat):
        t = time.perf_counter()
        for c2w in mounts:
            sim.backend.render(c2w, sensors)
        best = max(best, steps / (time.perf_counter() - t))
    env.close()
    return best


def batched_gl(res: int, n: int, steps: int, repeat: int = 1) -> tuple[float, float, float]:
    """Frames/s of the renderer over ``n`` scenes: one scene alone, the ``n`` scenes one after
    another (one context each, as ``n`` single envs in a process), and the ``n`` in one batch
    (:class:`envs.render.batch.BatchGLRenderer`); the same poses in all three."""
    from envs.config import SensorSpec
    from envs.navigation import NavGrid
    from envs.pose import camera_to_world
    from envs.render.batch import BatchGLRenderer
    from envs.render.gl_backend import GLBackend
    from scenes.generator import generate_scene, split_seed

    scenes = [generate_scene(split_seed("train", i)) for i in range(n)]
    rng = np.random.default_rng(0)
    grids = [NavGrid.from_scene(s) for s in scenes]
    frames = max(steps // n, 1)
    c2ws = [[camera_to_world(g.sample_navigable_point(rng), float(rng.uniform(-np.pi, np.pi)), (0, 1.25, 0))
             for g in grids] for _ in range(frames)]
    sensors = [SensorSpec("rgb", "rgb", (res, res)), SensorSpec("depth", "depth", (res, res))]
    singles = [GLBackend(s, device_index=EGL_DEVICE) for s in scenes]
    batch = BatchGLRenderer(scenes, device_index=EGL_DEVICE)
    alone = one_by_one = together = 0.0
    for _ in range(repeat):
        t = time.perf_counter()
        for row in c2ws:
            singles[0].render(row[0], sensors)
        alone = max(alone, frames / (time.perf_counter() - t))
        t = time.perf_counter()
        for row in c2ws:
            for backend, c2w in zip(singles, row):
                backend.render(c2w, sensors)
        one_by_one = max(one_by_one, frames * n / (time.perf_counter() - t))
        t = time.perf_counter()
        for row in c2ws:
            batch.render(row, sensors)
        together = max(together, frames * n / (time.perf_counter() - t))
    for backend in singles:
        backend.close()
    batch.close()
    return alone, one_by_one, together


def in_process_vector(res: int, n: int, steps: int, repeat: int = 1) -> tuple[float, float]:
    """Total steps/s of ``n`` envs in this process: gymnasium's ``SyncVectorEnv`` (each env renders
    itself) and :class:`envs.gym.vector.BatchedVectorEnv` (one batched renderer); same actions."""
    kw = _kwargs(res, steps)
    kw["num_scenes"] = n
    frames = max(steps // n, 1)
    acts = _actions(frames * n).reshape(frames, n)
    out = []
    for make in (lambda: gym.vector.SyncVectorEnv([lambda: gym.make(ENV_ID, expert=False, **kw)] * n),
                 lambda: gym.make_vec(ENV_ID, num_envs=n, vectorization_mode="vector_entry_point", expert=False,
                                      **kw)):
        venv = make()
        best = 0.0
        for _ in range(repeat):
            venv.reset(seed=0)
            t = time.perf_counter()
            for a in acts:
                venv.step(a)
            best = max(best, frames * n / (time.perf_counter() - t))
        venv.close()
        out.append(best)
    return out[0], out[1]


def vector(res: int, steps: int, workers: int = 2, repeat: int = 1) -> float:
    """Total steps/s of ``workers`` AsyncVectorEnv workers (spawned; each builds its own GL context)."""
    kw = _kwargs(res, steps)
    venv = gym.vector.AsyncVectorEnv([lambda: gym.make("envs:" + ENV_ID, expert=False, **kw)] * workers,
                                     context="spawn")
    acts = _actions(steps * workers).reshape(steps, workers)
    best = 0.0
    for _ in range(repeat):
        venv.reset(seed=list(range(workers)))
        t = time.perf_counter()
        for a in acts:
            venv.step(a)
        best = max(best, steps * workers / (time.perf_counter() - t))
    venv.close()
    return best


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def long_episode(res: int, steps: int) -> list[tuple[int, float]]:
    """Peak RSS (MB) of this process after 1,000 and ``steps`` steps of one episode."""
    env = gym.make(ENV_ID, expert=False, **_kwargs(res, steps))
    env.reset(seed=0)
    out = []
    for i, a in enumerate(tqdm(_actions(steps), desc="long episode", mininterval=2), 1):
        env.step(int(a))
        if i in (1000, steps):
            out.append((i, peak_rss_mb()))
    env.close()
    return out


def _long_episode_job(res: int, steps: int, queue) -> None:
    queue.put(long_episode(res, steps))


def long_episode_fresh(res: int, steps: int) -> list[tuple[int, float]]:
    """:func:`long_episode` in a fresh spawned process, so earlier benchmarks do not raise the peak."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_long_episode_job, args=(res, steps, queue))
    proc.start()
    out = queue.get()
    proc.join()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--long", type=int, default=10000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--batch", type=int, default=8, help="scenes of the batched renderer rows")
    ap.add_argument("--egl-device", type=int, default=None, help="EGL device index (default: the default display)")
    args = ap.parse_args()
    global EGL_DEVICE
    EGL_DEVICE = args.egl_device
    if args.long < 1000:
        ap.error("--long must be at least 1000 (RSS is reported after 1,000 steps)")
    print(f"LP_NUM_THREADS={os.environ.get('LP_NUM_THREADS', 'unset')}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}, best of {args.repeat}", flush=True)
    sizes = (64, 128, 256)
    print("| setting | " + " | ".join(f"{r}x{r} RGB-D" for r in sizes) + " |\n|---|" + "---|" * len(sizes), flush=True)
    gl = [gl_pass(r, args.steps, args.repeat) for r in sizes]
    print("| GL pass alone (frames/s) | " + " | ".join(f"{g:.0f}" for g in gl) + " |", flush=True)
    one = [single(r, args.steps, args.repeat) for r in sizes]
    print("| 1 process (steps/s; x GL pass) | " + " | ".join(f"{o:.0f} ({o / g:.2f}x)" for o, g in zip(one, gl))
          + " |", flush=True)
    two = [vector(r, args.steps, repeat=args.repeat) for r in sizes]
    print("| AsyncVectorEnv x2 (steps/s, total; x GL pass) | "
          + " | ".join(f"{t:.0f} ({t / g:.2f}x)" for t, g in zip(two, gl)) + " |", flush=True)
    n = args.batch
    print(f"\n| renderer, {n} scenes (frames/s) | 64x64 RGB-D | 128x128 RGB-D |\n|---|---|---|", flush=True)
    rows = [batched_gl(r, n, args.steps, args.repeat) for r in (64, 128)]
    print("| 1 scene alone | " + " | ".join(f"{a:.0f}" for a, _, _ in rows) + " |", flush=True)
    print(f"| {n} scenes one after another (x alone) | " + " | ".join(f"{b:.0f} ({b / a:.2f}x)" for a, b, _ in rows)
          + " |", flush=True)
    print(f"| {n} scenes batched (x alone) | " + " | ".join(f"{c:.0f} ({c / a:.2f}x)" for a, _, c in rows) + " |",
          flush=True)
    rows = [in_process_vector(r, n, args.steps, args.repeat) for r in (64, 128)]
    print(f"| {n} envs, SyncVectorEnv (env steps/s, total) | " + " | ".join(f"{a:.0f}" for a, _ in rows) + " |",
          flush=True)
    print(f"| {n} envs, BatchedVectorEnv (x SyncVectorEnv) | "
          + " | ".join(f"{b:.0f} ({b / a:.2f}x)" for a, b in rows) + " |", flush=True)
    for n, mb in long_episode_fresh(128, args.long):
        print(f"peak RSS after {n} steps of one episode (128x128): {mb:.0f} MB", flush=True)


if __name__ == "__main__":
    main()
