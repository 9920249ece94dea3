"""Simulation for vlm2: render a :class:`scenes.types.Scene` from an agent's sensors.

Example:
    >>> from envs import Simulator, SimulatorConfig  # doctest: +SKIP
    >>> sim = Simulator(scene, SimulatorConfig()); obs = sim.get_observations()  # doctest: +SKIP
"""

from envs.config import SensorSpec, SimulatorConfig
from envs.pose import camera_to_world, heading_to_quaternion, pose_vector, quaternion_to_heading, wrap_angle
from envs.simulator import AgentState, Simulator

__all__ = [
    "AgentState",
    "SensorSpec",
    "Simulator",
    "SimulatorConfig",
    "camera_to_world",
    "heading_to_quaternion",
    "pose_vector",
    "quaternion_to_heading",
    "wrap_angle",
]
from envs import gym as _gym  # noqa: F401  (registers the VLM2/* ids)
