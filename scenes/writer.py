"""Write scenes in the Habitat scene-dataset layout (shown in the README's Scenes section), atomically and
byte-deterministically: the same scene gives the same bytes in every file.

Layout under ``<root>/<name>/``: ``<name>.scene_dataset_config.json``, ``stages/<id>.glb``,
``stages/<id>_semantic.ply`` and ``stages/<id>.stage_config.json``, ``scenes/<id>.scene_instance.json``,
``semantics/<id>.semantic_config.json``, ``maps/<id>.png`` and ``splits.json``.

The glb carries the instance ids in its node names (``object_<id>_<category>``), which
:mod:`scenes.loader` reads; habitat-sim takes a stage's ids from its semantic mesh instead, so the
same geometry is also written as the stage's ``semantic_asset``: a binary PLY with a per-vertex
``object_id`` (and the vertex colours habitat-sim requires of a semantic mesh, one colour per id),
in the Z-up frame habitat-sim assumes for semantic PLY files (0.2.x and 0.3.x alike). habitat-sim's
semantic sensor then gives our instance ids.

Example:
    >>> import tempfile
    >>> from scenes.generator import generate_scene
    >>> out = tempfile.mkdtemp()
    >>> paths = write_scene(generate_scene(0, num_rooms=2), out, seed=0, split="train", write_map=False)
    >>> sorted(paths)
    ['glb', 'scene_instance', 'semantic_config', 'semantic_mesh', 'stage_config']
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from scenes.annotations import annotations_to_dict
from scenes.types import MeshPart, Scene
from vlm2_base.io import atomic_write, folder_lock, json_text

DEFAULT_NAME = "vlm2_apartments"
#: version of the files written for a scene (2: the semantic mesh for habitat-sim); part of the build key
WRITER_VERSION = 2


def _trimesh(part: MeshPart):
    import trimesh
    from PIL import Image

    mesh = trimesh.Trimesh(vertices=np.asarray(part.vertices, np.float64), faces=np.asarray(part.faces, np.int64),
                           vertex_normals=None if part.normals is None else np.asarray(part.normals, np.float64),
                           process=False, validate=False)
    if part.texture is not None and part.uv is not None:
        material = trimesh.visual.material.PBRMaterial(
            name=f"{part.name}_material", baseColorTexture=Image.fromarray(np.asarray(part.texture, np.uint8)),
            metallicFactor=0.0, roughnessFactor=1.0)
        mesh.visual = trimesh.visual.TextureVisuals(uv=np.asarray(part.uv, np.float64), material=material)
    elif part.colors is not None:
        mesh.visual = trimesh.visual.ColorVisuals(mesh, vertex_colors=np.asarray(part.colors, np.uint8))
    return mesh


def glb_bytes(scene: Scene) -> bytes:
    """The scene's meshes as one binary glTF: one node (and mesh) per :class:`MeshPart`, named as the part."""
    import trimesh

    names = [m.name for m in scene.meshes]
    if len(set(names)) != len(names):
        raise ValueError(f"scene {scene.scene_id}: mesh names must be unique (they become glb node names)")
    tm = trimesh.Scene()
    for part in scene.meshes:
        tm.add_geometry(_trimesh(part), node_name=part.name, geom_name=part.name)
    return tm.export(file_type="glb", include_normals=True)


def semantic_ply_bytes(scene: Scene) -> bytes:
    """The scene's meshes as habitat-sim's semantic mesh: binary little-endian PLY, vertices in its
    Z-up semantic-PLY frame (world ``(x, y, z)`` -> ``(x, -z, y)``), per-vertex ``object_id`` = the
    part's instance id and a colour unique to that id (0, structure, is black)."""
    parts = [p for p in scene.meshes if len(p.faces)]
    counts = np.cumsum([0] + [len(p.vertices) for p in parts])
    world = np.concatenate([np.asarray(p.vertices, np.float32) for p in parts]) if parts else np.zeros((0, 3))
    ids = np.concatenate([np.full(len(p.vertices), p.instance_id, np.uint16) for p in parts]) if parts else []
    faces = np.concatenate([np.asarray(p.faces, np.int64) + off for p, off in zip(parts, counts)]) if parts else []
    vertex = np.empty(len(world), np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("red", "u1"), ("green", "u1"),
                                            ("blue", "u1"), ("object_id", "<u2")]))
    vertex["x"], vertex["y"], vertex["z"] = world[:, 0], -world[:, 2], world[:, 1]
    palette = {int(i): _id_colour(int(i)) for i in np.unique(ids)}
    colours = np.array([palette[int(i)] for i in ids], np.uint8).reshape(-1, 3)
    vertex["red"], vertex["green"], vertex["blue"] = colours.T
    vertex["object_id"] = ids
    face = np.empty(len(faces), np.dtype([("n", "u1"), ("index", "<i4", (3,))]))
    face["n"], face["index"] = 3, faces
    header = ("ply\nformat binary_little_endian 1.0\n"
              f"element vertex {len(vertex)}\n" + "".join(f"property {t} {n}\n" for t, n in (
                  ("float", "x"), ("float", "y"), ("float", "z"), ("uchar", "red"), ("uchar", "green"),
                  ("uchar", "blue"), ("ushort", "object_id")))
              + f"element face {len(face)}\nproperty list uchar int vertex_indices\nend_header\n")
    return header.encode("ascii") + vertex.tobytes() + face.tobytes()


def _id_colour(instance_id: int) -> tuple[int, int, int]:
    if instance_id == 0:
        return (0, 0, 0)
    h = hashlib.sha256(str(instance_id).encode()).digest()
    return (h[0] | 1, h[1], h[2])  # never black, distinct per id in practice (checked by the tests)


def stage_config(scene_id: str) -> dict:
    return {"render_asset": f"{scene_id}.glb", "up": [0, 1, 0], "front": [0, 0, -1], "units_to_meters": 1.0,
            "requires_lighting": True, "semantic_asset": f"{scene_id}_semantic.ply",
            "semantic_up": [0, 1, 0], "semantic_front": [0, 0, -1]}


def scene_instance(scene_id: str) -> dict:
    return {"stage_instance": {"template_name": f"stages/{scene_id}"},
            "semantic_scene_instance": scene_id, "object_instances": [], "default_lighting": ""}


def dataset_config() -> dict:
    return {"stages": {"paths": {".json": ["stages"]}}, "scene_instances": {"paths": {".json": ["scenes"]}},
            "semantic_scene_descriptor_instances": {"paths": {".json": ["semantics"]}}, "objects": {"paths": {}}}


def scene_paths(dataset_dir: str | Path, scene_id: str) -> dict[str, Path]:
    """Where each file of ``scene_id`` lives in a dataset folder."""
    d = Path(dataset_dir)
    return {
        "glb": d / "stages" / f"{scene_id}.glb",
        "semantic_mesh": d / "stages" / f"{scene_id}_semantic.ply",
        "stage_config": d / "stages" / f"{scene_id}.stage_config.json",
        "scene_instance": d / "scenes" / f"{scene_id}.scene_instance.json",
        "semantic_config": d / "semantics" / f"{scene_id}.semantic_config.json",
        "map": d / "maps" / f"{scene_id}.png",
    }


def write_scene(scene: Scene, dataset_dir: str | Path, seed: int, split: str, write_map: bool = True) -> dict[str, Path]:
    """Write one scene's files into ``dataset_dir``; returns the paths written by kind."""
    paths = scene_paths(dataset_dir, scene.scene_id)
    atomic_write(paths["glb"], glb_bytes(scene))
    atomic_write(paths["semantic_mesh"], semantic_ply_bytes(scene))
    atomic_write(paths["stage_config"], json_text(stage_config(scene.scene_id)))
    atomic_write(paths["scene_instance"], json_text(scene_instance(scene.scene_id)))
    atomic_write(paths["semantic_config"], json_text(annotations_to_dict(scene, seed, split)))
    if write_map:
        from scenes.topdown import render_topdown

        render_topdown(scene, paths["map"])
    else:
        paths.pop("map")
    return paths


def write_dataset_files(dataset_dir: str | Path, splits: Mapping[str, Sequence[str]], name: str = DEFAULT_NAME) -> None:
    """The dataset config and ``splits.json`` (scene ids per split)."""
    d = Path(dataset_dir)
    atomic_write(d / f"{name}.scene_dataset_config.json", json_text(dataset_config()))
    atomic_write(d / "splits.json", json_text({k: list(v) for k, v in splits.items()}))


def config_hash(obj: Any) -> str:
    """A short sha256 of a JSON-serialisable config (the build cache key)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _stamp_path(dataset_dir: Path, scene_id: str) -> Path:
    return dataset_dir / ".build" / f"{scene_id}.json"


def _is_cached(dataset_dir: Path, scene_id: str, key: str) -> bool:
    """True when the scene was built with config ``key`` and its files are unchanged since."""
    stamp = _stamp_path(dataset_dir, scene_id)
    try:
        info = json.loads(stamp.read_text())
        return info["config"] == key and all(
            file_sha256(dataset_dir / rel) == sha for rel, sha in info["files"].items())
    except (OSError, ValueError, KeyError, TypeError):
        return False


def write_dataset(root: str | Path, counts: Mapping[str, int], name: str = DEFAULT_NAME, spec=None,
                  num_rooms: int | None = None, write_maps: bool = True, progress: bool = True,
                  use_cache: bool = True) -> dict[str, Any]:
    """Generate and write ``counts[split]`` scenes per split into ``<root>/<name>``.

    Scene ``i`` of a split uses seed ``split_seed(split, i)``. A scene whose build stamp
    (``.build/<id>.json``: config hash and file hashes) matches is skipped. Returns a summary:
    ``dataset_dir``, ``splits`` (ids), ``built`` and ``cached`` counts, ``seconds`` per built scene.
    """
    import time

    from tqdm import tqdm

    from scenes.generator import SceneSpec, generate_scene, scene_id_for, split_seed

    spec = spec or SceneSpec()
    if not name or Path(name).name != name or name in (".", ".."):
        raise ValueError(f"scene.name={name!r}: expected a plain folder name (no '/', '..' or absolute path); "
                         "the dataset is written to <scene.root>/<scene.name>")
    d = Path(root) / name
    jobs = [(split, split_seed(split, i)) for split, n in counts.items() for i in range(int(n))]
    splits: dict[str, list[str]] = {split: [] for split in counts}
    built, cached, seconds = 0, 0, []
    with folder_lock(d, "scene dataset"):
        for split, seed in tqdm(jobs, desc=f"scenes -> {d}", unit="scene", disable=not progress):
            sid = scene_id_for(split, seed)
            splits[split].append(sid)
            key = config_hash({"spec": spec.to_dict(), "num_rooms": num_rooms, "seed": seed, "split": split,
                               "maps": write_maps, "writer_version": WRITER_VERSION})
            if use_cache and _is_cached(d, sid, key):
                cached += 1
                continue
            t0 = time.perf_counter()
            paths = write_scene(generate_scene(seed, num_rooms=num_rooms, split=split, spec=spec), d, seed, split,
                                write_map=write_maps)
            seconds.append(time.perf_counter() - t0)
            files = {str(p.relative_to(d)): file_sha256(p) for p in paths.values()}
            atomic_write(_stamp_path(d, sid), json_text({"config": key, "files": files}))
            built += 1
        write_dataset_files(d, {**indexed_splits(d), **splits}, name)
    return {"dataset_dir": d, "splits": splits, "built": built, "cached": cached, "seconds": seconds}


def indexed_splits(dataset_dir: str | Path) -> dict[str, list[str]]:
    """The splits already indexed in ``splits.json`` whose scenes are still on disk, so that writing
    one split (``scene.splits=[val]``) keeps the others in the index."""
    dataset_dir = Path(dataset_dir)
    index = dataset_dir / "splits.json"
    if not index.is_file():
        return {}
    try:
        doc = json.loads(index.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    if not isinstance(doc, dict):
        return {}
    return {k: [s for s in v if (dataset_dir / "scenes" / f"{s}.scene_instance.json").is_file()]
            for k, v in doc.items() if isinstance(v, list)}
