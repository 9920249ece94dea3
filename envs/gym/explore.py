"""``VLM2/Explore-v0``: walk a scene; the exploration expert makes natural egocentric tours for EQA.

## Action Space

``Discrete(4)``: ``stop``, ``move_forward``, ``turn_left``, ``turn_right`` (:mod:`envs.gym.base`).

## Observation Space

The sensors of :mod:`envs.gym.base` only.

## Rewards

Floor area (m^2) newly covered by the agent's footprint on a 0.5 m grid, so an RL policy is paid
for going somewhere new.

## Episode End

Termination: ``stop``. Truncation: ``max_episode_steps`` (the tour preset's budget by default).
``info`` carries ``coverage_m2``, ``rooms_visited`` and ``num_rooms``.

## Arguments

``tour``: a preset (``short`` 200, ``mid`` 400, ``long`` 1000 steps) or a step budget. With
``expert=True`` (default) a tour is planned at reset within the budget and
``env.unwrapped.expert_action()`` gives its next action.

Example:
    >>> import gymnasium as gym, envs
    >>> env = gym.make("VLM2/Explore-v0", tour="mid", sensors=("rgb",), sim={"resolution": (32, 32)})
    >>> obs, info = env.reset(seed=1)
    >>> done = False
    >>> while not done:
    ...     obs, r, term, trunc, info = env.step(env.unwrapped.expert_action())
    ...     done = term or trunc
    >>> info["rooms_visited"] == info["num_rooms"]
    True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from envs.gym.base import STOP, VLM2NavEnv

TOUR_PRESETS = {"short": 200, "mid": 400, "long": 1000}
COVERAGE_CELL = 0.5  # metres; coarse enough that turning in place earns nothing


def room_id_at(world, position) -> int | None:
    """The id of the room containing ``position`` (x, z), or None; polygons prepared once per scene."""
    import shapely

    cached = world.cache.get("room_polygons")
    if cached is None:
        polys = np.array([shapely.Polygon(r.polygon) for r in world.scene.rooms], dtype=object)
        shapely.prepare(polys)
        cached = world.cache["room_polygons"] = ([int(r.room_id) for r in world.scene.rooms], polys)
    ids, polys = cached
    if not ids:
        return None
    hits = np.flatnonzero(shapely.intersects_xy(polys, float(position[0]), float(position[2])))
    return ids[hits[0]] if len(hits) else None


class ExploreEnv(VLM2NavEnv):
    """Exploration. Extra arguments: ``tour`` (a preset name or a step budget), ``expert`` (plan a tour at reset)."""

    def __init__(self, config=None, render_mode=None, tour: str | int = "mid", expert: bool = True, **kwargs):
        if isinstance(tour, str):
            if tour not in TOUR_PRESETS:
                raise ValueError(f"tour: expected one of {tuple(TOUR_PRESETS)} or a step budget, got {tour!r}")
            budget = TOUR_PRESETS[tour]
        elif isinstance(tour, (int, np.integer)) and not isinstance(tour, bool) and tour >= 1:
            budget = int(tour)
        else:
            raise ValueError(f"tour: expected one of {tuple(TOUR_PRESETS)} or a positive int, got {tour!r}")
        if not (isinstance(config, Mapping) and "max_episode_steps" in config):
            kwargs.setdefault("max_episode_steps", budget)
        super().__init__(config, render_mode, **kwargs)
        self.tour_budget = budget
        self.use_expert = bool(expert)
        self.tour: list[int] = []
        self._visited_cells: set[tuple[int, int]] = set()
        self._rooms_visited: set[int] = set()

    def _reset_task(self, options: dict[str, Any]) -> None:
        self._visited_cells = set()
        self._rooms_visited = set()
        self._mark_visited()
        self.tour = []
        if self.use_expert:
            from envs.expert import plan_tour

            budget = min(self.tour_budget, self.config.max_episode_steps)
            self.tour = plan_tour(self, budget, rng=np.random.default_rng(self.np_random.integers(2**63)))

    def expert_action(self) -> int:
        """The tour's action for the current step (``stop`` once the tour is over)."""
        if not self.use_expert:
            raise RuntimeError("expert_action(): this env was made with expert=False")
        t = self.elapsed_steps
        return int(self.tour[t]) if t < len(self.tour) else STOP

    def _mark_visited(self) -> int:
        cell = (int(np.floor(self.position[0] / COVERAGE_CELL)), int(np.floor(self.position[2] / COVERAGE_CELL)))
        new = cell not in self._visited_cells
        self._visited_cells.add(cell)
        room = room_id_at(self.world, self.position)
        if room is not None:
            self._rooms_visited.add(room)
        return int(new)

    def _task_step(self, action: int) -> tuple[float, bool]:
        if action == STOP:
            return 0.0, True
        return self._mark_visited() * COVERAGE_CELL**2, False

    def _task_info(self) -> dict[str, Any]:
        return {
            "coverage_m2": len(self._visited_cells) * COVERAGE_CELL**2,
            "rooms_visited": len(self._rooms_visited),
            "num_rooms": len(self.scene.rooms),
            "tour_length": len(self.tour),
        }
