"""Task env classes used for training: PointNav with a cheaper goal sampler.

``envs``' PointNav samples a goal by rejection with one geodesic (a Dijkstra over the nav grid) per
candidate, ~15 ms each, which makes resets dominate short training episodes. The distance from the
start is symmetric, so one distance field from the start answers every candidate: same rejection
rule (uniform navigable points with geodesic distance in ``goal_distance``), one Dijkstra, and the
navigable cells are listed once per scene.

Example:
    >>> env = PointNavFastGoal(config={"sensors": ("depth",), "num_scenes": 1, "sim": {"resolution": (16, 16)}},
    ...                        goal_distance=(1.0, 3.0))
    >>> _, info = env.reset(seed=0)
    >>> 1.0 <= info["distance_to_goal"] <= 3.0 + 0.1
    True
"""

from __future__ import annotations

import numpy as np

from envs.gym.pointnav import PointNavEnv


class PointNavFastGoal(PointNavEnv):
    """``VLM2/PointNav-v0`` with goals sampled against one distance field from the start."""

    def _sample_goal(self) -> np.ndarray:
        lo, hi = self.goal_distance
        field = self.navgrid.distance_field(self.position[None])
        cells = self.world.cache.get("largest_component_cells")
        if cells is None:  # NavGrid.sample_navigable_point recomputes this for every point
            cells = self.world.cache["largest_component_cells"] = np.argwhere(self.navgrid.largest_component)
        rc = cells[self.np_random.integers(len(cells), size=200)]
        cands = self.navgrid.grid_to_world(rc + self.np_random.uniform(0.0, 1.0, (200, 2)) - 0.5)
        d = field[rc[:, 0], rc[:, 1]]
        ok = np.flatnonzero((d >= lo) & (d <= hi))
        if len(ok):
            return cands[int(ok[0])]
        finite = np.flatnonzero(np.isfinite(d))
        return cands[int(finite[np.argmax(d[finite])])] if len(finite) else super()._sample_goal()


__all__ = ["PointNavFastGoal"]
