"""The one implementation of the per-scene semantic annotation schema (``semantic_config.json``).

The file holds habitat-sim's ``region_annotations`` (rooms, so habitat-sim can read them) and our
``vlm2_annotations`` extension: rooms, doorways, objects with oriented boxes, and a ``meta_info``
block in VSI-Bench's terms (``room_size``, ``room_center``, ``object_counts``, ``object_bbox``).
The fields are listed in the README's Scenes section.

Example:
    >>> import numpy as np
    >>> from scenes.types import Room, Scene
    >>> room = Room(0, "kitchen", np.array([[0, 0], [3, 0], [3, 3], [0, 3]], float), 2.6)
    >>> d = annotations_to_dict(Scene("apt_train_00000", [], rooms=[room]), seed=0, split="train")
    >>> d["vlm2_annotations"]["meta_info"]["room_size"]
    9.0
    >>> objects, rooms, doorways = annotations_from_dict(d, "example.json")
    >>> rooms[0].room_type, len(objects)
    ('kitchen', 0)
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from scenes.types import Doorway, OrientedBox, Room, Scene, SceneLoadError, SceneObject

FORMAT_VERSION = 1
ANNOTATION_KEY = "vlm2_annotations"


def _r(x: float, nd: int = 4) -> float:
    """Round for the file: stable text across platforms, and no ``-0.0``."""
    v = round(float(x), nd)
    return 0.0 if v == 0 else v


def _vec(a: Any, nd: int = 4) -> list[float]:
    return [_r(v, nd) for v in np.asarray(a, float).ravel()]


def _room_dict(room: Room) -> dict:
    return {
        "room_id": int(room.room_id),
        "room_type": room.room_type,
        "polygon": [_vec(p) for p in np.asarray(room.polygon, float)],
        "floor_height": _r(room.floor_height),
        "height": _r(room.height),
        "area": _r(room.area),
        "center": _vec(room.center),
    }


def _region_dict(room: Room) -> dict:
    """habitat-sim's region annotation for one room (poly_loop in 3D at floor height)."""
    y0 = float(room.floor_height)
    poly = np.asarray(room.polygon, float)
    lo, hi = poly.min(0), poly.max(0)
    return {
        "name": f"room_{room.room_id}",
        "label": room.room_type,
        "poly_loop": [[_r(x), _r(y0), _r(z)] for x, z in poly],
        "floor_height": _r(y0),
        "extrusion_height": _r(room.height),
        "min_bounds": [_r(lo[0]), _r(y0), _r(lo[1])],
        "max_bounds": [_r(hi[0]), _r(y0 + room.height), _r(hi[1])],
    }


def _object_dict(obj: SceneObject) -> dict:
    return {
        "instance_id": int(obj.instance_id),
        "category": obj.category,
        "room_id": None if obj.room_id is None else int(obj.room_id),
        "center": _vec(obj.box.center),
        "axis_lengths": _vec(obj.box.axis_lengths),
        "rotation": [_vec(row, 6) for row in np.asarray(obj.box.rotation, float)],
    }


def meta_info(scene: Scene) -> dict:
    """VSI-Bench's per-scene meta information for ``scene``.

    ``room_size`` is the total floor area (m²); ``room_center`` the centre of the rooms' joint
    bounding box at mid-height; ``normalizedAxes`` is the rotation matrix flattened row-major.
    """
    if scene.rooms:
        pts = np.concatenate([np.asarray(r.polygon, float) for r in scene.rooms])
        lo, hi = pts.min(0), pts.max(0)
        y0 = min(r.floor_height for r in scene.rooms)
        y1 = max(r.floor_height + r.height for r in scene.rooms)
        center = [(lo[0] + hi[0]) / 2, (y0 + y1) / 2, (lo[1] + hi[1]) / 2]
        size = sum(r.area for r in scene.rooms)
    else:
        center, size = [0.0, 0.0, 0.0], 0.0
    counts = Counter(o.category for o in scene.objects)
    bbox: dict[str, list[dict]] = {}
    for o in sorted(scene.objects, key=lambda o: o.instance_id):
        bbox.setdefault(o.category, []).append(
            {
                "centroid": _vec(o.box.center),
                "axesLengths": _vec(o.box.axis_lengths),
                "normalizedAxes": _vec(np.asarray(o.box.rotation, float).ravel(), 6),
            }
        )
    return {
        "room_size": _r(size),
        "room_center": _vec(center),
        "object_counts": {k: int(counts[k]) for k in sorted(counts)},
        "object_bbox": {k: bbox[k] for k in sorted(bbox)},
    }


def annotations_to_dict(scene: Scene, seed: int, split: str) -> dict:
    """The full ``semantic_config.json`` content for ``scene`` (JSON-serialisable, deterministic)."""
    rooms = sorted(scene.rooms, key=lambda r: r.room_id)
    return {
        "region_annotations": [_region_dict(r) for r in rooms],
        ANNOTATION_KEY: {
            "format_version": FORMAT_VERSION,
            "scene_id": scene.scene_id,
            "seed": int(seed),
            "split": split,
            "rooms": [_room_dict(r) for r in rooms],
            "doorways": [
                {
                    "room_a": int(d.room_a),
                    "room_b": int(d.room_b),
                    "center": _vec(d.center),
                    "width": _r(d.width),
                    "axis": d.axis,
                }
                for d in scene.doorways
            ],
            "objects": [_object_dict(o) for o in sorted(scene.objects, key=lambda o: o.instance_id)],
            "meta_info": meta_info(scene),
        },
    }


# ----------------------------------------------------------------------------------------- reading


class _Reader:
    """Field access that raises :class:`SceneLoadError` naming the file and the field path."""

    def __init__(self, path: str | Path):
        self.path = path

    def fail(self, field: str, expected: str, got: Any) -> SceneLoadError:
        text = repr(got)
        if len(text) > 80:
            text = text[:77] + "..."
        return SceneLoadError(self.path, f"field {field}: expected {expected}, got {text}")

    def get(self, d: Any, key: str, where: str) -> Any:
        if not isinstance(d, dict):
            raise self.fail(where, "an object", d)
        if key not in d:
            raise SceneLoadError(self.path, f"field {where}.{key}: missing")
        return d[key]

    def number(self, v: Any, field: str) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v):
            raise self.fail(field, "a finite number", v)
        return float(v)

    def integer(self, v: Any, field: str) -> int:
        if isinstance(v, bool) or not isinstance(v, int):
            raise self.fail(field, "an integer", v)
        return int(v)

    def string(self, v: Any, field: str) -> str:
        if not isinstance(v, str) or not v:
            raise self.fail(field, "a non-empty string", v)
        return v

    def array(self, v: Any, shape: tuple[int | None, ...], field: str) -> np.ndarray:
        want = "x".join("N" if s is None else str(s) for s in shape)
        try:
            a = np.asarray(v, dtype=float)
        except (TypeError, ValueError):
            raise self.fail(field, f"a {want} array of numbers", v) from None
        ok = a.ndim == len(shape) and all(s is None or s == n for s, n in zip(shape, a.shape))
        if not ok or not np.all(np.isfinite(a)):
            raise self.fail(field, f"a {want} array of finite numbers", v)
        return a

    def items(self, d: dict, key: str, where: str) -> list:
        v = self.get(d, key, where)
        if not isinstance(v, list):
            raise self.fail(f"{where}.{key}", "a list", v)
        return v


def _read_room(rd: _Reader, r: Any, f: str) -> Room:
    poly = rd.array(rd.get(r, "polygon", f), (None, 2), f"{f}.polygon")
    if len(poly) < 3:
        raise rd.fail(f"{f}.polygon", "at least 3 points", poly.tolist())
    height = rd.number(rd.get(r, "height", f), f"{f}.height")
    if height <= 0:
        raise rd.fail(f"{f}.height", "a positive number", height)
    return Room(
        room_id=rd.integer(rd.get(r, "room_id", f), f"{f}.room_id"),
        room_type=rd.string(rd.get(r, "room_type", f), f"{f}.room_type"),
        polygon=poly,
        height=height,
        floor_height=rd.number(r.get("floor_height", 0.0), f"{f}.floor_height"),
    )


def _read_doorway(rd: _Reader, d: Any, f: str) -> Doorway:
    axis = rd.get(d, "axis", f)
    if axis not in ("x", "z"):
        raise rd.fail(f"{f}.axis", '"x" or "z"', axis)
    width = rd.number(rd.get(d, "width", f), f"{f}.width")
    if width <= 0:
        raise rd.fail(f"{f}.width", "a positive number", width)
    return Doorway(
        room_a=rd.integer(rd.get(d, "room_a", f), f"{f}.room_a"),
        room_b=rd.integer(rd.get(d, "room_b", f), f"{f}.room_b"),
        center=rd.array(rd.get(d, "center", f), (2,), f"{f}.center"),
        width=width,
        axis=axis,
    )


def _read_object(rd: _Reader, o: Any, f: str) -> SceneObject:
    iid = rd.integer(rd.get(o, "instance_id", f), f"{f}.instance_id")
    if iid < 1:
        raise rd.fail(f"{f}.instance_id", "an integer >= 1 (0 is structure)", iid)
    lengths = rd.array(rd.get(o, "axis_lengths", f), (3,), f"{f}.axis_lengths")
    if np.any(lengths < 0):
        raise rd.fail(f"{f}.axis_lengths", "non-negative lengths", lengths.tolist())
    rot = rd.array(rd.get(o, "rotation", f), (3, 3), f"{f}.rotation")
    if not np.allclose(rot.T @ rot, np.eye(3), atol=1e-3):
        raise rd.fail(f"{f}.rotation", "an orthonormal 3x3 matrix", rot.tolist())
    room_id = o.get("room_id")
    return SceneObject(
        instance_id=iid,
        category=rd.string(rd.get(o, "category", f), f"{f}.category"),
        box=OrientedBox(center=rd.array(rd.get(o, "center", f), (3,), f"{f}.center"),
                        axis_lengths=lengths, rotation=rot),
        room_id=None if room_id is None else rd.integer(room_id, f"{f}.room_id"),
    )


def annotations_from_dict(
    d: Any, path: str | Path
) -> tuple[list[SceneObject], list[Room], list[Doorway]]:
    """Parse a ``semantic_config.json`` dict into ``(objects, rooms, doorways)``.

    ``path`` only names the file in errors. A file without ``vlm2_annotations`` but with habitat's
    ``region_annotations`` yields rooms from those (no objects, no doorways). Malformed content
    raises :class:`SceneLoadError` naming the field, what was expected and what was found.
    """
    rd = _Reader(path)
    if not isinstance(d, dict):
        raise rd.fail("<root>", "a JSON object", d)
    if ANNOTATION_KEY not in d:
        return [], _rooms_from_regions(rd, d), []
    a = d[ANNOTATION_KEY]
    w = ANNOTATION_KEY
    version = rd.get(a, "format_version", w)
    if version != FORMAT_VERSION:
        raise rd.fail(f"{w}.format_version", str(FORMAT_VERSION), version)
    rooms = [_read_room(rd, r, f"{w}.rooms[{i}]") for i, r in enumerate(rd.items(a, "rooms", w))]
    doorways = [
        _read_doorway(rd, x, f"{w}.doorways[{i}]") for i, x in enumerate(a.get("doorways", []) or [])
    ]
    objects = [
        _read_object(rd, o, f"{w}.objects[{i}]") for i, o in enumerate(rd.items(a, "objects", w))
    ]
    ids = [o.instance_id for o in objects]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})
        raise rd.fail(f"{w}.objects[*].instance_id", "unique ids", dup)
    room_ids = {r.room_id for r in rooms}
    for i, o in enumerate(objects):
        if o.room_id is not None and o.room_id not in room_ids:
            raise rd.fail(f"{w}.objects[{i}].room_id", f"one of the room ids {sorted(room_ids)}", o.room_id)
    return objects, rooms, doorways


def _rooms_from_regions(rd: _Reader, d: dict) -> list[Room]:
    """Rooms from habitat-sim's ``region_annotations`` alone (files written by other tools)."""
    regions = d.get("region_annotations", []) or []
    if not isinstance(regions, list):
        raise rd.fail("region_annotations", "a list", regions)
    rooms = []
    for i, reg in enumerate(regions):
        f = f"region_annotations[{i}]"
        loop = rd.array(rd.get(reg, "poly_loop", f), (None, 3), f"{f}.poly_loop")
        if len(loop) < 3:
            raise rd.fail(f"{f}.poly_loop", "at least 3 points", loop.tolist())
        floor = rd.number(reg.get("floor_height", float(loop[:, 1].min())), f"{f}.floor_height")
        height = rd.number(rd.get(reg, "extrusion_height", f), f"{f}.extrusion_height")
        rooms.append(Room(room_id=i, room_type=str(reg.get("label", "unknown")),
                          polygon=loop[:, [0, 2]], height=height, floor_height=floor))
    return rooms


# ----------------------------------------------------------------------------------------- frames


def transform_annotations(
    objects: list[SceneObject], rooms: list[Room], doorways: list[Doorway], linear: np.ndarray, path: str | Path
) -> tuple[list[SceneObject], list[Room], list[Doorway]]:
    """The annotations moved by the stage's asset -> world map ``linear`` (3x3: rotation of ``up`` /
    ``front``, then ``scale * units_to_meters``), as the geometry is.

    A semantic config is read in its stage asset's frame, the way habitat-sim places a stage's
    semantic mesh with its render mesh; for the default frame (``up +Y``, ``front -Z``, scale 1,
    every dataset this project writes) the map is the identity and nothing changes. Rooms and
    doorways are floor-plan shapes, so the map must keep the vertical axis vertical (a stage turned
    on its side has no floor plan): otherwise :class:`SceneLoadError` names the file.
    """
    m = np.asarray(linear, float)
    if np.allclose(m, np.eye(3)):
        return objects, rooms, doorways
    vertical = m @ np.array([0.0, 1.0, 0.0])
    if (rooms or doorways) and not np.allclose(vertical[[0, 2]], 0.0, atol=1e-6 * max(abs(vertical[1]), 1.0)):
        raise SceneLoadError(path, f"the stage's up / front turn the annotations' vertical axis to "
                                   f"{np.round(vertical, 3).tolist()}: rooms and doorways need it to stay vertical "
                                   "(annotations are read in the stage asset's frame)")
    return ([_moved_object(o, m) for o in objects], [_moved_room(r, m) for r in rooms],
            [_moved_doorway(d, m, path) for d in doorways])


def _moved_object(obj: SceneObject, m: np.ndarray) -> SceneObject:
    axes = m @ (np.asarray(obj.box.rotation, float) * np.asarray(obj.box.axis_lengths, float))  # columns
    lengths = np.linalg.norm(axes, axis=0)
    u, _, vt = np.linalg.svd(np.where(lengths > 0, axes / np.maximum(lengths, 1e-12), np.eye(3)))
    rotation = u @ vt  # the nearest orthonormal frame (exact unless a non-uniform scale shears the box)
    if np.linalg.det(rotation) < 0:  # a mirroring scale: flip one box axis, the box is the same
        rotation[:, 0] *= -1
    box = OrientedBox(center=m @ np.asarray(obj.box.center, float), axis_lengths=lengths, rotation=rotation)
    return SceneObject(instance_id=obj.instance_id, category=obj.category, box=box, room_id=obj.room_id)


def _moved_room(room: Room, m: np.ndarray) -> Room:
    poly = np.asarray(room.polygon, float)
    floor = np.column_stack([poly[:, 0], np.full(len(poly), room.floor_height), poly[:, 1]]) @ m.T
    ceiling = np.column_stack([poly[:, 0], np.full(len(poly), room.floor_height + room.height), poly[:, 1]]) @ m.T
    low = min(floor[0, 1], ceiling[0, 1])
    return Room(room_id=room.room_id, room_type=room.room_type, polygon=floor[:, [0, 2]],
                height=abs(ceiling[0, 1] - floor[0, 1]), floor_height=low)


def _moved_doorway(door: Doorway, m: np.ndarray, path: str | Path) -> Doorway:
    along = m @ (np.array([1.0, 0, 0]) if door.axis == "x" else np.array([0, 0, 1.0]))
    if not (np.isclose(along[0], 0) or np.isclose(along[2], 0)):
        raise SceneLoadError(path, f"the stage's frame turns a doorway's wall axis {door.axis!r} off the x / z axes; "
                                   "doorways need axis-aligned walls")
    center = m @ np.array([door.center[0], 0.0, door.center[1]])
    return Doorway(room_a=door.room_a, room_b=door.room_b, center=center[[0, 2]],
                   width=door.width * float(np.linalg.norm(along)), axis="x" if abs(along[0]) > abs(along[2]) else "z")
