"""Plain stable-baselines3 on the VLM2 envs: PPO training steps/s beside the project's own extractors.

The first row is the line a new user writes, ``PPO("MultiInputPolicy", gym.make("VLM2/PointNav-v0"))``
with SB3's defaults, at 64x64 (``sim={"resolution": (64, 64)}``). The second passes the observation
the envs used to give by default (ground-truth ``pose`` and ``semantic`` beside RGB-D) and a scene
cache smaller than the scene pool, to show what those defaults cost. ``sb3_alone`` runs the same
line on an env with PointNav's spaces that renders nothing: SB3's own cost. The last rows train the
``cpu_small`` preset's model (its extractor, PPO settings and one env) on the same env.

Every row warms up for one rollout (scene building, first GL context), then times ``--steps``
more steps of ``model.learn`` (rollouts and updates together). Run it alone: the CPU is shared.

Usage: python experiments/bench_sb3.py [--steps 4096] [--rows plain,old_defaults,plain_128,sb3_alone,vlm2,cnn]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("EGL_PLATFORM", "surfaceless")

import gymnasium as gym  # noqa: E402
import torch  # noqa: E402

import envs  # noqa: E402,F401

RES = {"sim": {"resolution": (64, 64)}}
OLD_DEFAULTS = {"sensors": ("rgb", "depth", "semantic", "pose"), "max_cached_scenes": 4}


def _plain(env_kwargs: dict):
    from stable_baselines3 import PPO

    env = gym.make("VLM2/PointNav-v0", **{**RES, **env_kwargs})
    return PPO("MultiInputPolicy", env, seed=0, device="cpu", verbose=0), env


class NullPointNav(gym.Env):
    """PointNav's spaces with nothing behind them: zeros, ``stop`` ends the episode, 500-step limit.
    SB3 on it measures SB3's own cost, the ceiling any env can reach."""

    def __init__(self):
        real = gym.make("VLM2/PointNav-v0", **RES)
        self.observation_space, self.action_space = real.observation_space, real.action_space
        real.close()
        self._obs = {k: s.low.clip(0).astype(s.dtype) if hasattr(s, "low") else s.sample() * 0
                     for k, s in self.observation_space.spaces.items()}
        self._t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._t = 0
        return {k: v.copy() for k, v in self._obs.items()}, {}

    def step(self, action):
        self._t += 1
        return {k: v.copy() for k, v in self._obs.items()}, 0.0, int(action) == 0, self._t >= 500, {}


def _null():
    from stable_baselines3 import PPO

    env = NullPointNav()
    return PPO("MultiInputPolicy", env, seed=0, device="cpu", verbose=0), env


def _project(extractor: str):
    from vlm2_agent.policy.algorithms import build_model
    from vlm2_agent.policy.training import make_vec_env

    cfg = {"extractor": extractor, "n_envs": 1, "vec_env": "dummy", "sim": {"resolution": [64, 64]},
           "vlm2": {"checkpoint": "checkpoints/vlm2_cpu_small_semantic"}}
    venv = make_vec_env(cfg, seed=0)
    return build_model(cfg, venv, seed=0), venv


ROWS = {
    "plain": ("PPO('MultiInputPolicy', gym.make('VLM2/PointNav-v0'))", lambda: _plain({})),
    "old_defaults": ("the same, with the old default observation and cache", lambda: _plain(OLD_DEFAULTS)),
    "plain_128": ("the plain line at the envs' default 128x128", lambda: _plain({"sim": {}})),
    "sb3_alone": ("the plain line on an env with the same spaces that renders nothing", _null),
    "vlm2": ("cpu_small preset, VLM2 extractor (frozen), 1 env", lambda: _project("vlm2")),
    "cnn": ("cpu_small preset, RGB-D CNN extractor, 1 env", lambda: _project("cnn")),
}


def measure(name: str, steps: int) -> dict:
    model, env = ROWS[name][1]()
    space = model.observation_space
    width = sum(int(torch.tensor(s.shape).prod()) for s in space.spaces.values())
    params = sum(p.numel() for p in model.policy.parameters())
    model.learn(model.n_steps)  # warm-up: scenes, GL context, first update
    t = time.perf_counter()
    model.learn(steps, reset_num_timesteps=False)
    rate = steps / (time.perf_counter() - t)
    env.close()
    return {"row": name, "what": ROWS[name][0], "obs_width": width, "params": params, "steps_per_s": rate}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=4096)
    ap.add_argument("--rows", default=",".join(ROWS))
    args = ap.parse_args()
    rows = [measure(name, args.steps) for name in args.rows.split(",")]
    print(f"\nPPO training steps/s, 64x64 unless said, {args.steps} steps after a warm-up rollout, "
          f"{torch.get_num_threads()} torch threads, {os.cpu_count()} cores\n")
    print("| row | setup | observation width | parameters | steps/s |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['row']} | {r['what']} | {r['obs_width']:,} | {r['params']:,} | {r['steps_per_s']:.1f} |")


if __name__ == "__main__":
    main()
