"""A fast raster top-down map for video frames: room floors, object footprints, the trajectory so far.

A scene without rooms is drawn from an occupancy raster (``NavGrid.occupancy()``): floor and obstacles.

Drawn once per scene with ``skimage.draw``; each frame then only adds one trajectory segment, so the
cost per step is constant however long the episode (matplotlib's map in ``scenes.topdown`` is for
figures, not per-frame use).

Example:
    >>> import numpy as np
    >>> from scenes.types import Room, Scene
    >>> room = Room(0, "bedroom", np.array([[0, 0], [4, 0], [4, 3], [0, 3]], float), 2.6)
    >>> m = MiniMap(Scene("s", [], rooms=[room]), size=64)
    >>> m.add_point([2.0, 0.0, 1.5]); m.add_point([3.0, 0.0, 1.5])
    >>> m.frame(heading=0.0).shape[2]
    3
"""

from __future__ import annotations

import numpy as np
from skimage import draw

from envs.wrappers.visual import instance_colors
from scenes.topdown import Occupancy, map_extent
from scenes.types import Scene

FLOOR = np.array([225, 225, 225], np.uint8)
OUTSIDE = np.array([255, 255, 255], np.uint8)
WALL = np.array([90, 90, 90], np.uint8)
PATH = np.array([220, 40, 40], np.uint8)
AGENT = np.array([20, 60, 220], np.uint8)


class MiniMap:
    """Top-down raster of ``scene`` whose longer side is ``size`` pixels (x right, z down)."""

    def __init__(self, scene: Scene, size: int = 256, margin: float = 0.3, occupancy: Occupancy | None = None):
        lo, hi = map_extent(scene, margin, occupancy)
        self.lo = lo
        self.scale = (size - 1) / max(float(np.max(hi - lo)), 1e-6)  # pixels per metre
        w, h = (np.ceil((hi - lo) * self.scale).astype(int) + 1).tolist()
        self.base = np.empty((h, w, 3), np.uint8)
        self.base[:] = OUTSIDE
        if occupancy is not None:
            self._paint(occupancy)
        for room in scene.rooms:
            rr, cc = self._poly(room.polygon)
            self.base[rr, cc] = FLOOR
        for room in scene.rooms:
            poly = self.to_pixels(np.asarray(room.polygon, float))
            rr, cc = draw.polygon_perimeter(poly[:, 1], poly[:, 0], shape=(h, w))
            self.base[rr, cc] = WALL
        for obj in scene.objects:
            corners = obj.box.corners()[:, [0, 2]]
            rr, cc = self._poly(_hull(corners))
            self.base[rr, cc] = instance_colors(np.array([obj.instance_id]))[0]
        self.canvas = self.base.copy()
        self._last: np.ndarray | None = None

    def _paint(self, occ: Occupancy) -> None:
        """Floor and obstacles of an occupancy raster (nearest cell per map pixel)."""
        h, w = self.base.shape[:2]
        cols, rows = np.meshgrid(np.arange(w), np.arange(h))
        xz = self.lo + np.stack([cols, rows], -1) / self.scale
        ij = np.floor((xz - occ.origin) / occ.cell_size).astype(int)
        h_occ, w_occ = occ.floor.shape
        inside = (ij[..., 0] >= 0) & (ij[..., 0] < w_occ) & (ij[..., 1] >= 0) & (ij[..., 1] < h_occ)
        r, c = ij[..., 1][inside], ij[..., 0][inside]
        self.base[rows[inside][occ.floor[r, c]], cols[inside][occ.floor[r, c]]] = FLOOR
        self.base[rows[inside][occ.obstacles[r, c]], cols[inside][occ.obstacles[r, c]]] = WALL

    def to_pixels(self, xz: np.ndarray) -> np.ndarray:
        """World (x, z) -> pixel (col, row), float."""
        return (np.asarray(xz, float) - self.lo) * self.scale

    def _poly(self, xz: np.ndarray):
        p = self.to_pixels(xz)
        return draw.polygon(p[:, 1], p[:, 0], shape=self.base.shape[:2])

    def reset(self) -> None:
        self.canvas = self.base.copy()
        self._last = None

    def add_point(self, position) -> None:
        """Extend the trajectory to ``position`` (x, y, z)."""
        p = np.round(self.to_pixels(np.asarray(position, float)[[0, 2]])).astype(int)
        h, w = self.canvas.shape[:2]
        p = np.clip(p, 0, [w - 1, h - 1])
        if self._last is not None and not np.array_equal(p, self._last):
            rr, cc = draw.line(self._last[1], self._last[0], p[1], p[0])
            self.canvas[rr, cc] = PATH
        self._last = p

    def frame(self, heading: float) -> np.ndarray:
        """The map with the trajectory and the agent (a dot and a heading tick) at the last point."""
        img = self.canvas.copy()
        if self._last is None:
            return img
        h, w = img.shape[:2]
        r = max(2, int(round(0.15 * self.scale)))
        rr, cc = draw.disk((self._last[1], self._last[0]), r, shape=(h, w))
        img[rr, cc] = AGENT
        tip = self._last + np.array([-np.sin(heading), -np.cos(heading)]) * (2.5 * r)
        tip = np.clip(np.round(tip).astype(int), 0, [w - 1, h - 1])
        rr, cc = draw.line(self._last[1], self._last[0], tip[1], tip[0])
        img[rr, cc] = AGENT
        return img


def _hull(points: np.ndarray) -> np.ndarray:
    """Convex hull of 2D points in order (the footprint of a rotated box)."""
    from scipy.spatial import ConvexHull

    try:
        return points[ConvexHull(points).vertices]
    except Exception:  # degenerate (flat) footprint: fall back to its bounding rectangle
        lo, hi = points.min(0), points.max(0)
        return np.array([[lo[0], lo[1]], [hi[0], lo[1]], [hi[0], hi[1]], [lo[0], hi[1]]])
