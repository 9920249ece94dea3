"""Build envs, features-extractor options and callbacks for navigation policies from a policy config.

The config is a :class:`~vlm2_agent.policy.config.PolicyConfig` (the ``policy`` group of
``configs/train_policy.yaml``), or a mapping of the same shape; every function here accepts both.

Example:
    >>> cfg = {"task": "pointnav", "extractor": "none", "sim": {"resolution": [32, 32]}, "env": {"num_scenes": 1}}
    >>> env = make_env(cfg, rank=0, seed=0, split="train")()
    >>> sorted(env.observation_space.spaces)
    ['pointgoal_with_gps_compass']
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from envs.gym import TASK_IDS
from vlm2_agent.policy.config import PolicyConfig
from vlm2_base.io import atomic_write

IMAGE_KEYS = ("rgb", "depth")
Config = PolicyConfig | Mapping[str, Any]


def env_kwargs(cfg: Config, split: str) -> dict[str, Any]:
    """Keyword arguments of the task env: EnvConfig fields under ``config`` + task options.

    Per-task defaults come from ``tasks.<task>`` (``max_episode_steps``, ``task_kwargs``), so one
    preset serves every task; ``env.max_episode_steps`` and ``env.task_kwargs`` override them.

    >>> cfg = {"task": "objectnav", "tasks": {"objectnav": {"max_episode_steps": 128}}, "env": {"max_episode_steps": None}}
    >>> env_kwargs(cfg, "train")["config"]["max_episode_steps"]
    128
    """
    cfg = PolicyConfig.coerce(cfg)
    e = cfg.env
    num_scenes = e.eval_num_scenes if split != "train" and e.eval_num_scenes else e.num_scenes
    config = {"split": split, "num_scenes": num_scenes, "sensors": e.sensors, "max_episode_steps": cfg.episode_steps(),
              "sim": dict(cfg.sim), "max_cached_scenes": e.max_cached_scenes}
    return {"config": config, **cfg.task_options()}


class FailedStopPenalty(gym.Wrapper):
    """Training-reward shaping: an episode that ends without success costs ``penalty`` more, whether
    it ended on a wrong ``stop`` or (``timeout_penalty``) at the step limit. The env's measures
    (success, SPL) are untouched. Why: with habitat's reward (distance decrease - 0.01 per step) an
    early random policy earns about as much by stopping as by walking, and small PPO runs collapse
    onto an immediate ``stop``; a failed stop that costs more removes that trap. But if only failed
    stops cost, "never stop" is safe and PPO learns it long before it finds the rare successful
    stop; charging a timeout the same leaves ``stop`` near the goal as the only way out.
    """

    def __init__(self, env: gym.Env, penalty: float = 1.0, timeout_penalty: float = 0.0):
        super().__init__(env)
        self.penalty = float(penalty)
        self.timeout_penalty = float(timeout_penalty)

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        shaped = failed_stop_penalty(np.array([reward]), np.array([action]), np.array([terminated]),
                                     np.array([truncated]), [info], self.penalty, self.timeout_penalty)
        return obs, float(shaped[0]), terminated, truncated, info


def failed_stop_penalty(rewards: np.ndarray, actions: np.ndarray, terminations: np.ndarray, truncations: np.ndarray,
                        infos: list[dict[str, Any]], penalty: float, timeout_penalty: float) -> np.ndarray:
    """:class:`FailedStopPenalty`'s shaping for a batch of steps (one row per env): ``rewards`` less
    ``penalty`` where an episode ended on an unsuccessful ``stop``, less ``timeout_penalty`` where it
    reached the step limit without success.

    >>> failed_stop_penalty(np.zeros(3), np.array([0, 0, 1]), np.array([True, True, False]),
    ...                     np.array([False, False, True]), [{"success": 0.0}, {"success": 1.0}, {}], 1.0, 0.5)
    array([-1. ,  0. , -0.5])
    """
    failed = ~np.array([bool(info.get("success", 0.0)) for info in infos])
    stopped = np.asarray(terminations, bool) & (np.asarray(actions).reshape(-1) == 0)
    timed_out = np.asarray(truncations, bool) & ~np.asarray(terminations, bool)
    return np.asarray(rewards, np.float64) - failed * (stopped * float(penalty) + timed_out * float(timeout_penalty))


def policy_keys(cfg: Config, space: gym.spaces.Dict) -> list[str]:
    """Observation keys the policy sees: images only for image extractors, never the tour flag."""
    keys = [k for k in space.spaces if k != "tour"]
    if PolicyConfig.coerce(cfg).extractor == "none":
        keys = [k for k in keys if k not in IMAGE_KEYS]
    return keys


def make_env(cfg: Config, rank: int, seed: int, split: str = "train", in_worker: bool = False,
             wrap: Callable[[gym.Env], gym.Env] | None = None, initial_reset: bool = True) -> Callable[[], gym.Env]:
    """A thunk for vector envs: task env (+ ``wrap``, e.g. a recorder) + memory / tour wrapper +
    observation filter + SB3 ``Monitor``. Every worker builds its own VLM2 memory model.
    ``initial_reset`` seeds the env with ``seed + rank`` by one reset (skip it when recording)."""
    cfg = PolicyConfig.coerce(cfg)

    def thunk() -> gym.Env:
        from stable_baselines3.common.monitor import Monitor

        import envs  # noqa: F401  (registers the VLM2/* ids in spawned workers)
        from vlm2_agent.policy.memory_wrapper import SkipTour, VLM2MemoryWrapper

        env = gym.make(TASK_IDS[cfg.task], **env_kwargs(cfg, split))
        if wrap is not None:
            env = wrap(env)
        if (cfg.failed_stop_penalty or cfg.timeout_penalty) and split == "train":
            env = FailedStopPenalty(env, cfg.failed_stop_penalty, cfg.timeout_penalty)
        if cfg.memory is not None:
            model_cfg = {**cfg.vlm2.config, **cfg.memory.config}
            ckpt = cfg.vlm2.checkpoint
            if ckpt:  # a trained model keeps its weights; only memory settings may change
                model_cfg = {k: val for k, val in model_cfg.items() if k.startswith(("memory_mode", "working_", "episodic_", "uniform_"))}
            env = VLM2MemoryWrapper(env, vlm2=model_cfg, checkpoint=ckpt, seed=cfg.vlm2.seed,
                                    torch_threads=1 if in_worker else None)
        else:
            env = SkipTour(env)
        keys = policy_keys(cfg, env.observation_space)
        if keys != list(env.observation_space.spaces):
            env = gym.wrappers.FilterObservation(env, keys)
        env = Monitor(env, info_keywords=("success", "spl"))
        if initial_reset:
            env.reset(seed=seed + rank)
        env.action_space.seed(seed + rank)
        return env

    return thunk


def env_config(cfg: Config, split: str = "train"):
    """The checked :class:`~envs.gym.config.EnvConfig` of the task env the policy config builds
    (ValueError naming the field for a bad value)."""
    from envs.gym.config import EnvConfig

    return EnvConfig.from_mapping(env_kwargs(cfg, split)["config"])


def make_vec_env(cfg: Config, seed: int, split: str = "train", n_envs: int | None = None):
    """``SubprocVecEnv`` (``vec_env: subproc``, default), ``DummyVecEnv`` (``dummy``) or the batched
    env behind SB3's ``VecEnv`` API (``batched``: :func:`make_batched_vec_env`) of ``n_envs`` envs."""
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

    cfg = PolicyConfig.coerce(cfg)
    n = int(n_envs or cfg.n_envs)
    if cfg.vec_env == "batched":
        return make_batched_vec_env(cfg, seed, split, n)
    sub = cfg.vec_env == "subproc" and n > 1
    # Checked here, in the parent: a worker that fails on its config dies before it can report,
    # and the parent sees only a ConnectionResetError.
    env_config(cfg, split)
    fns = [make_env(cfg, i, seed, split, in_worker=sub) for i in range(n)]
    return SubprocVecEnv(fns, start_method="forkserver") if sub else DummyVecEnv(fns)


def make_batched_vec_env(cfg: Config, seed: int, split: str = "train", n_envs: int | None = None):
    """``n_envs`` task envs in this process, rendered in one batch (:class:`envs.gym.vector.BatchedVectorEnv`,
    same-step autoreset), as an SB3 ``VecMonitor``-wrapped ``VecEnv`` with the policy's observation
    keys and the training reward shaping of :func:`make_env`. Sub-env ``i`` is seeded ``seed + i``,
    as ``make_env``'s rank ``i``. No memory wrapper: a memory reads every frame env by env."""
    from stable_baselines3.common.vec_env import VecMonitor

    from envs.gym.vector import BATCHED_IDS
    from vlm2_agent.policy.vec_env import GymnasiumVecEnv

    cfg = PolicyConfig.coerce(cfg)
    env_id = TASK_IDS[cfg.task]
    if env_id not in BATCHED_IDS:
        raise ValueError(f"policy.vec_env=batched: task {cfg.task!r} ({env_id}) has no batched env; use subproc or "
                         f"dummy, or one of the tasks of {BATCHED_IDS}")
    if cfg.memory is not None:
        raise ValueError("policy.vec_env=batched: the memory wrapper (policy.memory) reads frames env by env; "
                         "use vec_env=subproc or dummy with a memory, or set policy.memory=null")
    env_config(cfg, split)
    venv = gym.make_vec(env_id, num_envs=int(n_envs or cfg.n_envs), vectorization_mode="vector_entry_point",
                        autoreset_mode="SameStep", **env_kwargs(cfg, split))
    shaping = None
    if (cfg.failed_stop_penalty or cfg.timeout_penalty) and split == "train":
        def shaping(rewards, actions, terminations, truncations, infos):
            return failed_stop_penalty(rewards, actions, terminations, truncations, infos, cfg.failed_stop_penalty,
                                       cfg.timeout_penalty)
    sb3 = GymnasiumVecEnv(venv, keys=policy_keys(cfg, venv.single_observation_space), reward_fn=shaping)
    sb3.seed(seed)
    sb3.action_space.seed(seed)
    return VecMonitor(sb3, info_keywords=("success", "spl"))


def depth_hfov(cfg: Config) -> float:
    """The horizontal field of view (degrees) of the depth camera the config's task env renders.

    >>> depth_hfov({"sim": {"hfov": 70}})
    70.0
    """
    sim = env_config(cfg, "train").sim_config()
    return float(next((s.hfov for s in sim.sensors if s.type == "depth"), sim.hfov))


def policy_kwargs(cfg: Config, hfov: float | None = None) -> dict[str, Any]:
    """SB3 ``policy_kwargs``: the VLM2 extractor (``extractor: vlm2``), a from-scratch RGB-D CNN with
    the same goal encoding (``cnn``), SB3's CombinedExtractor (``sb3_cnn``: NatureCNN per image, the
    goal concatenated raw), or the goal encoding alone (``none``). The extractor's intrinsics use
    ``hfov``, by default the env's depth camera's (:func:`depth_hfov`)."""
    from vlm2_agent.policy.extractor import RGBDCNNExtractor, VLM2FeaturesExtractor

    cfg = PolicyConfig.coerce(cfg)
    arch = list(cfg.net_arch)
    out: dict[str, Any] = {"net_arch": dict(pi=arch, vf=arch)}
    extractor, v = cfg.extractor, cfg.vlm2
    if extractor in ("vlm2", "none"):
        # "none" has no image keys, so the extractor only embeds goals and concatenates vectors.
        out["features_extractor_class"] = VLM2FeaturesExtractor
        out["features_extractor_kwargs"] = {"vlm2": dict(v.config), "checkpoint": v.checkpoint, "seed": v.seed,
                                            "freeze": v.freeze, "hfov": depth_hfov(cfg) if hfov is None else hfov}
    elif extractor == "cnn":
        out["features_extractor_class"] = RGBDCNNExtractor
        out["features_extractor_kwargs"] = {"cnn_output_dim": cfg.cnn_output_dim}
    else:
        out["features_extractor_kwargs"] = {"cnn_output_dim": cfg.cnn_output_dim}
        out["normalize_images"] = True
    return out


def nav_metrics_callback(curve_path: str | Path, logger=None, window: int = 20):
    """An SB3 callback appending ``{timesteps, success, spl, reward, episodes}`` (means over the last
    ``window`` finished episodes) to a JSON-lines file after each rollout, and to ``logger``."""
    from stable_baselines3.common.callbacks import BaseCallback

    class _Callback(BaseCallback):
        def __init__(self):
            super().__init__()
            self.episodes: list[dict[str, float]] = []
            self.path = Path(curve_path)

        def _on_step(self) -> bool:
            for info, done in zip(self.locals["infos"], self.locals["dones"]):
                if done and "episode" in info:
                    self.episodes.append({"success": float(info.get("success", 0.0)), "spl": float(info.get("spl", 0.0)),
                                          "reward": float(info["episode"]["r"]), "length": float(info["episode"]["l"])})
            return True

        def _on_rollout_end(self) -> None:
            if not self.episodes:
                return
            last = self.episodes[-window:]
            row = {"timesteps": int(self.num_timesteps), "episodes": len(self.episodes),
                   **{k: float(np.mean([e[k] for e in last])) for k in ("success", "spl", "reward", "length")}}
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a") as f:
                f.write(json.dumps(row) + "\n")
            if logger is not None:
                logger.log({f"train/{k}": v for k, v in row.items() if k != "timesteps"}, step=row["timesteps"])

    return _Callback()


def evaluate_nav(act: Callable[[dict[str, np.ndarray], gym.Env], int], cfg: Config, episodes: int,
                 seed: int = 1000, split: str = "test", wrap: Callable[[gym.Env], gym.Env] | None = None,
                 progress: bool = True, episodes_path: str | Path | None = None) -> dict[str, Any]:
    """Success / SPL / soft SPL / return over ``episodes`` episodes of one env of ``split``: the
    first ``episodes`` of a habitat-lab episode file (``episodes_path``, :mod:`envs.datasets`), else
    the episodes of seeds ``seed + i``. ``act(obs, env)`` returns an action; ``env.unwrapped`` gives
    oracle access. An ``act`` with a ``reset()`` method (e.g. :class:`PolicyActor`) has it called at
    every episode start."""
    from tqdm.auto import tqdm

    from envs.datasets import read_episodes

    fixed = read_episodes(episodes_path).episodes[:episodes] if episodes_path else None
    env = make_env(cfg, 0, seed, split, wrap=wrap, initial_reset=wrap is None)()
    rows = []
    for i in tqdm(range(len(fixed) if fixed else episodes), desc="eval", disable=not progress, leave=False):
        obs, info = env.reset(seed=seed + i, options={"episode": fixed[i]} if fixed else None)
        if callable(getattr(act, "reset", None)):
            act.reset()
        total, done = 0.0, False
        while not done:
            obs, r, term, trunc, info = env.step(int(act(obs, env)))
            total += r
            done = term or trunc
        rows.append({"success": float(info["success"]), "spl": float(info["spl"]),
                     "soft_spl": float(info.get("soft_spl", 0.0)), "reward": total, "scene": info["scene_id"]})
    env.close()
    out = {k: float(np.mean([r[k] for r in rows])) for k in ("success", "spl", "soft_spl", "reward")}
    out["episodes"] = len(rows)
    out["success_se"] = float(np.std([r["success"] for r in rows]) / np.sqrt(max(len(rows), 1)))
    if episodes_path:
        out["episodes_file"] = str(episodes_path)
    return out


def write_json(path: str | Path, data: Any) -> Path:
    """Atomic JSON write, keys sorted (the policy reports' format)."""
    return atomic_write(path, json.dumps(data, indent=2, sort_keys=True))


__all__ = ["FailedStopPenalty", "depth_hfov", "env_kwargs", "failed_stop_penalty", "make_batched_vec_env", "make_env",
           "make_vec_env", "policy_kwargs", "nav_metrics_callback", "evaluate_nav", "write_json"]
