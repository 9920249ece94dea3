"""What the agent has seen of the floor: :class:`ExplorationMap`, the seen cells of an env's
navigation grid and the frontier of what has not been seen (the map of the object search,
:mod:`vlm2_agent.policy.object_search`).

Example:
    >>> from envs.navigation import NavGrid
    >>> free = np.ones((4, 6), bool)
    >>> grid = NavGrid(free, free.copy(), ~free, np.zeros(2), 0.5, 0.0, 0.1, 1.5, 0.2)
    >>> m = ExplorationMap(grid)
    >>> m.seen[:, :3] = True  # the left half seen
    >>> np.argwhere(m.frontier())[:, 1].tolist()  # the seen column next to the unseen half
    [2, 2, 2, 2]
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from envs.render.camera import intrinsics

__all__ = ["ExplorationMap"]


def _sensor(base, kind: str):
    spec = next((s for s in base.sim_config.sensors if s.type == kind), None)
    if spec is None:
        raise ValueError(f"object search: the env renders no {kind!r} sensor; add it to the env's sensors")
    return spec


class ExplorationMap:
    """Seen cells of a :class:`~envs.navigation.NavGrid` and the frontier of what has not been seen.

    ``observe(depth, K, camera_to_world)`` marks a cell seen when a point of its column (at
    ``heights`` above the floor) projects into the depth image no farther than the surface seen
    there (a visibility test against the z-buffer, ``max_range`` metres at most; a pixel that hit
    nothing counts as free out to that range). ``frontier()`` is a (H, W) bool mask.
    """

    def __init__(self, grid, max_range: float = 3.0, heights: tuple[float, ...] = (0.05, 0.5, 1.0)):
        if not max_range > 0:
            raise ValueError(f"ExplorationMap: max_range must be > 0 m, got {max_range!r}")
        self.grid = grid
        self.max_range = float(max_range)
        self.seen = np.zeros(grid.shape, bool)
        h, w = grid.shape
        self._cells = np.stack(np.meshgrid(np.arange(h), np.arange(w), indexing="ij"), -1).reshape(-1, 2)
        self._centres = grid.grid_to_world(self._cells)  # (H*W, 3) on the floor
        self._heights = np.asarray(heights, np.float64)

    def observe(self, depth: np.ndarray, K: np.ndarray, camera_to_world: np.ndarray, tolerance: float = 0.1) -> None:
        depth = np.asarray(depth, np.float64)
        h, w = depth.shape
        c2w = np.asarray(camera_to_world, np.float64)
        eye = c2w[:3, 3]
        near = np.hypot(self._centres[:, 0] - eye[0], self._centres[:, 2] - eye[2]) <= self.max_range
        cells, centres = self._cells[near], self._centres[near]
        rot = c2w[:3, :3]
        visible = np.zeros(len(cells), bool)
        for height in self._heights:
            pc = (centres + [0.0, height, 0.0] - eye) @ rot  # world -> camera (rigid inverse)
            z = -pc[:, 2]
            front = z > 1e-3
            with np.errstate(divide="ignore", invalid="ignore"):
                u = np.floor(K[0, 0] * pc[:, 0] / z + K[0, 2]).astype(np.int64, copy=False)
                v = np.floor(K[1, 2] - K[1, 1] * pc[:, 1] / z).astype(np.int64, copy=False)
            inside = front & (u >= 0) & (u < w) & (v >= 0) & (v < h)
            surface = np.full(len(cells), -np.inf)
            surface[inside] = depth[v[inside], u[inside]]
            surface[inside & (surface <= 0)] = np.inf  # nothing hit: free out to the far plane
            visible |= inside & (z <= surface + tolerance)
        self.seen[cells[visible, 0], cells[visible, 1]] = True

    def observe_env(self, env) -> None:
        """:meth:`observe` the depth frame an env (``env.unwrapped``) rendered last, at its pose."""
        base = env.unwrapped
        spec = _sensor(base, "depth")
        depth = np.asarray(base.sensor_observations()[spec.uuid], np.float64).reshape(spec.resolution)
        h, w = spec.resolution
        self.observe(depth, intrinsics(spec.hfov, w, h), base.camera_to_world(spec.uuid))

    def frontier(self) -> np.ndarray:
        """Seen navigable cells with a 4-neighbour that is navigable and not yet seen."""
        free = self.grid.navigable
        unseen_free = free & ~self.seen
        cross = ndimage.generate_binary_structure(2, 1)
        return free & self.seen & ndimage.binary_dilation(unseen_free, structure=cross)

    def nearest_frontier(self, position: np.ndarray, heading: float = 0.0, min_distance: float = 1.0,
                         step_size: float = 0.25, turn_angle: float = 10.0,
                         frontier: np.ndarray | None = None) -> np.ndarray | None:
        """The world point of the frontier cell cheapest to reach from the pose, in steps: geodesic
        distance / ``step_size`` plus the turn toward it / ``turn_angle`` (degrees), so that of two
        frontiers about as far the one ahead wins. Only cells at least ``min_distance`` away count
        while there are any. ``frontier``: :meth:`frontier`, if the caller has it already. One grid
        solve; None when no reachable frontier is left."""
        cells = np.argwhere(self.frontier() if frontier is None else frontier)
        if not len(cells):
            return None
        position = np.asarray(position, float)
        field = self.grid.distance_field(position[None])
        d = field[cells[:, 0], cells[:, 1]]
        ok = np.isfinite(d) & (d >= min_distance)
        if not ok.any():
            ok = np.isfinite(d)
            if not ok.any():
                return None
        cells, d = cells[ok], d[ok]
        points = self.grid.grid_to_world(cells)
        bearing = np.arctan2(-(points[:, 0] - position[0]), -(points[:, 2] - position[2]))  # heading 0 faces -z
        turn = np.abs((bearing - heading + np.pi) % (2 * np.pi) - np.pi)
        cost = d / step_size + np.degrees(turn) / turn_angle
        return points[int(np.argmin(cost))]
