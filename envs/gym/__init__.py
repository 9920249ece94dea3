"""Gymnasium environments of the VLM2 simulator, registered under the ``VLM2`` namespace on import of ``envs``.

Ids: ``VLM2/Explore-v0`` (walk a scene, exploration expert for EQA videos), ``VLM2/PointNav-v0``
(``pointgoal_with_gps_compass``), ``VLM2/ObjectNav-v0`` (``objectgoal`` + ``gps`` + ``compass``).

Example:
    >>> import gymnasium as gym, envs
    >>> sorted(i for i in gym.registry if i.startswith("VLM2/"))
    ['VLM2/Explore-v0', 'VLM2/ObjectNav-v0', 'VLM2/PointNav-v0']
"""

from __future__ import annotations

from gymnasium.envs.registration import register, registry

from envs.gym.base import ACTIONS, VLM2NavEnv
from envs.gym.config import EnvConfig

_ENVS = {
    "VLM2/Explore-v0": "envs.gym.explore:ExploreEnv",
    "VLM2/PointNav-v0": "envs.gym.pointnav:PointNavEnv",
    "VLM2/ObjectNav-v0": "envs.gym.objectnav:ObjectNavEnv",
}

for _id, _entry in _ENVS.items():
    if _id not in registry:
        # The env truncates by itself at EnvConfig.max_episode_steps (configurable per instance),
        # so no TimeLimit wrapper with a second, conflicting limit is added here.
        register(id=_id, entry_point=_entry, disable_env_checker=False)

__all__ = ["ACTIONS", "EnvConfig", "VLM2NavEnv"]
