"""Still views of a scene: one RGB | depth | semantic row per room, from a navigable spot near the
room's centre, looking at the room's largest object. Used by ``make demo`` to show each scene.

Example:
    >>> from scenes import generate_scene
    >>> from envs.views import render_room_views
    >>> sheet = render_room_views(generate_scene(3, num_rooms=2), max_rooms=1)
    >>> sheet.dtype, sheet.ndim
    (dtype('uint8'), 3)
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from envs.config import SimulatorConfig
from envs.navigation import NavGrid
from envs.simulator import Simulator
from envs.wrappers.visual import colorize_depth, colorize_semantic, hstack_panels
from scenes.types import Room, Scene


def _viewpoint(scene: Scene, grid: NavGrid, room: Room) -> tuple[np.ndarray, float] | None:
    """A navigable point in ``room`` nearest its centre, and the heading towards its largest object."""
    import shapely

    points = grid.grid_to_world(np.argwhere(grid.largest_component))
    inside = shapely.contains_xy(shapely.Polygon(room.polygon), points[:, 0], points[:, 2])
    candidates = points[inside]
    if len(candidates) == 0:
        return None
    centre = room.center
    position = candidates[np.argmin(np.hypot(candidates[:, 0] - centre[0], candidates[:, 2] - centre[2]))]
    objects = [o for o in scene.objects if o.room_id == room.room_id]
    if not objects:
        return position, 0.0
    target = max(objects, key=lambda o: float(np.prod(o.box.axis_lengths))).box.center
    dx, dz = target[0] - position[0], target[2] - position[2]
    # heading 0 looks along -Z and positive headings turn left (envs.pose): forward = (-sin h, -cos h).
    return position, math.atan2(-dx, -dz)


def render_room_views(scene: Scene, config: SimulatorConfig | None = None, max_rooms: int = 4,
                      grid: NavGrid | None = None) -> np.ndarray:
    """A contact sheet (uint8 HxWx3): one row of RGB | depth | semantic per room, up to ``max_rooms``."""
    config = config or SimulatorConfig(resolution=(192, 256), sensor_types=("rgb", "depth", "semantic"))
    grid = grid or NavGrid.from_scene(scene)
    rows = []
    with Simulator(scene, config) as sim:
        for room in scene.rooms[:max_rooms]:
            view = _viewpoint(scene, grid, room)
            if view is None:
                continue
            sim.set_agent_state(*view)
            obs = sim.get_observations()
            panels = [obs["rgb"], colorize_depth(obs["depth"]), colorize_semantic(obs["semantic"])]
            rows.append(hstack_panels(panels, height=obs["rgb"].shape[0]))
    if not rows:
        raise ValueError(f"scene {scene.scene_id!r}: no room has a navigable view point")
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 2), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    return np.concatenate(rows, axis=0)


def save_room_views(scene: Scene, path: str | Path, **kwargs) -> Path:
    """Write :func:`render_room_views` as a PNG, atomically."""
    import imageio.v3 as iio

    from vlm2_base.io import atomic_write

    path = Path(path)
    atomic_write(path, iio.imwrite("<bytes>", render_room_views(scene, **kwargs), extension=".png"))
    return path
