"""Discrete agent kinematics with habitat-lab's action space and navmesh-style sliding collisions.

Actions (habitat's ids): ``stop`` 0, ``move_forward`` 1 (0.25 m), ``turn_left`` 2, ``turn_right`` 3
(10 degrees). Heading 0 looks along -Z; a positive heading is a counter-clockwise turn seen from
above (rotation about +Y), which is what ``turn_left`` adds. The forward direction for heading ``h``
is ``(-sin h, 0, -cos h)``.

A forward move is split into sub-steps of at most a third of a grid cell, so thin walls cannot be
tunnelled through. A sub-step that would leave the navigable grid keeps whichever of its x or z
components stays navigable (the one making more progress), like habitat-sim's ``try_step`` sliding
along the navmesh boundary; the agent therefore never stands in a cell without clearance, and
``collided`` reports that the move was cut short.

Example:
    >>> kin = AgentKinematics(grid)                                         # doctest: +SKIP
    >>> result = kin.step(AgentState(np.array([1.0, 0.0, 1.0]), 0.0), "move_forward")  # doctest: +SKIP
    >>> result.state.position, result.collided                              # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from envs.navigation import NavGrid
from envs.pose import forward_vector, wrap_angle
from envs.simulator import AgentState  # the one pose type shared with the renderer


class Action(IntEnum):
    """habitat-lab's discrete navigation actions, with its integer ids."""

    STOP = 0
    MOVE_FORWARD = 1
    TURN_LEFT = 2
    TURN_RIGHT = 3

    @classmethod
    def parse(cls, action: "Action | int | str") -> "Action":
        """Accept an :class:`Action`, its id, or its habitat name (``"move_forward"``)."""
        try:
            if isinstance(action, str):
                return cls[action.upper()]
            return cls(int(action))
        except (KeyError, ValueError):
            names = ", ".join(f"{a.value}={a.name.lower()!r}" for a in cls)
            raise ValueError(f"unknown action {action!r}; expected one of {names}") from None


ACTIONS: tuple[str, ...] = tuple(a.name.lower() for a in Action)  # habitat names; the index is the id
STOP, MOVE_FORWARD, TURN_LEFT, TURN_RIGHT = (int(a) for a in Action)


def heading_towards(src: np.ndarray, dst: np.ndarray) -> float:
    """The heading that looks from ``src`` to ``dst`` (both (3,), y ignored)."""
    d = np.asarray(dst, float) - np.asarray(src, float)
    return float(np.arctan2(-d[0], -d[2]))


@dataclass(frozen=True)
class StepResult:
    """Outcome of one action: the new state, whether the move was blocked, whether stop was called."""

    state: AgentState
    collided: bool = False
    stopped: bool = False


class AgentKinematics:
    """Applies discrete actions on a :class:`NavGrid`. ``turn_angle`` is in degrees."""

    def __init__(self, grid: NavGrid, forward_step_size: float = 0.25, turn_angle: float = 10.0):
        if not forward_step_size > 0 or not 0 < turn_angle < 360:
            raise ValueError(
                f"AgentKinematics: forward_step_size={forward_step_size!r} must be > 0 and "
                f"turn_angle={turn_angle!r} in (0, 360) degrees"
            )
        self.grid = grid
        self.forward_step_size = float(forward_step_size)
        self.turn_angle = float(turn_angle)

    def step(self, state: AgentState, action: "Action | int | str") -> StepResult:
        """Apply ``action`` to ``state``; ``stop`` leaves the pose unchanged and sets ``stopped``."""
        action = Action.parse(action)
        if action == Action.STOP:
            return StepResult(state, stopped=True)
        if action == Action.TURN_LEFT:
            return StepResult(AgentState(state.position, wrap_angle(state.heading + np.radians(self.turn_angle))))
        if action == Action.TURN_RIGHT:
            return StepResult(AgentState(state.position, wrap_angle(state.heading - np.radians(self.turn_angle))))
        start = np.asarray(state.position, np.float64)
        position, collided = self.try_step(start, start + self.forward_step_size * forward_vector(state.heading))
        return StepResult(AgentState(position, state.heading), collided=collided)

    def try_step(self, start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, bool]:
        """Move from ``start`` toward ``end`` as far as the grid allows, sliding along obstacles.

        Returns the reached position and whether the move was cut short.
        """
        start, end = np.asarray(start, np.float64), np.asarray(end, np.float64)
        delta = end - start
        n = max(1, int(np.ceil(np.hypot(delta[0], delta[2]) / (self.grid.cell_size / 3))))
        sub = delta / n
        if self.grid.navigable_at(start + np.arange(1, n + 1)[:, None] * sub).all():
            return start + n * sub, False
        pos, collided = start.copy(), False
        for _ in range(n):
            if self.grid.is_navigable(pos + sub):
                pos = pos + sub
                continue
            collided = True
            # slide: keep the axis component that is free and moves furthest along the intended step
            options = [np.array([sub[0], 0.0, 0.0]), np.array([0.0, 0.0, sub[2]])]
            options.sort(key=lambda o: -abs(o[0] * sub[0] + o[2] * sub[2]))
            for o in options:
                if abs(o[0]) + abs(o[2]) > 0 and self.grid.is_navigable(pos + o):
                    pos = pos + o
                    break
            else:
                break  # wedged: no component of the move is free
        return pos, collided
