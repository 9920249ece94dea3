"""Navigation policies on the VLM2 backbone: SB3 features extractors, a memory wrapper, ReturnNav and
a goal-conditioned memory read (``GoalLocator``).

Importing this package registers ``VLM2/ReturnNav-v0``.

Example:
    >>> import gymnasium as gym
    >>> import vlm2_agent.policy
    >>> "VLM2/ReturnNav-v0" in gym.registry
    True
"""

from gymnasium.envs.registration import register, registry

import envs  # noqa: F401  (registers the VLM2/* base envs)
from vlm2_agent.policy.extractor import RGBDCNNExtractor, VLM2FeaturesExtractor
from vlm2_agent.policy.goal_locator import GoalLocator, GoalLocatorConfig
from vlm2_agent.policy.memory_wrapper import SkipTour, VLM2MemoryWrapper

if "VLM2/ReturnNav-v0" not in registry:
    register(id="VLM2/ReturnNav-v0", entry_point="vlm2_agent.policy.returnnav:ReturnNavEnv", disable_env_checker=False)

__all__ = ["VLM2FeaturesExtractor", "RGBDCNNExtractor", "VLM2MemoryWrapper", "SkipTour", "GoalLocator", "GoalLocatorConfig"]
