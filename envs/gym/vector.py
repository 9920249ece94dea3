"""N envs of one id in one process, their views rendered in one batch (``envs.render.batch``).

``gym.make_vec("VLM2/PointNav-v0", num_envs=8, vectorization_mode="vector_entry_point")`` (or
:class:`BatchedVectorEnv` directly) steps N sub-envs in this process and renders all N agents in one
EGL context, every view drawn before the first readback. Observations, rewards, terminations,
truncations and infos are those of gymnasium's own ``SyncVectorEnv`` over the same envs, bit for
bit, in either of its autoreset modes (``autoreset_mode=AutoresetMode.NEXT_STEP``, the default, or
``SAME_STEP``, which puts the last observation in ``infos["final_obs"]`` and the reset's in its place,
as stable-baselines3 expects; ``tests/test_envs.py``). Only the ``gl`` backend batches; ReturnNav,
whose scripted tour reads its own frames, is not offered here.

Example:
    >>> import gymnasium as gym, envs
    >>> venv = gym.make_vec("VLM2/PointNav-v0", num_envs=2, vectorization_mode="vector_entry_point",
    ...                     sim={"resolution": (32, 32)}, num_scenes=2)
    >>> obs, infos = venv.reset(seed=0)
    >>> obs["depth"].shape
    (2, 32, 32, 1)
    >>> venv.close()
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space, concatenate, create_empty_array

from envs import pose as P

__all__ = ["BATCHED_IDS", "BatchedVectorEnv"]

_MODES = (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP)

#: the ids with a batched vector entry point
BATCHED_IDS = ("VLM2/PointNav-v0", "VLM2/ObjectNav-v0", "VLM2/Explore-v0")


class BatchedVectorEnv(VectorEnv):
    """``num_envs`` sub-envs of ``env_id`` built with ``kwargs``; sub-env ``i`` is seeded ``seed + i``."""

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, env_id: str, num_envs: int, autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
                 **kwargs: Any):
        try:
            autoreset_mode = AutoresetMode(autoreset_mode)
        except ValueError:
            raise ValueError(f"BatchedVectorEnv: autoreset_mode {autoreset_mode!r} is not one of "
                             f"{[m.value for m in _MODES]}") from None
        if autoreset_mode not in _MODES:
            raise ValueError(f"BatchedVectorEnv: autoreset_mode {autoreset_mode.value!r} is not supported; "
                             f"expected one of {[m.value for m in _MODES]}")
        if env_id not in BATCHED_IDS:
            raise ValueError(f"BatchedVectorEnv: env_id {env_id!r} has no batched form; expected one of {BATCHED_IDS}")
        if not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"BatchedVectorEnv: num_envs must be a positive int, got {num_envs!r}")
        self.envs = [gym.make(env_id, **kwargs).unwrapped for _ in range(num_envs)]
        first = self.envs[0]
        if first.sim_config.backend != "gl":
            raise ValueError(f"BatchedVectorEnv: sim.backend={first.sim_config.backend!r}; only 'gl' renders "
                             "in batches")
        from envs.render.gl_backend import create_context

        self.num_envs = num_envs
        self.autoreset_mode = autoreset_mode
        self.metadata = {**self.metadata, "autoreset_mode": autoreset_mode}
        self.single_observation_space = first.observation_space
        self.single_action_space = first.action_space
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.ctx = create_context(first.sim_config.egl_device)
        self._backends: dict[tuple[int, str], Any] = {}
        self._autoreset = np.zeros(num_envs, bool)
        self._pending: set[int] = set()
        for i, env in enumerate(self.envs):
            env._render_sensors = self._deferred(i)  # this env's renders go through the batch

    def _deferred(self, i: int):
        def mark() -> None:
            self._pending.add(i)

        return mark

    # ----- gymnasium VectorEnv API ---------------------------------------------------------------
    def reset(self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None):
        seeds = [None if seed is None else seed + i for i in range(self.num_envs)] if not isinstance(seed, list) \
            else seed
        if len(seeds) != self.num_envs:
            raise ValueError(f"reset: {len(seeds)} seeds for {self.num_envs} envs")
        self._pending = set()
        infos: dict[str, Any] = {}
        for i, (env, s) in enumerate(zip(self.envs, seeds)):
            _, info = env.reset(seed=s, options=options)
            infos = self._add_info(infos, info, i)
        self._render()
        self._autoreset[:] = False
        return self._observations(), infos

    def step(self, actions):
        actions = np.asarray(actions)
        self._pending = set()
        rewards = np.zeros(self.num_envs, np.float64)
        terminations = np.zeros(self.num_envs, bool)
        truncations = np.zeros(self.num_envs, bool)
        infos: dict[str, Any] = {}
        step_infos: list[dict[str, Any] | None] = [None] * self.num_envs
        for i, env in enumerate(self.envs):
            if self._autoreset[i]:
                _, step_infos[i] = env.reset()
            else:
                _, rewards[i], terminations[i], truncations[i], step_infos[i] = env.step(actions[i])
        self._render()
        done = terminations | truncations
        if self.autoreset_mode == AutoresetMode.NEXT_STEP:
            self._autoreset = done
        else:  # SAME_STEP: the finished envs' last observations go in the infos, their reset in their place
            for i in np.flatnonzero(done):
                infos = self._add_info(infos, {"final_obs": self.envs[i]._observation(), "final_info": step_infos[i]},
                                       int(i))
                _, step_infos[i] = self.envs[i].reset()
            self._render()
        for i, info in enumerate(step_infos):
            infos = self._add_info(infos, info, i)
        return self._observations(), rewards, terminations, truncations, infos

    def close_extras(self, **kwargs: Any) -> None:
        for env in self.envs:
            env.close()
        for backend in self._backends.values():
            backend.close()
        self._backends.clear()
        self.ctx.release()

    # ----- batched rendering ---------------------------------------------------------------------
    def _backend(self, i: int):
        """Sub-env ``i``'s renderer of its current scene, in the shared context (built once per scene)."""
        from envs.render.gl_backend import GLBackend

        env = self.envs[i]
        key = (i, env.world.key)
        if key not in self._backends:
            cfg = env.sim_config
            self._backends[key] = GLBackend(env.world.scene, near=cfg.near, far=cfg.far, ctx=self.ctx)
        return self._backends[key]

    def _render(self) -> None:
        """Draw every pending sub-env's views, then read them back, and hand each env its frames."""
        pending = sorted(self._pending)
        if not pending:
            return
        from envs.render.batch import draw_then_read
        from envs.simulator import sensors_by_mount

        mounts = sensors_by_mount(self.envs[0].sim_config.sensors)
        with self.ctx:  # a backend built here uploads into the shared context: make it current first
            views = [(i, self._backend(i), P.camera_to_world(self.envs[i].position, self.envs[i].heading, mount),
                      group) for i in pending for mount, group in mounts.items()]
            rendered = draw_then_read([v[1:] for v in views])
        frames: dict[int, dict[str, np.ndarray]] = {i: {} for i in pending}
        for (i, *_), obs in zip(views, rendered):
            frames[i].update(obs)
        for i in pending:
            env = self.envs[i]
            frames[i]["pose"] = P.pose_vector(env.position, env.heading)
            env._sim_obs = frames[i]
        self._pending = set()

    def _observations(self):
        """Fresh arrays every call, as ``SyncVectorEnv(copy=True)`` returns."""
        obs = [env._observation() for env in self.envs]
        return concatenate(self.single_observation_space, obs, create_empty_array(self.single_observation_space,
                                                                                   self.num_envs))


def _creator(env_id: str):
    def make(num_envs: int, **kwargs: Any) -> BatchedVectorEnv:
        return BatchedVectorEnv(env_id, num_envs, **kwargs)

    make.__name__ = make.__qualname__ = "make_" + env_id.split("/")[1].split("-")[0].lower()
    return make


make_pointnav = _creator("VLM2/PointNav-v0")
make_objectnav = _creator("VLM2/ObjectNav-v0")
make_explore = _creator("VLM2/Explore-v0")
