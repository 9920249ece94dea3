"""A navigable occupancy grid in the (x, z) floor plane, built from a scene's triangles.

A cell is *navigable* when an upward-facing surface lies at floor height under its centre, no
geometry occupies the body slab ``(floor + max_climb, floor + agent_height)`` within
``agent_radius + cell_size/sqrt(2)`` of its centre, and it is that far from the floor's edge. The
extra half cell-diagonal makes the grid conservative: *every* point of a navigable cell keeps at
least ``agent_radius`` clearance from the geometry, so an agent that only stands in navigable cells
never overlaps a wall. Obstacle clearance is measured exactly (point-to-triangle distance at cell
centres, after clipping triangles to the slab), not by dilating a coarse raster.

Geodesic distances run Dijkstra (``scipy.sparse.csgraph``) on a 32-neighbour grid graph whose edges
are straight moves of up to 3 cells that stay on navigable cells. ``skimage.graph.MCP_Geometric``
only allows unit moves (an octile metric, up to 8 % too long); the 32-neighbourhood is within
about 1.3 % of the Euclidean length in free space at the same speed. One Dijkstra run per goal set
is cached, so ``geodesic_distance`` is a lookup after the first call.

Example:
    >>> grid = NavGrid.from_scene(scene, cell_size=0.05, agent_radius=0.1)   # doctest: +SKIP
    >>> start = grid.sample_navigable_point(np.random.default_rng(0))        # doctest: +SKIP
    >>> grid.geodesic_distance(start, goal), grid.shortest_path(start, goal)  # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy import ndimage
from scipy.sparse.csgraph import dijkstra
from skimage import measure

from envs.navigation_grid import (
    clip_to_slab,
    dedupe_footprints,
    estimate_floor_height,
    grid_graph,
    rasterize,
    scene_triangles,
)
from scenes.types import OrientedBox, Scene

_MAX_CELLS = 40_000_000
_FIELD_CACHE = 16


@dataclass
class NavGrid:
    """Navigable cells of one floor level. Row ``i`` is z, column ``j`` is x; cell centres are at
    ``origin + (j + 0.5, i + 0.5) * cell_size``. Build it with :meth:`from_scene`."""

    navigable: np.ndarray  # (H, W) bool
    floor: np.ndarray  # (H, W) bool: walkable surface at floor height, before clearance
    obstacles: np.ndarray  # (H, W) bool: body-height geometry within half a cell of the centre
    origin: np.ndarray  # (2,) world (x, z) of the grid's corner
    cell_size: float
    floor_height: float
    agent_radius: float
    agent_height: float
    max_climb: float
    _labels: np.ndarray | None = field(default=None, repr=False)
    _component_cells: np.ndarray | None = field(default=None, repr=False)
    _graph: sp.csr_matrix | None = field(default=None, repr=False)
    _fields: OrderedDict = field(default_factory=OrderedDict, repr=False)

    def __post_init__(self):
        self.origin = np.asarray(self.origin, np.float64)
        self._ox, self._oz = float(self.origin[0]), float(self.origin[1])

    @classmethod
    def from_scene(
        cls,
        scene: Scene,
        cell_size: float = 0.05,
        agent_radius: float = 0.1,
        agent_height: float = 1.5,
        max_climb: float = 0.2,
        floor_height: float | None = None,
        floor_tolerance: float = 0.05,
        max_slope_deg: float = 25.0,
    ) -> "NavGrid":
        """Build the grid from ``scene.meshes`` (Y up, metres).

        ``floor_height`` defaults to the lowest height holding at least a quarter of the largest
        share of upward-facing area. Upward surfaces within ``[floor - floor_tolerance, floor +
        max_climb]`` are floor (so rugs and low steps are walkable, table tops are not).
        """
        for name, value, ok in [
            ("cell_size", cell_size, cell_size > 0),
            ("agent_radius", agent_radius, agent_radius >= 0),
            ("max_climb", max_climb, max_climb >= 0),
            ("agent_height", agent_height, agent_height > max_climb),
        ]:
            if not (ok and np.isfinite(value)):
                raise ValueError(f"NavGrid.from_scene({scene.scene_id!r}): bad {name}={value!r}")
        tris, facing = scene_triangles(scene)
        up = facing >= np.cos(np.radians(max_slope_deg))
        fh = estimate_floor_height(tris, up, scene.scene_id) if floor_height is None else float(floor_height)
        lo_xz, hi_xz = tris[..., [0, 2]].reshape(-1, 2).min(0), tris[..., [0, 2]].reshape(-1, 2).max(0)
        origin = lo_xz - cell_size
        w, h = (np.ceil((hi_xz - origin) / cell_size).astype(int) + 1).tolist()
        if w * h > _MAX_CELLS:
            raise ValueError(
                f"scene {scene.scene_id!r} spans {hi_xz - lo_xz} m: {w}x{h} cells at cell_size={cell_size} "
                f"exceeds {_MAX_CELLS}; use a larger cell_size"
            )
        heights = tris[..., 1].mean(1)
        floor_tris = tris[up & (heights >= fh - floor_tolerance) & (heights <= fh + max_climb)]
        (floor,) = rasterize(floor_tris[..., [0, 2]], origin, cell_size, (h, w), [1e-9])
        clearance = agent_radius + cell_size * np.sqrt(0.5)
        body = dedupe_footprints(clip_to_slab(tris, fh + max_climb + 1e-4, fh + agent_height))
        obstacles, blocked = rasterize(body, origin, cell_size, (h, w), [cell_size / 2, clearance])
        # the floor's own edge (a drop, the outside) needs the same clearance as a wall
        edge_dist = ndimage.distance_transform_edt(floor) * cell_size - cell_size / 2
        navigable = floor & ~blocked & (edge_dist >= clearance)
        return cls(navigable, floor, obstacles, origin, float(cell_size), fh, float(agent_radius),
                   float(agent_height), float(max_climb))

    # ---------------------------------------------------------------- coordinates
    @property
    def shape(self) -> tuple[int, int]:
        return self.navigable.shape

    def world_to_grid(self, points: np.ndarray) -> np.ndarray:
        """(..., 3) world points -> (..., 2) int (row, col) cells (may lie outside the grid)."""
        p = np.asarray(points, np.float64)
        if p.shape[-1] != 3:
            raise ValueError(f"expected world points of shape (..., 3) as (x, y, z), got {p.shape}")
        xz = (p[..., [2, 0]] - self.origin[::-1]) / self.cell_size
        return np.floor(xz).astype(np.int64)

    def grid_to_world(self, cells: np.ndarray) -> np.ndarray:
        """(..., 2) (row, col) cells -> (..., 3) world points at the cell centres, y = floor height."""
        c = np.asarray(cells, np.float64)
        x = self.origin[0] + (c[..., 1] + 0.5) * self.cell_size
        z = self.origin[1] + (c[..., 0] + 0.5) * self.cell_size
        return np.stack([x, np.full_like(x, self.floor_height), z], axis=-1)

    def navigable_at(self, points: np.ndarray) -> np.ndarray:
        """Vectorised :meth:`is_navigable` over (..., 3) points."""
        rc = self.world_to_grid(points)
        h, w = self.shape
        inside = (rc[..., 0] >= 0) & (rc[..., 0] < h) & (rc[..., 1] >= 0) & (rc[..., 1] < w)
        out = np.zeros(rc.shape[:-1], bool)
        out[inside] = self.navigable[rc[inside][:, 0], rc[inside][:, 1]]
        return out

    def is_navigable(self, point: np.ndarray) -> bool:
        """True when the agent may stand at ``point`` (x, y, z); y is ignored (one floor level)."""
        # scalar path: the agent's sub-stepping calls this thousands of times per episode
        if len(point) != 3:
            raise ValueError(f"expected a world point (x, y, z), got {point!r}")
        j = math.floor((float(point[0]) - self._ox) / self.cell_size)
        i = math.floor((float(point[2]) - self._oz) / self.cell_size)
        h, w = self.navigable.shape
        return bool(0 <= i < h and 0 <= j < w and self.navigable[i, j])

    # ---------------------------------------------------------------- components and sampling
    @property
    def component_labels(self) -> np.ndarray:
        """8-connected components of the navigable cells (0 = not navigable)."""
        if self._labels is None:
            self._labels = measure.label(self.navigable, connectivity=2)
        return self._labels

    @property
    def largest_component(self) -> np.ndarray:
        """(H, W) bool mask of the largest 8-connected navigable component."""
        labels = self.component_labels
        if labels.max() == 0:
            return np.zeros(self.shape, bool)
        return labels == np.argmax(np.bincount(labels.ravel())[1:]) + 1

    @property
    def largest_component_cells(self) -> np.ndarray:
        """(N, 2) int (row, col) of the cells of :attr:`largest_component`, computed once."""
        if self._component_cells is None:
            self._component_cells = np.argwhere(self.largest_component)
        return self._component_cells

    def sample_navigable_point(self, rng: np.random.Generator) -> np.ndarray:
        """A uniformly random point (x, floor_height, z) on the largest component."""
        cells = self.largest_component_cells
        if len(cells) == 0:
            raise ValueError("the navigation grid has no navigable cell to sample from")
        rc = cells[rng.integers(len(cells))] + rng.uniform(0.0, 1.0, 2)
        return self.grid_to_world(rc - 0.5)

    def sample_navigable_cells(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``n`` uniform random points on the largest component: world points (n, 3) and their cells (n, 2)."""
        cells = self.largest_component_cells
        if len(cells) == 0:
            raise ValueError("the navigation grid has no navigable cell to sample from")
        rc = cells[rng.integers(len(cells), size=n)]
        return self.grid_to_world(rc + rng.uniform(0.0, 1.0, (n, 2)) - 0.5), rc

    # ---------------------------------------------------------------- geodesics
    def _graph_csr(self) -> sp.csr_matrix:
        if self._graph is None:
            self._graph = grid_graph(self.navigable, self.cell_size)
        return self._graph

    def _field(self, goal_cells: np.ndarray, limit: float = np.inf,
               at: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(distance to the nearest goal cell in metres, predecessor toward it), both (H*W,), cached.

        ``limit`` (m): Dijkstra stops there; cells farther away read inf (their predecessor -9999),
        and every finite distance and predecessor is the full solve's. A cached field serves any
        request it covers: one solved to at least ``limit``, or, for a single cell ``at`` (flat
        index), any field that reaches that cell; otherwise the field is solved again, farther.
        """
        h, w = self.shape
        flat = np.unique(goal_cells[:, 0] * w + goal_cells[:, 1]) if len(goal_cells) else np.zeros(0, np.int64)
        flat = flat[self.navigable.ravel()[flat]]
        key = flat.tobytes()
        cached = self._fields.get(key)
        if cached is not None:
            dist, pred, reach = cached
            if reach >= limit or (at is not None and np.isfinite(dist[at])):
                self._fields.move_to_end(key)
                return dist, pred
        if len(flat) == 0:
            dist, pred = np.full(h * w, np.inf), np.full(h * w, -9999)
            limit = np.inf
        else:
            dist, pred, _ = dijkstra(self._graph_csr(), indices=flat, min_only=True, return_predecessors=True,
                                     limit=limit)
        self._fields[key] = (dist, pred, float(limit))
        self._fields.move_to_end(key)
        if len(self._fields) > _FIELD_CACHE:
            self._fields.popitem(last=False)
        return dist, pred

    def _cells_in_grid(self, points: np.ndarray) -> np.ndarray:
        rc = self.world_to_grid(np.atleast_2d(points))
        h, w = self.shape
        return rc[(rc[:, 0] >= 0) & (rc[:, 0] < h) & (rc[:, 1] >= 0) & (rc[:, 1] < w)]

    def distance_field(self, goals: np.ndarray, limit: float = np.inf) -> np.ndarray:
        """(H, W) geodesic distance in metres from every cell centre to the nearest goal point (K, 3).

        With a ``limit`` (m) the solve stops there and farther cells read inf: much cheaper when only
        the neighbourhood matters (sampling an episode start in range of a goal). Later distance
        queries from a cell beyond the limit solve the whole field then.
        """
        return self._field(self._cells_in_grid(goals), limit)[0].reshape(self.shape)

    def geodesic_distance_to_cells(self, a: np.ndarray, goal_cells: np.ndarray) -> float:
        """Geodesic distance from point ``a`` to the nearest of ``goal_cells`` (K, 2); inf if unreachable."""
        rc = self._cells_in_grid(a)
        if len(rc) == 0:
            return float("inf")
        at = int(rc[0, 0] * self.shape[1] + rc[0, 1])
        dist, _ = self._field(np.asarray(goal_cells, np.int64).reshape(-1, 2), at=at)
        return float(dist[at])

    def geodesic_distance(self, a: np.ndarray, b: np.ndarray) -> float:
        """Geodesic distance (m) from ``a`` (3,) to ``b`` (3,) or to the nearest of goals ``b`` (K, 3).

        Exact Euclidean distance when the straight segment is clear, else the grid geodesic; inf
        when no navigable path exists (or an end point is not navigable).
        """
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        if b.ndim == 1 and self.is_navigable(a) and self.is_navigable(b) and self.line_of_sight(a, b):
            return float(np.hypot(a[0] - b[0], a[2] - b[2]))
        return self.geodesic_distance_to_cells(a, self._cells_in_grid(b))

    def shortest_path(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Waypoints (K, 3) from ``a`` to goal ``b`` (3,) or to the nearest of goals (K, 3), with corners
        cut wherever the straight line stays navigable; an empty (0, 3) array when unreachable."""
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        goal_cells = self._cells_in_grid(b)
        return self.shortest_path_to_cells(a, goal_cells, end=b if b.ndim == 1 else None)

    def shortest_path_to_cells(self, a: np.ndarray, goal_cells: np.ndarray, end: np.ndarray | None = None) -> np.ndarray:
        """Like :meth:`shortest_path`, toward the nearest of ``goal_cells`` (K, 2); ends at ``end`` if given."""
        rc = self._cells_in_grid(a)
        w = self.shape[1]
        at = int(rc[0, 0] * w + rc[0, 1]) if len(rc) else None
        dist, pred = self._field(np.asarray(goal_cells, np.int64).reshape(-1, 2), at=at)
        if at is None or not np.isfinite(dist[at]):
            return np.zeros((0, 3))
        node, chain = at, []
        while node >= 0:
            chain.append(node)
            node = int(pred[node])
        pts = self.grid_to_world(np.stack([np.array(chain) // w, np.array(chain) % w], axis=1))
        start = np.array([a[0], self.floor_height, a[2]])
        pts = np.concatenate([start[None], pts[1:]] if len(pts) > 1 else [start[None]])
        if end is not None:
            pts = np.concatenate([pts, np.array([[end[0], self.floor_height, end[2]]])])
        return self._string_pull(pts)

    def line_of_sight(self, a: np.ndarray, b: np.ndarray) -> bool:
        """True when every point of the segment a-b (sampled at a third of a cell) is navigable."""
        return bool(self._visible(np.asarray(a, np.float64), np.asarray(b, np.float64)[None])[0])

    def _visible(self, a: np.ndarray, targets: np.ndarray) -> np.ndarray:
        length = np.hypot(targets[:, 0] - a[0], targets[:, 2] - a[2])
        n = int(np.ceil(length.max(initial=0.0) / (self.cell_size / 3))) + 2
        s = np.linspace(0.0, 1.0, n)[None, :, None]
        samples = a[None, None] + s * (targets[:, None] - a[None, None])
        return self.navigable_at(samples).all(1)

    def _string_pull(self, pts: np.ndarray) -> np.ndarray:
        out, i = [pts[0]], 0
        while i < len(pts) - 1:
            cand = pts[i + 1 : i + 1 + 256]
            vis = self._visible(pts[i], cand)
            run = int(np.argmin(vis)) if not vis.all() else len(vis)
            i += max(run, 1)
            out.append(pts[i])
        return np.array(out)

    # ---------------------------------------------------------------- object goals and images
    def goal_cells_near_object(self, box: OrientedBox, radius: float = 1.0) -> np.ndarray:
        """Navigable cells (K, 2) whose centre is within ``radius`` (m) of the box's (x, z) footprint."""
        from scipy.spatial import ConvexHull

        xz = box.corners()[:, [0, 2]]
        try:
            hull = xz[ConvexHull(xz).vertices]
        except Exception:  # a flat or degenerate footprint: use its bounding segment
            hull = xz[[np.argmin(xz[:, 0] + xz[:, 1]), np.argmax(xz[:, 0] + xz[:, 1])]]
        fan = np.stack([np.repeat(hull[:1], max(len(hull) - 2, 1), 0), hull[1:-1] if len(hull) > 2 else hull[1:],
                        hull[2:] if len(hull) > 2 else hull[1:]], axis=1)
        (near,) = rasterize(fan, self.origin, self.cell_size, self.shape, [float(radius)])
        return np.argwhere(near & self.navigable)

    def occupancy(self):
        """The grid as a :class:`scenes.topdown.Occupancy` (floor and obstacles), for maps of scenes without rooms."""
        from scenes.topdown import Occupancy

        return Occupancy(floor=self.floor, obstacles=self.obstacles, origin=np.asarray(self.origin, float),
                         cell_size=float(self.cell_size))

    def to_image(self, path: np.ndarray | None = None, points: np.ndarray | None = None) -> np.ndarray:
        """Top-down RGB map (H, W, 3) uint8, x to the right and z downward: navigable white, floor
        without clearance light grey, body-height obstacles dark grey; ``path`` in blue, ``points`` red."""
        img = np.zeros(self.shape + (3,), np.uint8)
        img[self.floor] = (190, 190, 190)
        img[self.navigable] = (255, 255, 255)
        img[self.obstacles] = (70, 70, 70)
        if path is not None and len(path) > 1:
            from skimage.draw import line

            rc = self.world_to_grid(np.asarray(path))
            for (r0, c0), (r1, c1) in zip(rc[:-1], rc[1:]):
                rr, cc = line(r0, c0, r1, c1)
                ok = (rr >= 0) & (rr < self.shape[0]) & (cc >= 0) & (cc < self.shape[1])
                img[rr[ok], cc[ok]] = (40, 90, 220)
        if points is not None:
            rc = self._cells_in_grid(np.asarray(points))
            img[rc[:, 0], rc[:, 1]] = (220, 30, 30)
        return img
