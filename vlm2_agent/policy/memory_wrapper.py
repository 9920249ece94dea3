"""Gymnasium wrappers: VLM2 streaming memory as an observation, and fast-forwarding expert tours.

``VLM2MemoryWrapper`` streams every frame the env renders (RGB, plus depth and the camera pose for
oracle geometry) into a VLM2 memory and adds its fixed-size ``readout()`` (D,) to the observation
under ``memory``. The memory is cleared on every ``reset``; the cost per step is fixed whatever the
episode length. Each wrapper owns its model, so every vector-env worker has its own copy.

Envs with an expert tour (``VLM2/ReturnNav-v0``: ``env.unwrapped.in_tour``) are stepped through
the tour inside ``reset``: the expert acts, the wrapper observes, and the policy gets the first
observation after the tour. ``SkipTour`` does the same without a memory (for memoryless policies).

Example:
    >>> import gymnasium as gym, envs
    >>> env = gym.make("VLM2/PointNav-v0", sensors=("rgb",), sim={"resolution": (32, 32)})
    >>> env = VLM2MemoryWrapper(env, vlm2={"geometry_source": "none", "use_a3pi": False, "use_vaga": False})
    >>> obs, info = env.reset(seed=0)
    >>> obs["memory"].shape
    (128,)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from vlm2_agent.policy.backbone import build_backbone, pinhole_intrinsics, strip_language

MAX_TOUR_STEPS = 100_000  # a guard against an env whose tour never ends


def _in_tour(env: gym.Env) -> bool:
    return bool(getattr(env.unwrapped, "in_tour", False))


def frame_inputs(base: gym.Env, rgb_spec, depth_spec=None) -> tuple[torch.Tensor, dict[str, torch.Tensor] | None]:
    """VLM2 inputs of the frame an env (``env.unwrapped``) rendered last: RGB (1, 3, H, W) uint8 and,
    given the depth sensor's spec, oracle geometry (depth, intrinsics, camera-to-world pose)."""
    raw = base.sensor_observations()
    rgb = torch.from_numpy(np.ascontiguousarray(raw[rgb_spec.uuid][..., :3])).permute(2, 0, 1)[None]
    if depth_spec is None:
        return rgb, None
    depth = np.asarray(raw[depth_spec.uuid], np.float32).reshape(depth_spec.resolution)
    h, w = depth_spec.resolution
    return rgb, {"depth": torch.from_numpy(depth)[None], "intrinsics": pinhole_intrinsics(depth_spec.hfov, w, h),
                 "cam_to_world": torch.from_numpy(base.camera_to_world(depth_spec.uuid)).float()[None]}


class SkipTour(gym.Wrapper):
    """Runs an env's expert tour inside ``reset`` (the env picks the actions), calling ``on_frame``
    after the reset and after every step. ``info["tour_steps"]`` counts the tour's steps."""

    def on_frame(self) -> None:
        """Hook: one new frame is in ``env.unwrapped.sensor_observations()``."""

    def on_reset(self) -> None:
        """Hook: a new episode starts (before its first frame)."""

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        self.on_reset()
        self.on_frame()
        steps = 0
        while _in_tour(self.env):
            if steps >= MAX_TOUR_STEPS:
                raise RuntimeError(f"SkipTour: the tour did not end within {MAX_TOUR_STEPS} steps")
            obs, _, terminated, truncated, info = self.env.step(0)  # the env replaces it by the expert's action
            steps += 1
            self.on_frame()
            if terminated or truncated:
                raise RuntimeError("SkipTour: the episode ended during the expert tour")
        info = {**info, "tour_steps": steps}
        return self.observation(obs), info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.on_frame()
        return self.observation(obs), reward, terminated, truncated, info

    def observation(self, obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return obs


class VLM2MemoryWrapper(SkipTour):
    """Adds ``obs["memory"]``: VLM2's ``readout()`` after streaming every frame of the episode so far.

    Args:
        env: a ``VLM2/*`` env whose simulator renders ``rgb`` (and ``depth`` for oracle geometry).
        vlm2: ``VLM2Config`` fields of a freshly built model (its ``memory_mode`` picks the memory).
        checkpoint: folder of a saved ``VLM2Model`` to load instead (``vlm2`` may then only switch
            memory settings, e.g. ``{"memory_mode": "working"}``).
        seed: weight seed of a freshly built model.
        key: observation key of the readout.
        torch_threads: if set, ``torch.set_num_threads`` for this process (1 in vector-env workers).
    """

    def __init__(self, env: gym.Env, vlm2: Mapping[str, Any] | None = None, checkpoint: str | None = None,
                 seed: int = 0, key: str = "memory", torch_threads: int | None = None):
        super().__init__(env)
        from vlm2_agent.model import VLM2Streamer

        if torch_threads is not None:
            torch.set_num_threads(int(torch_threads))
        model = strip_language(build_backbone(vlm2, checkpoint, seed))
        self.streamer = VLM2Streamer(model, tokenizer=None, device="cpu")
        base = env.unwrapped
        types = {s.type: s for s in base.sim_config.sensors}
        if "rgb" not in types:
            raise ValueError("VLM2MemoryWrapper: the simulator renders no rgb sensor")
        self.oracle = model.config.geometry_source == "oracle"
        if self.oracle and "depth" not in types:
            raise ValueError("VLM2MemoryWrapper: geometry_source='oracle' needs a depth sensor in the simulator "
                             "(add 'depth' to EnvConfig.sensors or sim.sensor_types)")
        self.rgb_spec, self.depth_spec = types["rgb"], types.get("depth")
        if not isinstance(env.observation_space, spaces.Dict):
            raise TypeError("VLM2MemoryWrapper: expected a Dict observation space")
        if key in env.observation_space.spaces:
            raise ValueError(f"VLM2MemoryWrapper: observation key {key!r} already exists")
        self.key = key
        self.dim = model.config.hidden_size
        self.observation_space = spaces.Dict({**env.observation_space.spaces,
                                              key: spaces.Box(-np.inf, np.inf, (self.dim,), np.float32)})
        self._readout = np.zeros(self.dim, np.float32)
        self.frames_observed = 0

    def on_reset(self) -> None:
        self.streamer.reset(1)
        self.frames_observed = 0

    def on_frame(self) -> None:
        rgb, geometry = frame_inputs(self.env.unwrapped, self.rgb_spec, self.depth_spec if self.oracle else None)
        self.streamer.observe(rgb, geometry)
        self._readout = self.streamer.readout()[0].numpy().astype(np.float32)
        self.frames_observed += 1

    def observation(self, obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {**obs, self.key: self._readout.copy()}


__all__ = ["VLM2MemoryWrapper", "SkipTour", "frame_inputs"]
