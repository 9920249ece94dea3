"""A greedy shortest-path follower, like habitat-lab's ``ShortestPathFollower``.

Each call looks up the geodesic path from the agent to the goal, aims at its first waypoint (the
furthest point reachable in a straight line), turns toward it while the heading error exceeds half a
turn step, otherwise moves forward, and returns ``stop`` once the goal is within
``success_distance``.

Example:
    >>> follower = ShortestPathFollower(grid, AgentKinematics(grid), goal=np.array([4.0, 0.0, 2.0]))  # doctest: +SKIP
    >>> action = follower.get_next_action(state)                                                  # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np

from envs.agent import Action, AgentKinematics, AgentState, heading_towards
from envs.measures import POINTNAV_SUCCESS_DISTANCE
from envs.navigation import NavGrid
from envs.pose import wrap_angle


class ShortestPathFollower:
    """Next greedy action toward a point ``goal`` (3,), or toward ``goal_cells`` (K, 2) of the grid
    (e.g. from :meth:`NavGrid.goal_cells_near_object`). Exactly one of the two must be given."""

    def __init__(
        self,
        grid: NavGrid,
        kinematics: AgentKinematics,
        goal: np.ndarray | None = None,
        goal_cells: np.ndarray | None = None,
        success_distance: float = POINTNAV_SUCCESS_DISTANCE,
    ):
        if (goal is None) == (goal_cells is None):
            raise ValueError("ShortestPathFollower needs exactly one of goal (3,) or goal_cells (K, 2)")
        self.grid, self.kinematics = grid, kinematics
        self.goal = None if goal is None else np.asarray(goal, np.float64).reshape(3)
        self.goal_cells = None if goal_cells is None else np.asarray(goal_cells, np.int64).reshape(-1, 2)
        self.success_distance = float(success_distance)

    def distance(self, position: np.ndarray) -> float:
        """Geodesic distance from ``position`` to the goal (inf if unreachable)."""
        if self.goal is not None:
            return self.grid.geodesic_distance(position, self.goal)
        return self.grid.geodesic_distance_to_cells(position, self.goal_cells)

    def path(self, position: np.ndarray) -> np.ndarray:
        """Waypoints (K, 3) from ``position`` to the goal; empty when unreachable."""
        if self.goal is not None:
            return self.grid.shortest_path(position, self.goal)
        return self.grid.shortest_path_to_cells(position, self.goal_cells)

    def get_next_action(self, state: AgentState) -> Action:
        """``STOP`` within success distance (or when the goal is unreachable), else a turn or a step."""
        if self.distance(state.position) < self.success_distance:
            return Action.STOP
        path = self.path(state.position)
        if len(path) < 2:
            return Action.STOP
        # the first waypoint that is not (numerically) where the agent stands
        gaps = np.hypot(path[1:, 0] - state.position[0], path[1:, 2] - state.position[2])
        target = path[1 + int(np.argmax(gaps > 1e-6))]
        error = wrap_angle(heading_towards(state.position, target) - state.heading)
        half_turn = np.radians(self.kinematics.turn_angle) / 2
        if abs(error) <= half_turn + 1e-9:
            return Action.MOVE_FORWARD
        return Action.TURN_LEFT if error > 0 else Action.TURN_RIGHT
