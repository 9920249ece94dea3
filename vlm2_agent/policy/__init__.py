"""Navigation policies on the VLM2 backbone: SB3 features extractors, a memory wrapper, ReturnNav and
a goal-conditioned memory read (``GoalLocator``). The tasks they solve are ``envs``' ``VLM2/*`` ids.

Example:
    >>> from vlm2_agent.policy import GoalLocatorConfig
    >>> GoalLocatorConfig().hidden_size > 0
    True
"""

from vlm2_agent.policy.extractor import RGBDCNNExtractor, VLM2FeaturesExtractor
from vlm2_agent.policy.goal_locator import GoalLocator, GoalLocatorConfig
from vlm2_agent.policy.memory_wrapper import SkipTour, VLM2MemoryWrapper
__all__ = ["VLM2FeaturesExtractor", "RGBDCNNExtractor", "VLM2MemoryWrapper", "SkipTour", "GoalLocator", "GoalLocatorConfig"]
