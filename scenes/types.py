"""The one in-memory scene type shared by the generator, the loaders, the simulator and the EQA code.

Conventions (habitat-lab's): Y is up, units are metres, the floor plan lives in the (x, z) plane.
Everything in a :class:`Scene` is already in that frame, whatever the source file used (loaders apply
a stage config's ``up``/``front``/``units_to_meters``/``scale``).

Instance ids: ``0`` is structure or background (walls, floor, ceiling, anything unannotated);
annotated objects have ids ``>= 1``. The semantic sensor renders these ids.

Example:
    >>> import numpy as np
    >>> room = Room(room_id=0, room_type="bedroom",
    ...             polygon=np.array([[0, 0], [4, 0], [4, 3], [0, 3]], float), height=2.6)
    >>> round(room.area, 2), room.center.tolist()
    (12.0, [2.0, 1.3, 1.5])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

BACKGROUND_ID = 0


class SceneLoadError(ValueError):
    """A scene file is missing, truncated or malformed. The message names the file and the problem."""

    def __init__(self, path: str | Path, problem: str | None = None):
        if problem is None:
            # Rebuilt from its message alone, as gymnasium's AsyncVectorEnv re-raises a worker's
            # error in the parent (``type(e)(str(e))``): keep the message as it was.
            path, _, problem = str(path).partition(": ")
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")

    def __reduce__(self):  # pickling (multiprocessing) rebuilds it from its own arguments
        return type(self), (self.path, self.problem)


@dataclass(frozen=True)
class MeshPart:
    """A triangle mesh with one instance id, in scene coordinates (Y up, metres).

    ``colors`` are per-vertex RGBA uint8 (multiplied with the texture when both exist);
    ``uv`` and ``texture`` (HxWx3 uint8) are optional.
    """

    name: str
    vertices: np.ndarray  # (N, 3) float32
    faces: np.ndarray  # (M, 3) uint32
    normals: np.ndarray | None = None  # (N, 3) float32
    colors: np.ndarray | None = None  # (N, 4) uint8
    uv: np.ndarray | None = None  # (N, 2) float32
    texture: np.ndarray | None = None  # (H, W, 3) uint8
    instance_id: int = BACKGROUND_ID

    @property
    def num_triangles(self) -> int:
        return int(len(self.faces))


@dataclass(frozen=True)
class OrientedBox:
    """An oriented bounding box: ``center`` (3,), full ``axis_lengths`` (3,), ``rotation`` (3, 3).

    The columns of ``rotation`` are the box's axes in scene coordinates (VSI-Bench's
    ``normalizedAxes``); ``axis_lengths[i]`` is the extent along column ``i``.
    """

    center: np.ndarray
    axis_lengths: np.ndarray
    rotation: np.ndarray = field(default_factory=lambda: np.eye(3))

    def corners(self) -> np.ndarray:
        """The 8 corners, shape (8, 3)."""
        signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], float)
        return self.center + (signs * (np.asarray(self.axis_lengths) / 2)) @ np.asarray(self.rotation).T


@dataclass(frozen=True)
class SceneObject:
    """An annotated object instance."""

    instance_id: int
    category: str
    box: OrientedBox
    room_id: int | None = None


@dataclass(frozen=True)
class Room:
    """A room: its floor ``polygon`` (K, 2) in (x, z), floor height and ceiling height above it."""

    room_id: int
    room_type: str
    polygon: np.ndarray
    height: float
    floor_height: float = 0.0

    @property
    def area(self) -> float:
        x, z = np.asarray(self.polygon, float).T
        return float(abs(np.dot(x, np.roll(z, 1)) - np.dot(z, np.roll(x, 1))) / 2)

    @property
    def center(self) -> np.ndarray:
        """Centre of the polygon's bounding box at mid-height, (3,) in (x, y, z)."""
        lo, hi = np.min(self.polygon, axis=0), np.max(self.polygon, axis=0)
        mid = (lo + hi) / 2
        return np.array([mid[0], self.floor_height + self.height / 2, mid[1]])


@dataclass(frozen=True)
class Doorway:
    """A gap in a wall between two rooms: centre (x, z), width (m), and the wall's axis ("x" or "z")."""

    room_a: int
    room_b: int
    center: np.ndarray
    width: float
    axis: str


@dataclass
class Scene:
    """A scene: render geometry plus (optional) semantic annotations.

    Plain Habitat stages without semantics load with empty ``objects``, ``rooms`` and ``doorways``.
    """

    scene_id: str
    meshes: list[MeshPart]
    objects: list[SceneObject] = field(default_factory=list)
    rooms: list[Room] = field(default_factory=list)
    doorways: list[Doorway] = field(default_factory=list)
    source: str | None = None  # file the scene was loaded from, if any

    @property
    def bounds(self) -> np.ndarray:
        """Axis-aligned bounds of all geometry, shape (2, 3): [min, max]."""
        if not self.meshes:
            return np.zeros((2, 3))
        vs = np.concatenate([m.vertices for m in self.meshes])
        return np.stack([vs.min(0), vs.max(0)])

    @property
    def num_triangles(self) -> int:
        return sum(m.num_triangles for m in self.meshes)

    def object(self, instance_id: int) -> SceneObject:
        for obj in self.objects:
            if obj.instance_id == instance_id:
                return obj
        raise KeyError(f"scene {self.scene_id!r} has no object with instance id {instance_id}")

    def room_at(self, x: float, z: float) -> Room | None:
        """The room whose polygon contains (x, z), or None."""
        k = int(self.room_indices_at(np.array([[x, 0.0, z]]))[0])
        return self.rooms[k] if k >= 0 else None

    def room_indices_at(self, points: np.ndarray) -> np.ndarray:
        """(N,) index into ``rooms`` of the room whose polygon covers each point's (x, z) (points
        (N, 3)), -1 for none; where polygons share an edge the first room wins, as in :meth:`room_at`.

        >>> room = Room(0, "kitchen", np.array([[0, 0], [2, 0], [2, 2], [0, 2]], float), 2.5)
        >>> Scene("s", [], rooms=[room]).room_indices_at(np.array([[1.0, 0, 1.0], [3.0, 0, 1.0]])).tolist()
        [0, -1]
        """
        import shapely

        pts = np.asarray(points, float).reshape(-1, 3)
        out = np.full(len(pts), -1, np.int64)
        for k in range(len(self.rooms) - 1, -1, -1):  # reversed, so that the first covering room is written last
            inside = shapely.intersects_xy(self._room_polygons()[k], pts[:, 0], pts[:, 2])
            out[inside] = k
        return out

    def room_types_at(self, points: np.ndarray) -> np.ndarray:
        """(N,) room type of the room covering each point (points (N, 3)), ``""`` for none; the room
        is :meth:`room_indices_at`'s.

        >>> room = Room(0, "kitchen", np.array([[0, 0], [2, 0], [2, 2], [0, 2]], float), 2.5)
        >>> Scene("s", [], rooms=[room]).room_types_at(np.array([[1.0, 0, 1.0], [3.0, 0, 1.0]])).tolist()
        ['kitchen', '']
        """
        types = np.array([r.room_type for r in self.rooms] + [""])  # index -1: in no room
        return types[self.room_indices_at(points)]

    def _room_polygons(self) -> list:
        import shapely

        cached = self.__dict__.get("_polygons")
        if cached is None or len(cached) != len(self.rooms):
            cached = [shapely.Polygon(r.polygon) for r in self.rooms]
            for poly in cached:
                shapely.prepare(poly)
            self.__dict__["_polygons"] = cached
        return cached
