"""The checks every loaded scene passes: finite geometry, sane rooms, objects where they are said to be.

:func:`check_scene` runs at the end of :func:`scenes.load`, after the stage's transform has been
applied to geometry and annotations alike, so a bad file fails there with a
:class:`~scenes.types.SceneLoadError` naming it, never later inside an env as a bare ``IndexError``
or as questions about an object that is not where the annotations put it.

Example:
    >>> import numpy as np
    >>> from scenes.types import OrientedBox, Room, Scene, SceneObject
    >>> room = Room(0, "kitchen", np.array([[0, 0], [3, 0], [3, 3], [0, 3]], float), 2.6)
    >>> far = SceneObject(1, "chair", OrientedBox(np.array([700.0, 0.4, 1.0]), np.ones(3)), room_id=0)
    >>> check_scene(Scene("s", [], objects=[far], rooms=[room]), "s.semantic_config.json")
    Traceback (most recent call last):
    ...
    scenes.types.SceneLoadError: s.semantic_config.json: object 1 ('chair'): centre [700.0, 0.4, 1.0] is 697.0 m outside its room 0 ('kitchen')
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from scenes.types import Scene, SceneLoadError

__all__ = ["MAX_COORDINATE", "check_scene"]

#: metres from the origin beyond which a coordinate is taken as corrupt (the largest real indoor
#: scans span a few hundred metres)
MAX_COORDINATE = 10_000.0
#: how far outside its room's floor polygon an object's centre may lie (furniture against a wall
#: is annotated up to the wall's far face)
ROOM_SLACK = 0.5


def check_scene(scene: Scene, path: str | Path) -> Scene:
    """``scene`` itself when it passes; :class:`SceneLoadError` naming ``path`` and the first problem."""
    for part in scene.meshes:
        v = part.vertices
        if len(v) and not np.all(np.isfinite(v)):
            raise SceneLoadError(path, f"mesh {part.name!r}: {int((~np.isfinite(v)).any(1).sum())} vertices are not "
                                       "finite (NaN or inf)")
        if len(v) and np.abs(v).max() > MAX_COORDINATE:
            raise SceneLoadError(path, f"mesh {part.name!r}: a vertex lies {np.abs(v).max():.3g} m from the origin "
                                       f"(more than {MAX_COORDINATE:g} m: corrupt or not in metres)")
        if len(part.faces) and int(part.faces.max()) >= len(v):
            raise SceneLoadError(path, f"mesh {part.name!r}: a face indexes vertex {int(part.faces.max())} of {len(v)}")
    rooms = {r.room_id: r for r in scene.rooms}
    for room in scene.rooms:
        if room.area <= 1e-6:
            raise SceneLoadError(path, f"room {room.room_id} ({room.room_type!r}): its floor polygon has no area")
        _within(path, f"room {room.room_id} ({room.room_type!r})", np.asarray(room.polygon, float))
    for door in scene.doorways:
        _within(path, f"doorway {door.room_a}-{door.room_b}", np.asarray(door.center, float))
    for obj in scene.objects:
        what = f"object {obj.instance_id} ({obj.category!r})"
        center = np.asarray(obj.box.center, float)
        _within(path, what, center, np.asarray(obj.box.axis_lengths, float))
        room = rooms.get(obj.room_id) if obj.room_id is not None else None
        if room is not None:
            gap = _distance_outside(np.asarray(room.polygon, float), center[[0, 2]])
            if gap > ROOM_SLACK:
                raise SceneLoadError(path, f"{what}: centre {np.round(center, 3).tolist()} is {gap:.1f} m outside its "
                                           f"room {room.room_id} ({room.room_type!r})")
    return scene


def _within(path, what: str, *arrays: np.ndarray) -> None:
    for a in arrays:
        if not np.all(np.isfinite(a)) or np.abs(a).max(initial=0.0) > MAX_COORDINATE:
            raise SceneLoadError(path, f"{what}: {np.asarray(a).round(3).tolist()} is not a finite coordinate within "
                                       f"{MAX_COORDINATE:g} m of the origin")


def _distance_outside(polygon: np.ndarray, point: np.ndarray) -> float:
    """0 inside the polygon, else the distance from ``point`` to its boundary (metres)."""
    from shapely.geometry import Point, Polygon

    shape, p = Polygon(polygon), Point(*point)
    return 0.0 if shape.covers(p) else float(shape.exterior.distance(p))
