"""Procedural multi-room apartments in the Habitat scene-dataset layout, and scene loading.

Example:
    >>> from scenes import generate_scene
    >>> scene = generate_scene(3, num_rooms=4)
    >>> len(scene.rooms), scene.scene_id
    (4, 'apt_train_00003')
"""

from __future__ import annotations

from pathlib import Path

from scenes.types import BACKGROUND_ID, Doorway, MeshPart, OrientedBox, Room, Scene, SceneLoadError, SceneObject

__all__ = [
    "BACKGROUND_ID",
    "Doorway",
    "MeshPart",
    "OrientedBox",
    "Room",
    "Scene",
    "SceneLoadError",
    "SceneObject",
    "SceneSpec",
    "generate_scene",
    "load",
]


def __getattr__(name: str):
    # The generator pulls in shapely/trimesh-free numpy code only, but keep `import scenes` light.
    if name in ("generate_scene", "SceneSpec"):
        from scenes import generator

        return getattr(generator, name)
    raise AttributeError(f"module 'scenes' has no attribute {name!r}")


def load(path: str | Path, scene_id: str | None = None) -> Scene:
    """Load a scene (a dataset folder plus ``scene_id``, or a stage ``.glb``); see :mod:`scenes.loader`."""
    from scenes.loader import load as _load

    return _load(path, scene_id)
