"""stable-baselines3's ``VecEnv`` over a Gymnasium vector env, so PPO steps N envs with one batched call.

:class:`GymnasiumVecEnv` takes a Gymnasium ``VectorEnv`` in same-step autoreset mode (the VLM2
:class:`~envs.gym.vector.BatchedVectorEnv`, or gymnasium's own ``SyncVectorEnv``) and speaks SB3's
protocol: ``reset()`` returns observations only, ``step_wait()`` returns ``(obs, rewards, dones,
infos)`` with one info dict per env, a finished env's last observation in
``infos[i]["terminal_observation"]`` and ``"TimeLimit.truncated"`` set as SB3's ``DummyVecEnv`` sets
them. The policy sees only the observation ``keys`` it is given. Wrap it in SB3's ``VecMonitor`` for
episode statistics, as :func:`vlm2_agent.policy.training.make_vec_env` does for ``vec_env: batched``.

Example:
    >>> import gymnasium as gym, envs
    >>> venv = GymnasiumVecEnv(gym.make_vec("VLM2/PointNav-v0", num_envs=2, vectorization_mode="vector_entry_point",
    ...                                     autoreset_mode="SameStep", sim={"resolution": (16, 16)}, num_scenes=1))
    >>> venv.seed(0)
    [0, 1]
    >>> obs = venv.reset()
    >>> obs["depth"].shape, venv.num_envs
    ((2, 16, 16, 1), 2)
    >>> venv.close()
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices

__all__ = ["GymnasiumVecEnv"]


class GymnasiumVecEnv(VecEnv):
    """SB3 ``VecEnv`` view of ``vector_env`` (same-step autoreset; sub-envs reachable as ``.envs``).

    ``keys``: the observation entries the policy sees (default: all). ``reward_fn(rewards, actions,
    terminations, truncations, infos)`` may return shaped rewards (training-only shaping such as
    :func:`vlm2_agent.policy.training.failed_stop_penalty`); the env's measures are untouched.
    """

    def __init__(self, vector_env: gym.vector.VectorEnv, keys: Sequence[str] | None = None, reward_fn=None):
        mode = vector_env.metadata.get("autoreset_mode")
        if mode != AutoresetMode.SAME_STEP:
            raise ValueError(f"GymnasiumVecEnv: the vector env's autoreset_mode is {mode!r}; SB3 needs "
                             "AutoresetMode.SAME_STEP (pass autoreset_mode='SameStep' to gym.make_vec)")
        if not hasattr(vector_env, "envs"):
            raise ValueError(f"GymnasiumVecEnv: {type(vector_env).__name__} does not expose its sub-envs as .envs")
        space = vector_env.single_observation_space
        if not isinstance(space, gym.spaces.Dict):
            raise ValueError(f"GymnasiumVecEnv: expected a Dict observation space, got {space}")
        self.keys = list(space.spaces) if keys is None else list(keys)
        missing = [k for k in self.keys if k not in space.spaces]
        if missing:
            raise ValueError(f"GymnasiumVecEnv: keys {missing} are not observations; expected some of "
                             f"{list(space.spaces)}")
        self.vector_env = vector_env
        self.envs = list(vector_env.envs)
        self.reward_fn = reward_fn
        super().__init__(vector_env.num_envs, gym.spaces.Dict({k: space[k] for k in self.keys}),
                         vector_env.single_action_space)
        self.metadata = dict(vector_env.metadata)
        self._actions: np.ndarray | None = None

    # ----- SB3 VecEnv API ------------------------------------------------------------------------
    def reset(self) -> dict[str, np.ndarray]:
        # SB3 seeds (VecEnv.seed) and options are used for one reset, then forgotten.
        seeds = [None if s is None else int(s) for s in self._seeds]
        options = self._options[0]
        if any(o != options for o in self._options):
            raise ValueError("GymnasiumVecEnv: per-env reset options differ; the vector env takes one options dict")
        obs, infos = self.vector_env.reset(seed=seeds, options=options or None)
        self.reset_infos = self._unbatch(infos)
        self._reset_seeds()
        self._reset_options()
        return self._filter(obs)

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions)

    def step_wait(self):
        if self._actions is None:
            raise RuntimeError("GymnasiumVecEnv: step_wait() without step_async()")
        actions, self._actions = self._actions, None
        obs, rewards, terminations, truncations, infos = self.vector_env.step(actions)
        dones = terminations | truncations
        step_infos = self._unbatch(infos.get("final_info", {}), dones) if dones.any() else None
        reset_infos = self._unbatch(infos)
        out: list[dict[str, Any]] = []
        for i in range(self.num_envs):
            if dones[i]:  # as DummyVecEnv: the step's info + last frame; the reset's info in reset_infos
                info = step_infos[i]
                info["terminal_observation"] = {k: infos["final_obs"][i][k] for k in self.keys}
                self.reset_infos[i] = reset_infos[i]
            else:
                info = reset_infos[i]
            info["TimeLimit.truncated"] = bool(truncations[i] and not terminations[i])
            out.append(info)
        if self.reward_fn is not None:
            rewards = self.reward_fn(rewards, actions, terminations, truncations, out)
        return self._filter(obs), np.asarray(rewards, np.float32), dones, out

    def close(self) -> None:
        self.vector_env.close()

    def get_images(self) -> Sequence[np.ndarray | None]:
        return [env.render() for env in self.envs]

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        return [getattr(self.envs[i], attr_name) for i in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        for i in self._get_indices(indices):
            setattr(self.envs[i], attr_name, value)

    def env_method(self, method_name: str, *method_args, indices: VecEnvIndices = None, **method_kwargs) -> list[Any]:
        return [getattr(self.envs[i], method_name)(*method_args, **method_kwargs) for i in self._get_indices(indices)]

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        from stable_baselines3.common.env_util import is_wrapped

        return [is_wrapped(self.envs[i], wrapper_class) for i in self._get_indices(indices)]

    # ----- helpers -------------------------------------------------------------------------------
    def _filter(self, obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {k: obs[k] for k in self.keys}

    def _unbatch(self, infos: dict[str, Any], where: np.ndarray | None = None) -> list[dict[str, Any]]:
        """Gymnasium's batched info dict (values + ``_key`` masks) as one dict per env."""
        out: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        for key, value in infos.items():
            if key.startswith("_") or key in ("final_obs", "final_info"):
                continue
            mask = infos.get("_" + key, np.ones(self.num_envs, bool))
            per_env = self._unbatch(value) if isinstance(value, dict) else value
            for i in np.flatnonzero(mask if where is None else mask & where):
                out[i][key] = per_env[i]
        return out
