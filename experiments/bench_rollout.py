"""PPO rollout throughput on PointNav against the env's own rate: does the learner keep up with its envs?

Every row uses the ``cpu_small`` policy preset's env (64x64 RGB-D + the point goal, 4 train scenes,
64-step episodes, the training reward shaping) and its PPO settings. The env rows step random
actions (``stop`` as often as from PPO's initial policy) through the same vector env the learner
uses, after one rollout's worth of warm-up. The PPO rows time ``collect_rollouts`` only (policy
forward, env steps, buffer writes; the gradient updates between rollouts are not counted) over
``--rollouts`` rollouts after one warm-up. The ratio column divides each PPO row by the env row of
its own vector env, measured in this run.

Run it alone: the CPU is shared.

Usage: python experiments/bench_rollout.py [--n-envs 8] [--rollouts 4] [--torch-threads 1]
           [--rows batched,dummy,subproc]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("EGL_PLATFORM", "surfaceless")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from vlm2_agent.policy.config import PolicyConfig  # noqa: E402


def preset(vec_env: str, n_envs: int, extractor: str) -> PolicyConfig:
    from omegaconf import OmegaConf

    raw = OmegaConf.to_container(OmegaConf.load("configs/policy/cpu_small.yaml"))
    raw.pop("defaults", None)
    raw.update(vec_env=vec_env, n_envs=n_envs, extractor=extractor)
    return PolicyConfig.coerce(raw)


def env_rate(cfg: PolicyConfig, rollouts: int) -> float:
    """Steps/s (all envs together) of random actions through the SB3 vector env the learner gets,
    after as many warm-up steps as one rollout. ``stop`` comes as often as from PPO's initial policy
    (its stop logit offset by ``stop_logit_bias``), so episodes, and resets, are as long as in the
    PPO rows."""
    from vlm2_agent.policy.training import make_vec_env

    venv = make_vec_env(cfg, seed=0)
    n, per_rollout = venv.num_envs, cfg.ppo.n_steps
    p_stop = np.exp(cfg.stop_logit_bias) / (np.exp(cfg.stop_logit_bias) + 3)
    acts = np.random.default_rng(0).choice(4, size=((rollouts + 1) * per_rollout, n),
                                           p=[p_stop, *[(1 - p_stop) / 3] * 3])
    venv.reset()
    for a in acts[:per_rollout]:  # warm-up: scenes, GL contexts
        venv.step(a)
    t = time.perf_counter()
    for a in acts[per_rollout:]:
        venv.step(a)
    rate = rollouts * per_rollout * n / (time.perf_counter() - t)
    venv.close()
    return rate


def rollout_rate(cfg: PolicyConfig, rollouts: int) -> float:
    """Steps/s of PPO's ``collect_rollouts`` alone, over ``rollouts`` rollouts after one warm-up."""
    from stable_baselines3.common.callbacks import BaseCallback

    from vlm2_agent.policy.algorithms import build_model
    from vlm2_agent.policy.training import make_vec_env

    class RolloutClock(BaseCallback):
        def __init__(self):
            super().__init__()
            self.seconds, self.count, self._t = 0.0, 0, 0.0

        def _on_rollout_start(self) -> None:
            self._t = time.perf_counter()

        def _on_rollout_end(self) -> None:
            self.count += 1
            if self.count > 1:  # the first rollout builds scenes and GL contexts
                self.seconds += time.perf_counter() - self._t

        def _on_step(self) -> bool:
            return True

    venv = make_vec_env(cfg, seed=0)
    model = build_model(cfg, venv, seed=0)
    clock = RolloutClock()
    per_rollout = cfg.ppo.n_steps * venv.num_envs
    model.learn(per_rollout * (rollouts + 1), callback=clock)
    venv.close()
    return per_rollout * (clock.count - 1) / clock.seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-envs", type=int, default=8)
    ap.add_argument("--rollouts", type=int, default=4)
    ap.add_argument("--torch-threads", type=int, default=1)
    ap.add_argument("--rows", default="batched,dummy,subproc")
    ap.add_argument("--extractors", default="cnn,none")
    args = ap.parse_args()
    torch.set_num_threads(args.torch_threads)
    rows = []
    for vec_env in args.rows.split(","):
        n = args.n_envs if vec_env != "subproc" else min(args.n_envs, os.cpu_count() or 1)
        base = preset(vec_env, n, "none")
        env = env_rate(base, args.rollouts)
        rows.append((vec_env, n, "random actions (the env's own rate)", env, 1.0))
        for extractor in args.extractors.split(","):
            rate = rollout_rate(preset(vec_env, n, extractor), args.rollouts)
            rows.append((vec_env, n, f"PPO rollouts, extractor={extractor}", rate, rate / env))
    print(f"\nPointNav 64x64 RGB-D, cpu_small preset, {args.rollouts} rollouts of n_steps={base.ppo.n_steps} per env "
          f"after a warm-up, {args.torch_threads} torch thread(s), {os.cpu_count()} cores\n")
    print("| vec_env | envs | what | steps/s | x env's own rate |")
    print("|---|---|---|---|---|")
    for vec_env, n, what, rate, ratio in rows:
        print(f"| {vec_env} | {n} | {what} | {rate:,.0f} | {ratio:.2f}x |")


if __name__ == "__main__":
    main()
