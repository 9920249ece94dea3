"""``VLM2/ObjectNav-v0``: find an instance of a category; habitat-lab's ``objectgoal``, ``gps``, ``compass``.

## Action Space

``Discrete(4)``: ``stop``, ``move_forward``, ``turn_left``, ``turn_right`` (:mod:`envs.gym.base`).

## Observation Space

The sensors of :mod:`envs.gym.base` plus

| key | space | meaning |
|---|---|---|
| ``objectgoal`` | ``Box(0, C - 1, (1,), int64)`` | index into ``env.unwrapped.categories`` |
| ``gps`` | ``Box((2,), float32)`` | position relative to the start, ``[forward, right]`` in the start frame (habitat-lab's ``[-z, x]``) |
| ``compass`` | ``Box(-pi, pi, (1,), float32)`` | heading relative to the start, positive = turned left |

## Rewards

As PointNav's, with the distance to the nearest goal view point: its decrease, minus 0.01 per
step, plus 2.5 on success.

## Episode End

Termination: ``stop``. Truncation: ``max_episode_steps`` (500). Goals, as habitat-lab: the *view
points* of every instance of the goal category (navigable cells within ``view_radius`` of the
object's footprint). ``distance_to_goal`` is the geodesic distance to the nearest view point;
``success`` = ``stop`` with ``distance_to_goal < success_distance`` (0.1 m, strict as habitat-lab;
:mod:`envs.measures`); ``spl`` and ``soft_spl`` (1 - d/d_start, weighted by d_start / max(d_start,
path_length)).

Example:
    >>> import gymnasium as gym, envs
    >>> env = gym.make("VLM2/ObjectNav-v0", sensors=("rgb",), sim={"resolution": (32, 32)})
    >>> obs, info = env.reset(seed=0)
    >>> env.unwrapped.categories[int(obs["objectgoal"][0])] == info["goal_category"]
    True
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from envs.gym.base import VLM2NavEnv
from envs.gym.pointnav import NavTaskMixin
from envs.pose import wrap_angle


def default_categories() -> tuple[str, ...]:
    """The scene catalogue's object categories, in its fixed order (the ``objectgoal`` index space)."""
    from scenes.catalog import CATALOG

    return tuple(CATALOG)


class ObjectNavEnv(NavTaskMixin, VLM2NavEnv):
    """ObjectNav. Extra arguments: ``categories`` (goal vocabulary; default the generator's),
    ``success_distance`` (0.1 m), ``view_radius`` (1.0 m), ``min_start_distance`` (1.0 m: like
    habitat-lab's ObjectNav episodes, a random start is at least this far (geodesic) from the goal's
    view points, so stopping at once never succeeds)."""

    def __init__(self, config=None, render_mode=None, categories: tuple[str, ...] | None = None,
                 success_distance: float = 0.1, view_radius: float = 1.0, min_start_distance: float = 1.0,
                 **kwargs):
        self.categories = tuple(categories) if categories is not None else default_categories()
        if not self.categories or len(set(self.categories)) != len(self.categories):
            raise ValueError(f"categories: expected a non-empty list of distinct names, got {categories!r}")
        if not float(success_distance) > 0 or not float(view_radius) > 0:
            raise ValueError(f"success_distance and view_radius must be > 0 m, got {success_distance!r}, {view_radius!r}")
        self.success_distance = float(success_distance)
        self.view_radius = float(view_radius)
        if not float(min_start_distance) >= 0:
            raise ValueError(f"min_start_distance must be >= 0 m, got {min_start_distance!r}")
        self.min_start_distance = float(min_start_distance)
        self.goal_category = ""
        self.start_position = np.zeros(3)
        self.start_heading = 0.0
        super().__init__(config, render_mode, **kwargs)

    def _task_spaces(self) -> dict[str, spaces.Space]:
        big = np.float32(1e4)
        return {
            "objectgoal": spaces.Box(0, len(self.categories) - 1, (1,), np.int64),
            "gps": spaces.Box(-big, big, (2,), np.float32),
            "compass": spaces.Box(-np.pi, np.pi, (1,), np.float32),
        }

    def _task_options(self) -> tuple[str, ...]:
        return ("goal_category",)

    def _reset_task(self, options: dict[str, Any]) -> None:
        if "goal_category" in options:
            cat = options["goal_category"]
            present = self._goal_distances()
            if cat not in present:
                raise ValueError(f"goal_category {cat!r}: not reachable in scene {self.scene.scene_id}; "
                                 f"present: {sorted(present)}")
        else:
            cat = self._sample_goal_category(resample_start="position" not in options)
        self.goal_category = cat
        self.start_position = self.position.copy()
        self.start_heading = self.heading
        self._start_measures()

    def _episode_task_options(self, episode) -> dict[str, Any]:
        if episode.object_category is None:
            raise ValueError(f"episode {episode.episode_id!r}: an ObjectNav episode needs object_category")
        return {"goal_category": episode.object_category}

    def _goal_distances(self) -> dict[str, float]:
        """Geodesic distance from the agent to each reachable goal category present in the scene."""
        present = sorted({o.category for o in self.scene.objects if o.category in self.categories})
        dists = {c: self.navgrid.geodesic_distance_to_cells(self.position, self._goal_cells(c)) for c in present}
        return {c: float(d) for c, d in dists.items() if np.isfinite(d)}

    def _sample_goal_category(self, resample_start: bool, tries: int = 20) -> str:
        """A uniform category at least ``min_start_distance`` away; random starts are redrawn until one is."""
        for _ in range(tries):
            dists = self._goal_distances()
            far = [c for c, d in dists.items() if d >= self.min_start_distance]
            if far:
                return far[int(self.np_random.integers(len(far)))]
            if not resample_start:
                break
            self.position = self._sample_start()
        if not dists:
            raise RuntimeError(f"scene {self.scene.scene_id}: no reachable object of the goal categories")
        # A start given by the caller (or a tiny scene) may be near every goal: keep it, take any goal.
        names = sorted(dists)
        return names[int(self.np_random.integers(len(names)))]

    def _goal_cells(self, category: str) -> np.ndarray:
        """View points (grid cells, (K, 2)) of every instance of ``category``, cached per scene."""
        key = ("objectnav_goal", category, self.view_radius)
        cells = self.world.cache.get(key)
        if cells is None:
            per_obj = [self.navgrid.goal_cells_near_object(o.box, self.view_radius)
                       for o in self.scene.objects if o.category == category]
            cells = np.unique(np.concatenate(per_obj), axis=0) if per_obj else np.zeros((0, 2), np.int64)
            self.world.cache[key] = cells
        return cells

    def _distance_to_goal_at(self, position: np.ndarray) -> float:
        return float(self.navgrid.geodesic_distance_to_cells(position, self._goal_cells(self.goal_category)))

    def _task_step(self, action: int) -> tuple[float, bool]:
        return self._measure_step(action)

    def _task_observation(self) -> dict[str, np.ndarray]:
        d = self.position - self.start_position
        h = self.start_heading
        forward = -np.sin(h) * d[0] - np.cos(h) * d[2]
        right = np.cos(h) * d[0] - np.sin(h) * d[2]
        return {
            "objectgoal": np.array([self.categories.index(self.goal_category)], np.int64),
            "gps": np.array([forward, right], np.float32),
            "compass": np.array([wrap_angle(self.heading - self.start_heading)], np.float32),
        }

    def _task_info(self) -> dict[str, Any]:
        return {**self._measures(), "goal_category": self.goal_category}

    def oracle_action(self) -> int:
        """The shortest-path follower's action toward the nearest view point of the goal category."""
        from envs.agent import AgentState

        follower = self._follower(goal_cells=self._goal_cells(self.goal_category),
                                  success_distance=self.success_distance)
        return int(follower.get_next_action(AgentState(self.position, self.heading)))
