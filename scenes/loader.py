"""Load a scene -- our procedural apartments or a plain Habitat stage -- into one :class:`Scene`.

``load(path, scene_id=None)`` accepts:

- a ``.glb`` stage. If a sibling ``<stem>.stage_config.json`` names this glb as its
  ``render_asset``, that config applies; otherwise habitat-sim's default for a bare glb applies
  (Matterport3D convention: ``up = [0, 0, 1]``, ``front = [0, 1, 0]``);
- a ``*.stage_config.json`` (``render_asset`` relative to the config's folder);
- a ``*.scene_instance.json``: its ``stage_instance.template_name`` is resolved through the dataset
  config found in its folder or the two above it (else as a path relative to the dataset root),
  its ``semantic_scene_instance`` to ``semantics/<name>.semantic_config.json`` when present;
- a ``*.scene_dataset_config.json`` or a dataset folder, plus ``scene_id``: a scene instance found
  through the config's ``scene_instances.paths``, else a stage template with that handle.

Frame convention (habitat-sim's; see :mod:`scenes.habitat_config` for the sources): each glb node's
vertices ``v`` (after the node's own glTF transform ``T``) go to world coordinates as

    world = diag(scale * units_to_meters) @ R(up, front) @ T @ v

where ``R`` turns the stage's ``up`` into +Y and its ``front`` into -Z (so world is Y up, metres,
-Z forward). Stage configs default to ``up = [0, 1, 0]``, ``front = [0, 0, -1]``, ``scale = 1``,
``units_to_meters = 1``. A scene instance's ``uniform_scale`` / ``non_uniform_scale`` multiply
``scale``; like habitat-sim we apply neither the stage's ``origin`` nor a stage instance's
``translation``. Semantic configs (rooms, objects) are in the stage asset's frame and move with the
geometry (:func:`scenes.annotations.transform_annotations`; the identity for the default frame).
Every loaded scene then passes :func:`scenes.validate.check_scene` (finite, in-room, rooms with area).

Instance ids come from glb node names ``object_<id>_<category>``; every other node is structure
(id 0). ``MeshPart.uv`` follows trimesh (origin at the image's lower-left, v up); ``texture`` rows
start at the image's top.

Example:
    >>> scene = load("data/scenes/vlm2_apartments", "apt_train_00000")  # doctest: +SKIP
    >>> scene.bounds[:, 1]   # Y is up                                      # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import re
import struct
import warnings
from pathlib import Path

import numpy as np

from scenes import habitat_config as hc
from scenes.annotations import annotations_from_dict, transform_annotations
from scenes.types import BACKGROUND_ID, MeshPart, Scene, SceneLoadError
from scenes.validate import check_scene

__all__ = ["load", "load_stage", "read_glb", "instance_id_from_name"]

_OBJECT_NODE = re.compile(r"^object_(\d+)_")


def instance_id_from_name(name: str) -> int:
    """``"object_12_dining_table"`` -> 12; any other node name -> 0 (structure)."""
    m = _OBJECT_NODE.match(name)
    return int(m.group(1)) if m else BACKGROUND_ID


def load(path: str | Path, scene_id: str | None = None) -> Scene:
    """Load a scene (see the module docstring for what ``path`` may be).

    Raises :class:`SceneLoadError` naming the file and the problem for missing, truncated or
    malformed inputs, and for a ``scene_id`` the dataset does not have.
    """
    path = Path(path)
    name = path.name
    if path.is_dir():
        hits = sorted(path.glob(f"*{hc.DATASET_SUFFIX}"))
        if len(hits) != 1:
            found = ", ".join(h.name for h in hits) or "none"
            raise SceneLoadError(path, f"expected one *{hc.DATASET_SUFFIX} in the folder, found {found}")
        return _load_from_dataset(hits[0], scene_id)
    if not path.exists():
        raise SceneLoadError(path, "file not found")
    if name.endswith(hc.DATASET_SUFFIX):
        return _load_from_dataset(path, scene_id)
    if name.endswith(hc.INSTANCE_SUFFIX):
        return _load_instance(path)
    if name.endswith(hc.STAGE_SUFFIX):
        return load_stage(hc.read_stage_config(path))
    if path.suffix.lower() == ".glb":
        return load_stage(_stage_for_glb(path))
    raise SceneLoadError(
        path, "unsupported file type: expected .glb, *.stage_config.json, *.scene_instance.json, "
        "*.scene_dataset_config.json or a dataset folder"
    )


def scene_ids(path: str | Path) -> list[str]:
    """The scene ids (scene instances, else stages) of a dataset folder or ``*.scene_dataset_config.json``."""
    path = Path(path)
    if path.is_dir():
        hits = sorted(path.glob(f"*{hc.DATASET_SUFFIX}"))
        if len(hits) != 1:
            raise SceneLoadError(path, f"expected one *{hc.DATASET_SUFFIX} in the folder, found {len(hits)}")
        path = hits[0]
    return list(hc.read_dataset(path).scene_ids())


def _stage_for_glb(glb: Path) -> hc.StageConfig:
    sibling = glb.with_name(glb.stem + hc.STAGE_SUFFIX)
    if sibling.is_file():
        stage = hc.read_stage_config(sibling)
        if stage.render_asset.resolve() == glb.resolve():
            return stage
    return hc.bare_glb_stage(glb)


def load_stage(stage: hc.StageConfig, scene_id: str | None = None) -> Scene:
    """Geometry of one stage in world coordinates, without semantics."""
    meshes = read_glb(stage.render_asset, stage.transform())
    scene = Scene(scene_id=scene_id or stage.name, meshes=meshes, source=str(stage.source or stage.render_asset))
    return check_scene(scene, stage.render_asset)


def _load_from_dataset(config: Path, scene_id: str | None) -> Scene:
    ds = hc.read_dataset(config)
    if scene_id is None:
        ids = ds.scene_ids()
        if len(ids) != 1:
            raise SceneLoadError(config, f"scene_id is required; the dataset has {_listing(ids)}")
        scene_id = ids[0]
    inst = ds.find_instance(scene_id)
    if inst is not None:
        return _load_instance(inst, ds)
    stage = ds.stage(scene_id)
    if stage is not None:
        return load_stage(stage, scene_id)
    raise SceneLoadError(
        config, f"no scene instance or stage named {scene_id!r}; scenes: {_listing(ds.scene_ids())}; "
        f"stages: {_listing(ds.stage_handles())}"
    )


def _listing(names: list[str], limit: int = 8) -> str:
    if not names:
        return "none"
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _load_instance(path: Path, ds: hc.SceneDataset | None = None) -> Scene:
    if ds is None:
        found = hc.find_dataset(path.parent)
        ds = hc.read_dataset(found) if found is not None else None
    inst = hc.read_scene_instance(path, ds.instance_defaults if ds else None)
    stage = ds.stage(inst.stage_template) if ds else None
    # Without a dataset config, the dataset root is the folder above scenes/ (or the instance's own).
    roots = [ds.root] if ds else [path.parent.parent, path.parent]
    root = roots[0]
    if stage is None:
        stage = _stage_by_path(roots, inst.stage_template)
    if stage is None:
        raise SceneLoadError(
            path, f"field 'stage_instance.template_name': no stage named {inst.stage_template!r} "
            f"(looked for a dataset template, {inst.stage_template}{hc.STAGE_SUFFIX} and a .glb under {root})"
        )
    if inst.stage_scale is not None:
        stage = dataclasses.replace(stage, scale=np.asarray(stage.scale, float) * inst.stage_scale)
    scene = load_stage(stage, inst.name)
    scene.source = str(path)
    if inst.semantic_scene:
        sem = ds.semantic_config(inst.semantic_scene, path.parent) if ds else None
        sem = sem or _semantic_by_path(roots, inst.semantic_scene)
        if sem is None:
            warnings.warn(f"{path}: semantic scene {inst.semantic_scene!r} not found; loading without "
                          "semantics", stacklevel=3)
        else:
            annotations = annotations_from_dict(hc.read_json(sem), sem)
            scene.objects, scene.rooms, scene.doorways = transform_annotations(
                *annotations, stage.transform()[:3, :3], sem)
            check_scene(scene, sem)
    return scene


def _stage_by_path(roots: list[Path], template: str) -> hc.StageConfig | None:
    for base in [b for r in roots for b in (r, r / "stages")]:
        cfg = base / (hc.strip_suffix(template, hc.STAGE_SUFFIX) + hc.STAGE_SUFFIX)
        if cfg.is_file():
            return hc.read_stage_config(cfg)
        glb = base / template
        for g in (glb, glb.with_name(glb.name + ".glb")):
            if g.is_file() and g.suffix.lower() == ".glb":
                return _stage_for_glb(g)
    return None


def _semantic_by_path(roots: list[Path], name: str) -> Path | None:
    file = name if name.endswith(hc.SEMANTIC_SUFFIX) else name + hc.SEMANTIC_SUFFIX
    for d in [b for r in roots for b in (r / "semantics", r)]:
        if (d / file).is_file():
            return d / file
    return None


# ----------------------------------------------------------------------------------------- glb


def check_glb_header(path: Path) -> None:
    """Validate the 12-byte glb header and the first (JSON) chunk before handing the file to trimesh."""
    if not path.is_file():
        raise SceneLoadError(path, "file not found" if not path.exists() else "expected a file")
    size = path.stat().st_size
    if size == 0:
        raise SceneLoadError(path, "empty file (0 bytes), expected a glb")
    with path.open("rb") as fh:
        head = fh.read(20)
    if len(head) < 12:
        raise SceneLoadError(path, f"truncated glb: {size} bytes, the glb header alone needs 12")
    magic, version, length = struct.unpack("<4sII", head[:12])
    if magic != b"glTF":
        raise SceneLoadError(path, f"not a glb: magic bytes {magic!r}, expected b'glTF'")
    if version != 2:
        raise SceneLoadError(path, f"unsupported glTF container version {version}, expected 2")
    if size < length:
        raise SceneLoadError(path, f"truncated glb: header says {length} bytes, file has {size}")
    if len(head) < 20:
        raise SceneLoadError(path, "truncated glb: no JSON chunk after the header")
    chunk_len, chunk_type = struct.unpack("<I4s", head[12:20])
    if chunk_type != b"JSON":
        raise SceneLoadError(path, f"malformed glb: first chunk is {chunk_type!r}, expected b'JSON'")
    if 20 + chunk_len > length:
        raise SceneLoadError(path, f"truncated glb: JSON chunk of {chunk_len} bytes overruns the {length}-byte file")


def read_glb(path: str | Path, transform: np.ndarray | None = None) -> list[MeshPart]:
    """One :class:`MeshPart` per glb node with a triangle mesh, ``transform`` (4x4) applied after
    the node's own transform. Node order follows the file."""
    import trimesh

    path = Path(path)
    if path.suffix.lower() == ".glb":
        check_glb_header(path)
    elif not path.is_file():
        raise SceneLoadError(path, "file not found")
    try:
        scene = trimesh.load(str(path), force="scene", process=False)
    except Exception as e:  # trimesh raises many types for broken files
        raise SceneLoadError(path, f"cannot parse mesh file: {type(e).__name__}: {e}") from None
    world = np.eye(4) if transform is None else np.asarray(transform, float)
    parts: list[MeshPart] = []
    textures: dict[int, np.ndarray] = {}  # one array per source image, so renderers can share it
    for node in scene.graph.nodes_geometry:
        node_tf, geom_name = scene.graph[node]
        geom = scene.geometry.get(geom_name)
        if not isinstance(geom, trimesh.Trimesh) or len(geom.faces) == 0:
            continue  # points and lines carry no surface to render
        try:
            parts.append(_mesh_part(str(node), geom, world @ node_tf, textures))
        except Exception as e:  # numpy, trimesh and PIL (a texture decoded here) raise many types
            raise SceneLoadError(path, f"node {node!r}: malformed mesh data: {type(e).__name__}: {e}") from None
    return parts


def _mesh_part(name: str, geom, tf: np.ndarray, textures: dict[int, np.ndarray]) -> MeshPart:
    lin = tf[:3, :3]
    vertices = np.asarray(geom.vertices, float) @ lin.T + tf[:3, 3]
    faces = np.asarray(geom.faces, dtype=np.uint32)
    if np.linalg.det(lin) < 0:  # a mirroring transform flips winding; keep faces front-facing
        faces = faces[:, ::-1]
    normals = np.asarray(geom.vertex_normals, float) @ np.linalg.inv(lin)  # inverse-transpose
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
    colors, uv, texture = _appearance(geom, textures)
    return MeshPart(
        name=name,
        vertices=vertices.astype(np.float32),
        faces=np.ascontiguousarray(faces),
        normals=normals.astype(np.float32),
        colors=colors,
        uv=uv,
        texture=texture,
        instance_id=instance_id_from_name(name),
    )


def _as_rgba8(c: np.ndarray | None, n: int) -> np.ndarray | None:
    """Vertex colours of any glTF component type as (n, 4) uint8."""
    if c is None:
        return None
    c = np.asarray(c)
    if c.ndim != 2 or len(c) != n or c.shape[1] not in (3, 4):
        return None
    if np.issubdtype(c.dtype, np.floating):
        c = np.clip(np.round(c * 255), 0, 255)
    elif c.dtype == np.uint16:
        c = c // 257
    c = c.astype(np.uint8)
    if c.shape[1] == 3:
        c = np.concatenate([c, np.full((n, 1), 255, np.uint8)], axis=1)
    return c


def _appearance(geom, textures: dict[int, np.ndarray]) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """(colors, uv, texture): COLOR_0 times the material's base colour; baseColorTexture + TEXCOORD_0."""
    n = len(geom.vertices)
    vis = geom.visual
    if getattr(vis, "kind", None) in ("vertex", "face"):
        return _as_rgba8(vis.vertex_colors, n), None, None
    material = getattr(vis, "material", None)
    if material is None:
        return None, None, None
    colors = _as_rgba8(getattr(vis, "vertex_attributes", {}).get("color"), n)
    factor = getattr(material, "baseColorFactor", None)
    image = getattr(material, "baseColorTexture", None)
    if factor is None and image is None and hasattr(material, "diffuse"):  # SimpleMaterial
        factor, image = getattr(material, "diffuse", None), getattr(material, "image", None)
    if factor is not None:
        f = _as_rgba8(np.atleast_2d(factor), 1)
        if f is not None:
            base = np.repeat(f, n, axis=0)
            colors = base if colors is None else (colors.astype(np.uint16) * base // 255).astype(np.uint8)
    uv = getattr(vis, "uv", None)
    if image is None or uv is None or len(uv) != n:
        return colors, None, None
    if id(image) not in textures:
        textures[id(image)] = np.asarray(image.convert("RGB"), dtype=np.uint8)
    return colors, np.asarray(uv, np.float32), textures[id(image)]
