"""Top-down maps of scenes: rooms coloured by type, walls, doorways and labelled object footprints.

A scene without room annotations (a bare Habitat stage) is drawn from an :class:`Occupancy`
raster instead, e.g. a navigation grid's (``envs.navigation.NavGrid.occupancy``): the walkable
floor, the obstacles, and whatever is drawn on top (a trajectory). Labels that would overlap a
label already placed (room labels first, then larger objects) are left out, so every label shown
is readable.

Maps are drawn in world coordinates, x to the right and z downwards (habitat-lab's top-down view:
the camera's forward -z points up the image). :func:`draw_topdown` draws onto any matplotlib Axes,
so trajectories can be drawn on top with ``ax.plot(x, z)``; :func:`render_topdown` writes a PNG with
an exact world-to-pixel mapping (:class:`MapFrame`).

Example:
    >>> import tempfile, os
    >>> from scenes.generator import generate_scene
    >>> frame = render_topdown(generate_scene(0, num_rooms=2), os.path.join(tempfile.mkdtemp(), "m.png"))
    >>> col, row = frame.to_pixel(frame.x_min, frame.z_min)
    >>> (round(col), round(row))
    (0, 0)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scenes.types import Scene
from vlm2_base.io import atomic_savefig

ROOM_COLORS: dict[str, str] = {
    "bedroom": "#cfe3f7", "living_room": "#f7e6c4", "kitchen": "#d9f2d0", "bathroom": "#d3f0f0",
    "office": "#eadcf5", "dining_room": "#f8d9d4", "hallway": "#e6e6e6",
}
WALL_COLOR = "#333333"
DOOR_COLOR = "#d62728"


@dataclass(frozen=True)
class Occupancy:
    """A top-down raster of what is walkable: row ``i`` is z, column ``j`` is x, cell centres at
    ``origin + (j + 0.5, i + 0.5) * cell_size``."""

    floor: np.ndarray  # (H, W) bool: walkable floor
    obstacles: np.ndarray  # (H, W) bool: walls and furniture at body height
    origin: np.ndarray  # (2,) world (x, z) of the raster's corner
    cell_size: float

    def extent(self) -> tuple[np.ndarray, np.ndarray]:
        """(x, z) corners of the part that holds floor or obstacles."""
        rows, cols = np.nonzero(self.floor | self.obstacles)
        if len(rows) == 0:
            h, w = self.floor.shape
            rows, cols = np.array([0, h - 1]), np.array([0, w - 1])
        lo = self.origin + np.array([cols.min(), rows.min()]) * self.cell_size
        hi = self.origin + (np.array([cols.max(), rows.max()]) + 1) * self.cell_size
        return lo, hi

    def rgba(self) -> np.ndarray:
        """(H, W, 4) float image: floor light grey, obstacles dark grey, the rest transparent."""
        img = np.zeros(self.floor.shape + (4,))
        img[self.floor] = (0.88, 0.88, 0.88, 1.0)
        img[self.obstacles] = (0.35, 0.35, 0.35, 1.0)
        return img


@dataclass(frozen=True)
class MapFrame:
    """World (x, z) to image pixel (column, row) for a rendered map: ``px_per_m`` from the top-left."""

    x_min: float
    z_min: float
    px_per_m: float
    width: int
    height: int

    def to_pixel(self, x, z) -> tuple[np.ndarray, np.ndarray]:
        """Pixel (column, row) of world point(s) (x, z); rows grow with z."""
        return ((np.asarray(x) - self.x_min) * self.px_per_m, (np.asarray(z) - self.z_min) * self.px_per_m)


def wall_rects(scene: Scene, thickness: float = 0.1) -> list[tuple[float, float, float, float]]:
    """Wall footprints (x0, z0, x1, z1) along every room edge, with doorway gaps cut out."""
    rects = []
    for room in scene.rooms:
        poly = np.asarray(room.polygon, float)
        for a, b in zip(poly, np.roll(poly, -1, axis=0)):
            axis = "x" if abs(a[1] - b[1]) < 1e-6 else "z" if abs(a[0] - b[0]) < 1e-6 else None
            if axis is None:
                continue  # non axis-aligned edges are drawn by the room outline only
            k, line = (0, a[1]) if axis == "x" else (1, a[0])
            lo, hi = sorted((a[k], b[k]))
            cuts = sorted((d.center[k] - d.width / 2, d.center[k] + d.width / 2) for d in scene.doorways
                          if d.axis == axis and abs(d.center[1 - k] - line) < 1e-6 and d.center[k] > lo
                          and d.center[k] < hi)
            pos = lo
            for c0, c1 in [*cuts, (hi, hi)]:
                if c0 - pos > 1e-6:
                    s = (pos, line - thickness / 2, c0, line + thickness / 2)
                    rects.append(s if axis == "x" else (s[1], s[0], s[3], s[2]))
                pos = max(pos, c1)
    return rects


def map_extent(scene: Scene, margin: float = 0.3,
               occupancy: Occupancy | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(x, z) corners of the map: the rooms' polygons (else the occupancy's walkable part, else the
    geometry's bounds) plus ``margin`` metres."""
    if scene.rooms:
        pts = np.concatenate([np.asarray(r.polygon) for r in scene.rooms])
    elif occupancy is not None:
        pts = np.stack(occupancy.extent())
    else:
        b = scene.bounds
        pts = np.array([[b[0, 0], b[0, 2]], [b[1, 0], b[1, 2]]])
    return pts.min(0) - margin, pts.max(0) + margin


def draw_topdown(ax, scene: Scene, labels: bool = True, objects: bool = True, fontsize: float = 6.0,
                 occupancy: Occupancy | None = None) -> None:
    """Draw ``scene`` onto ``ax`` in world coordinates (x right, z down); sets limits and aspect.
    ``occupancy`` adds the walkable floor and obstacles underneath (the map of a scene without rooms)."""
    from matplotlib.patches import Polygon, Rectangle

    if occupancy is not None:
        h, w = occupancy.floor.shape
        x0, z0 = occupancy.origin
        ax.imshow(occupancy.rgba(), extent=(x0, x0 + w * occupancy.cell_size, z0 + h * occupancy.cell_size, z0),
                  interpolation="nearest", zorder=0)
    placed = []
    for room in scene.rooms:
        ax.add_patch(Polygon(np.asarray(room.polygon), closed=True, facecolor=ROOM_COLORS.get(room.room_type, "#eeeeee"),
                             edgecolor="none", zorder=0))
        if labels:
            c = room.center
            placed.append(ax.text(c[0], c[2], f"{room.room_type.replace('_', ' ')}\n{room.area:.1f} m²", ha="center",
                                  va="center", fontsize=fontsize + 2, color="#444444", zorder=7, fontweight="bold",
                                  bbox={"facecolor": "white", "alpha": 0.6, "edgecolor": "none", "pad": 1.0}))
    for x0, z0, x1, z1 in wall_rects(scene):
        ax.add_patch(Rectangle((x0, z0), x1 - x0, z1 - z0, facecolor=WALL_COLOR, edgecolor="none", zorder=4))
    for d in scene.doorways:
        cx, cz = d.center
        dx, dz = (d.width / 2, 0.0) if d.axis == "x" else (0.0, d.width / 2)
        ax.plot([cx - dx, cx + dx], [cz - dz, cz + dz], color=DOOR_COLOR, lw=1.5, zorder=5, solid_capstyle="butt")
    object_labels = []
    if objects:
        for o in sorted(scene.objects, key=lambda o: (o.category != "rug", o.box.center[1])):
            foot = o.box.corners()[[0, 1, 5, 4]][:, [0, 2]]
            rug = o.category == "rug"
            ax.add_patch(Polygon(foot, closed=True, facecolor="#bbbbbb" if rug else "#8c6d4f",
                                 alpha=0.35 if rug else 0.75, edgecolor="#222222", lw=0.5,
                                 hatch="..." if rug else None, zorder=2 if rug else 3))
            if labels:
                area = float(o.box.axis_lengths[0] * o.box.axis_lengths[2])
                object_labels.append((area, ax.text(o.box.center[0], o.box.center[2], o.category.replace("_", " "),
                                                    ha="center", va="center", fontsize=fontsize, zorder=6,
                                                    clip_on=True)))
    lo, hi = map_extent(scene, occupancy=occupancy)
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(hi[1], lo[1])  # z grows downwards
    ax.set_aspect("equal")
    if object_labels:
        _declutter(ax, placed, [t for _, t in sorted(object_labels, key=lambda p: -p[0])])


def _declutter(ax, placed: list, candidates: list) -> None:
    """Hide each candidate label whose box overlaps a label already kept (``placed`` are kept first)."""
    renderer = ax.figure.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer).expanded(1.05, 1.1) for t in placed]
    for t in candidates:
        box = t.get_window_extent(renderer).expanded(1.05, 1.1)
        if any(box.overlaps(b) for b in boxes):
            t.set_visible(False)
        else:
            boxes.append(box)


def render_topdown(scene: Scene, path: str | Path, px_per_m: float = 60.0, labels: bool = True,
                   occupancy: Occupancy | None = None) -> MapFrame:
    """Write the top-down map of ``scene`` as a PNG (atomically) and return its pixel mapping."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    lo, hi = map_extent(scene, occupancy=occupancy)
    width, height = int(round((hi[0] - lo[0]) * px_per_m)), int(round((hi[1] - lo[1]) * px_per_m))
    dpi = 100
    fig = plt.figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    try:
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_axis_off()
        draw_topdown(ax, scene, labels=labels, fontsize=max(4.0, px_per_m / 10), occupancy=occupancy)
        ax.set_xlim(lo[0], hi[0])
        ax.set_ylim(hi[1], lo[1])
        # No metadata: the PNG bytes then depend only on the scene (determinism).
        atomic_savefig(fig, path, close=False, dpi=dpi)
    finally:
        plt.close(fig)
    return MapFrame(x_min=float(lo[0]), z_min=float(lo[1]), px_per_m=width / float(hi[0] - lo[0]), width=width,
                    height=height)
