"""Navigation policies on the VLM2 backbone: SB3 features extractors, a memory wrapper, and a
goal-conditioned memory read (``GoalLocator``). The tasks they solve are ``envs``' ``VLM2/*`` ids;
a run is configured by :class:`~vlm2_agent.policy.config.PolicyConfig`.

The names below are imported on first use (PEP 562): ``vlm2_agent.policy.config`` loads without
torch or stable-baselines3.

Example:
    >>> from vlm2_agent.policy import GoalLocatorConfig
    >>> GoalLocatorConfig().hidden_size > 0
    True
"""

from importlib import import_module

_EXPORTS = {
    "PolicyConfig": "config",
    "RGBDCNNExtractor": "extractor", "VLM2FeaturesExtractor": "extractor",
    "GoalLocator": "goal_locator", "GoalLocatorConfig": "goal_locator",
    "SkipTour": "memory_wrapper", "VLM2MemoryWrapper": "memory_wrapper",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
