"""``VLM2/PointNav-v0``: reach a point goal; habitat-lab's ``pointgoal_with_gps_compass`` sensor and measures.

## Action Space

``Discrete(4)``: ``stop``, ``move_forward``, ``turn_left``, ``turn_right`` (:mod:`envs.gym.base`).

## Observation Space

The sensors of :mod:`envs.gym.base` plus

| key | space | meaning |
|---|---|---|
| ``pointgoal_with_gps_compass`` | ``Box([0, -pi], [inf, pi], (2,), float32)`` | ``[rho, phi]``: the goal's distance (m) and direction (rad, positive = to the agent's left) from the current pose |

as habitat-lab's ``IntegratedPointGoalGPSAndCompassSensor`` (polar, ``[rho, -phi]`` of its cartesian frame).

## Rewards

habitat-lab's (``reward_measure`` = distance_to_goal): the decrease of the geodesic distance to the
goal, minus 0.01 per step, plus 2.5 on success.

## Episode End

Termination: ``stop``. Truncation: ``max_episode_steps`` (500). ``info`` (:mod:`envs.measures`):
``distance_to_goal`` (geodesic, m), ``success`` (``stop`` with ``distance_to_goal < success_distance``,
0.2 m), ``spl`` = success * d_start / max(d_start, path_length), ``soft_spl``.

## Arguments

:class:`envs.gym.config.EnvConfig` fields and ``goal_distance=(lo, hi)``, the geodesic start-goal
distance range in metres.

Example:
    >>> import gymnasium as gym, envs
    >>> env = gym.make("VLM2/PointNav-v0", sensors=("depth",), sim={"resolution": (32, 32)})
    >>> obs, info = env.reset(seed=3)
    >>> while True:
    ...     obs, r, term, trunc, info = env.step(env.unwrapped.oracle_action())
    ...     if term or trunc:
    ...         break
    >>> info["success"], info["spl"] > 0.9
    (1.0, True)
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from envs.gym.base import STOP, VLM2NavEnv

_FIELD_MARGIN = 2.0  # m past goal_distance's upper end that a reset's distance field is solved to

SLACK_REWARD = -0.01
SUCCESS_REWARD = 2.5


def polar_goal(position: np.ndarray, heading: float, goal: np.ndarray) -> np.ndarray:
    """``[rho, phi]`` of ``goal`` seen from an agent at ``position`` with ``heading`` (phi > 0: left).

    >>> [round(float(v), 4) for v in polar_goal(np.zeros(3), 0.0, np.array([-1.0, 0.0, 0.0]))]  # 1 m to the left
    [1.0, 1.5708]
    """
    d = np.asarray(goal, float) - np.asarray(position, float)
    forward = -np.sin(heading) * d[0] - np.cos(heading) * d[2]
    right = np.cos(heading) * d[0] - np.sin(heading) * d[2]
    return np.array([np.hypot(forward, right), np.arctan2(-right, forward)], np.float32)


class NavTaskMixin:
    """Measures and reward shared by PointNav and ObjectNav, computed by :class:`envs.measures.NavigationMeasures`
    (one definition of ``success``: ``stop`` with ``distance_to_goal < success_distance``, strict as in
    habitat-lab). Subclasses give ``_distance_to_goal_at(position)``, the geodesic distance to the goal."""

    success_distance: float

    def _distance_to_goal_at(self, position: np.ndarray) -> float:
        raise NotImplementedError

    def _start_measures(self) -> None:
        from envs.measures import NavigationMeasures

        self.measures = NavigationMeasures(self._distance_to_goal_at, self.success_distance)
        try:
            self.measures.reset(self.position)
        except ValueError as exc:
            raise RuntimeError(f"scene {self.scene.scene_id}: goal not reachable from the start (sampling bug)") from exc

    def _measure_step(self, action: int) -> tuple[float, bool]:
        prev = self.distance_to_goal
        values = self.measures.update(self.position, stopped=action == STOP)
        reward = (prev - values["distance_to_goal"]) + SLACK_REWARD
        if values["success"]:
            reward += SUCCESS_REWARD
        return reward, action == STOP

    @property
    def distance_to_goal(self) -> float:
        return self.measures.distance_to_goal.value

    @property
    def start_distance(self) -> float:
        return self.measures.distance_to_goal.start_distance

    @property
    def path_length(self) -> float:
        return self.measures.spl.path_length

    @property
    def success(self) -> float:
        return self.measures.success.value

    def _measures(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.measures.values.items()}


class PointNavEnv(NavTaskMixin, VLM2NavEnv):
    """PointNav. Extra arguments: ``success_distance`` (0.2 m), ``goal_distance`` ((min, max) geodesic m)."""

    def __init__(self, config=None, render_mode=None, success_distance: float = 0.2,
                 goal_distance: tuple[float, float] = (1.0, 10.0), **kwargs):
        lo, hi = (float(v) for v in goal_distance)
        if not 0 < lo < hi:
            raise ValueError(f"goal_distance: expected (min, max) metres with 0 < min < max, got {goal_distance!r}")
        if not float(success_distance) > 0:
            raise ValueError(f"success_distance: expected > 0 metres, got {success_distance!r}")
        self.success_distance = float(success_distance)
        self.goal_distance = (lo, hi)
        self.goal = np.zeros(3)
        super().__init__(config, render_mode, **kwargs)

    def _task_spaces(self) -> dict[str, spaces.Space]:
        hi = np.array([np.finfo(np.float32).max, np.pi], np.float32)
        return {"pointgoal_with_gps_compass": spaces.Box(np.array([0, -np.pi], np.float32), hi, (2,), np.float32)}

    def _task_options(self) -> tuple[str, ...]:
        return ("goal",)

    def _reset_task(self, options: dict[str, Any]) -> None:
        if "goal" in options:
            self.goal = self._place(np.asarray(options["goal"], float))
        elif "position" in options:
            self.goal = self._pick_in_range(self.position)
        else:
            # Sample the goal first and the start among points in range of it: the one distance
            # field rooted at the goal then serves both the sampling and every step's measures
            # (geodesic distance is symmetric), one Dijkstra per reset instead of two.
            self.goal = self.position
            self.position = self._pick_in_range(self.goal)
        self._start_measures()

    def _episode_task_options(self, episode) -> dict[str, Any]:
        if episode.goal_position is None:
            raise ValueError(f"episode {episode.episode_id!r}: a PointNav episode needs goals[0].position")
        return {"goal": episode.goal_position}

    def _pick_in_range(self, anchor: np.ndarray) -> np.ndarray:
        """A uniform navigable point whose geodesic distance from ``anchor`` lies in ``goal_distance``.

        Small scenes may have no point that far: then the farthest reachable candidate is taken.
        """
        lo, hi = self.goal_distance
        # Solved out to a margin past the range only: the agent starts within `hi` and mostly stays
        # near; a step from beyond the margin solves the rest (NavGrid._field), the answers unchanged.
        field = self.navgrid.distance_field(anchor[None], limit=hi + _FIELD_MARGIN)
        points, cells = self.navgrid.sample_navigable_cells(self.np_random, 200)
        d = field[cells[:, 0], cells[:, 1]]
        in_range = np.flatnonzero((d >= lo) & (d <= hi))
        if len(in_range):
            return points[int(in_range[0])]
        field = self.navgrid.distance_field(anchor[None])
        d = field[cells[:, 0], cells[:, 1]]
        reachable = np.flatnonzero(np.isfinite(d))
        if not len(reachable):
            raise RuntimeError(f"scene {self.scene.scene_id!r}: no point reachable from {anchor}")
        return points[int(reachable[np.argmax(d[reachable])])]

    def _distance_to_goal_at(self, position: np.ndarray) -> float:
        return self._geodesic(position, self.goal)

    def _task_step(self, action: int) -> tuple[float, bool]:
        return self._measure_step(action)

    def _task_observation(self) -> dict[str, np.ndarray]:
        return {"pointgoal_with_gps_compass": polar_goal(self.position, self.heading, self.goal)}

    def _task_info(self) -> dict[str, Any]:
        return {**self._measures(), "goal": self.goal.copy()}

    def oracle_action(self) -> int:
        """The shortest-path follower's action toward the goal (``stop`` within the success distance)."""
        from envs.agent import AgentState

        follower = self._follower(goal=self.goal, success_distance=self.success_distance)
        return int(follower.get_next_action(AgentState(self.position, self.heading)))
