"""Gymnasium environments of the VLM2 simulator, registered under the ``VLM2`` namespace on import of ``envs``.

The one registry of every ``VLM2/*`` id:

| id | what | code |
|---|---|---|
| ``VLM2/Explore-v0`` | walk a scene; the exploration expert records the EQA videos | ``envs.gym.explore`` |
| ``VLM2/PointNav-v0`` | reach a point goal (``pointgoal_with_gps_compass``) | ``envs.gym.pointnav`` |
| ``VLM2/ObjectNav-v0`` | reach an instance of a category (``objectgoal`` + ``gps`` + ``compass``) | ``envs.gym.objectnav`` |
| ``VLM2/ReturnNav-v0`` | follow a tour of a scene, then go back to an object seen on it | ``envs.gym.returnnav`` |
| ``VLM2/EQA-v0`` | watch a recorded video, answer a benchmark question | ``vlm2_agent.eqa.env`` |

``VLM2/EQA-v0`` plays questions of the benchmark, which is built above this layer (from recorded
episodes), so its code lives with the benchmark; only its id is here, as an entry-point string that
gymnasium imports on ``gym.make``. ``TASK_IDS`` maps the navigation task names of the ``policy``
configs to their ids.

Example:
    >>> import gymnasium as gym, envs
    >>> sorted(i for i in gym.registry if i.startswith("VLM2/"))
    ['VLM2/EQA-v0', 'VLM2/Explore-v0', 'VLM2/ObjectNav-v0', 'VLM2/PointNav-v0', 'VLM2/ReturnNav-v0']
    >>> TASK_IDS["objectnav"]
    'VLM2/ObjectNav-v0'
"""

from __future__ import annotations

from gymnasium.envs.registration import register, registry

from envs.gym.base import ACTIONS, VLM2NavEnv
from envs.gym.config import EnvConfig

ENV_IDS = {
    "VLM2/Explore-v0": "envs.gym.explore:ExploreEnv",
    "VLM2/PointNav-v0": "envs.gym.pointnav:PointNavEnv",
    "VLM2/ObjectNav-v0": "envs.gym.objectnav:ObjectNavEnv",
    "VLM2/ReturnNav-v0": "envs.gym.returnnav:ReturnNavEnv",
    "VLM2/EQA-v0": "vlm2_agent.eqa.env:EQAEnv",
}
TASK_IDS = {"pointnav": "VLM2/PointNav-v0", "objectnav": "VLM2/ObjectNav-v0", "returnnav": "VLM2/ReturnNav-v0"}

# gym.make_vec(id, num_envs=N, vectorization_mode="vector_entry_point"): N envs, one batched renderer
_VECTOR = {"VLM2/PointNav-v0": "envs.gym.vector:make_pointnav", "VLM2/ObjectNav-v0": "envs.gym.vector:make_objectnav",
           "VLM2/Explore-v0": "envs.gym.vector:make_explore"}

for _id, _entry in ENV_IDS.items():
    if _id not in registry:
        # The env truncates by itself at EnvConfig.max_episode_steps (configurable per instance),
        # so no TimeLimit wrapper with a second, conflicting limit is added here.
        register(id=_id, entry_point=_entry, disable_env_checker=False, vector_entry_point=_VECTOR.get(_id))

__all__ = ["ACTIONS", "ENV_IDS", "TASK_IDS", "EnvConfig", "VLM2NavEnv"]
