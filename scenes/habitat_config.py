"""Typed, validated readers for habitat-sim's scene-dataset JSON files.

Covers the parts that decide *what geometry a scene is and how it is placed*: stage configs
(``*.stage_config.json``), scene instances (``*.scene_instance.json``) and scene dataset configs
(``*.scene_dataset_config.json``). Physics, lighting, navmesh and object fields are ignored.
Every problem raises :class:`~scenes.types.SceneLoadError` naming the file and the field, e.g.
``field 'up': expected 3 numbers, got 'x'``.

Stage frame conventions (those of habitat-sim, checked against its sources
``src/esp/metadata/managers/StageAttributesManager.cpp``,
``src/esp/metadata/attributes/AbstractObjectAttributes.cpp`` and ``src/esp/geo/CoordinateFrame.cpp``):

- A bare ``.glb`` stage (no stage config) is taken to be a Matterport3D mesh: ``up = [0, 0, 1]``,
  ``front = [0, 1, 0]`` (Z up). See :data:`BARE_GLB_UP`.
- A stage built from a stage config gets ``up = [0, 1, 0]``, ``front = [0, 0, -1]`` unless the
  config (or the dataset's ``stages.default_attributes``) says otherwise: habitat-sim does not apply
  the file-name-based Z-up default to config-built stages.
- The asset is rotated so that ``up`` becomes +Y and ``front`` becomes -Z (habitat's world frame:
  Y up, camera looking along -Z); see :meth:`StageConfig.rotation`.

Example:
    >>> s = StageConfig(render_asset=Path("room.glb"), up=(0, 0, 1), front=(0, 1, 0))
    >>> s.rotation().astype(int).tolist()   # asset z (up) -> world y, asset y (front) -> world -z
    [[1, 0, 0], [0, 0, 1], [0, -1, 0]]
"""

from __future__ import annotations

import glob
import json
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from scenes.types import SceneLoadError

WORLD_UP = (0.0, 1.0, 0.0)
WORLD_FRONT = (0.0, 0.0, -1.0)
#: habitat-sim's default frame for a ``.glb`` render asset loaded without a stage config.
BARE_GLB_UP = (0.0, 0.0, 1.0)
BARE_GLB_FRONT = (0.0, 1.0, 0.0)

STAGE_SUFFIX = ".stage_config.json"
INSTANCE_SUFFIX = ".scene_instance.json"
DATASET_SUFFIX = ".scene_dataset_config.json"
SEMANTIC_SUFFIX = ".semantic_config.json"
_NAME_TOKEN = "%%CONFIG_NAME_AS_ASSET_FILENAME%%"


def strip_suffix(name: str, suffix: str) -> str:
    """``"a.stage_config.json"`` -> ``"a"`` (unchanged when the suffix is absent)."""
    return name[: -len(suffix)] if name.endswith(suffix) else name


def read_json(path: str | Path) -> Any:
    """Parse a JSON file; a missing, empty, binary or malformed file raises :class:`SceneLoadError`."""
    path = Path(path)
    if not path.exists():
        raise SceneLoadError(path, "file not found")
    if path.is_dir():
        raise SceneLoadError(path, "expected a JSON file, found a directory")
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise SceneLoadError(path, f"cannot read file: {e.strerror or e}") from None
    if not raw.strip():
        raise SceneLoadError(path, f"empty file ({len(raw)} bytes), expected a JSON object")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise SceneLoadError(path, f"not UTF-8 text (bad byte at offset {e.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise SceneLoadError(
            path, f"not valid JSON at line {e.lineno} column {e.colno}: {e.msg}"
        ) from None


def _show(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


class _Fields:
    """Typed access to one JSON object, raising errors that name the file and the field."""

    def __init__(self, d: Any, path: Path, where: str = ""):
        self.path, self.where = path, where
        if not isinstance(d, dict):
            raise SceneLoadError(path, f"{self._name('')}expected a JSON object, got {_show(d)}")
        self.d = d

    def _name(self, key: str) -> str:
        full = f"{self.where}.{key}" if self.where and key else (self.where or key)
        return f"field '{full}': " if full else ""

    def fail(self, key: str, expected: str) -> SceneLoadError:
        return SceneLoadError(self.path, f"{self._name(key)}expected {expected}, got {_show(self.d[key])}")

    def has(self, key: str) -> bool:
        return key in self.d and self.d[key] is not None

    def vec3(self, key: str) -> np.ndarray | None:
        if not self.has(key):
            return None
        v = self.d[key]
        ok = isinstance(v, list) and len(v) == 3
        ok = ok and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)
        if not ok or not np.all(np.isfinite(v)):
            raise self.fail(key, "3 numbers")
        return np.asarray(v, float)

    def number(self, key: str, positive: bool = False) -> float | None:
        if not self.has(key):
            return None
        v = self.d[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v):
            raise self.fail(key, "a number")
        if positive and v <= 0:
            raise self.fail(key, "a positive number")
        return float(v)

    def string(self, key: str, required: bool = False) -> str | None:
        if not self.has(key):
            if required:
                raise SceneLoadError(self.path, f"{self._name(key)}missing (expected a string)")
            return None
        v = self.d[key]
        if not isinstance(v, str) or not v:
            raise self.fail(key, "a non-empty string")
        return v

    def obj(self, key: str) -> _Fields:
        where = f"{self.where}.{key}" if self.where else key
        return _Fields(self.d.get(key) or {}, self.path, where)

    def list(self, key: str) -> list:
        v = self.d.get(key)
        if v is None:
            return []
        if not isinstance(v, list):
            raise self.fail(key, "a list")
        return v


@dataclass(frozen=True)
class StageConfig:
    """A stage: its render asset and how to bring it into habitat's Y-up metric world frame.

    ``origin`` is read and kept but, as in habitat-sim (which stores it in the stage's
    ``CoordinateFrame`` and only applies that frame's rotation to the mesh), it does not move the
    geometry.
    """

    render_asset: Path
    up: tuple[float, float, float] | np.ndarray = WORLD_UP
    front: tuple[float, float, float] | np.ndarray = WORLD_FRONT
    units_to_meters: float = 1.0
    scale: tuple[float, float, float] | np.ndarray = (1.0, 1.0, 1.0)
    origin: tuple[float, float, float] | np.ndarray = (0.0, 0.0, 0.0)
    source: Path | None = None  # the stage config file, None for a bare glb
    name: str = ""
    semantic_asset: Path | None = None  # habitat-sim's semantic mesh (our loader reads ids from the glb)

    def rotation(self) -> np.ndarray:
        """3x3 rotation taking asset coordinates to world: ``up`` -> +Y, ``front`` -> -Z."""
        up, front = np.asarray(self.up, float), np.asarray(self.front, float)
        u, f = up / np.linalg.norm(up), front / np.linalg.norm(front)
        right = np.cross(f, u)  # asset direction that becomes world +X
        return np.stack([right, u, -f])

    def transform(self) -> np.ndarray:
        """4x4 asset -> world: ``diag(scale * units_to_meters) @ rotation`` (no translation)."""
        m = np.eye(4)
        m[:3, :3] = np.diag(np.asarray(self.scale, float) * self.units_to_meters) @ self.rotation()
        return m


def _stage_fields(d: Any, path: Path, base_dir: Path, where: str = "") -> dict:
    """The validated stage fields present in one JSON layer (a config file or an override block)."""
    f = _Fields(d, path, where)
    out: dict[str, Any] = {}
    for key in ("render_asset", "semantic_asset"):
        asset = f.string(key)
        if asset is not None:
            out[key] = base_dir / contained(asset, path, f"{where + '.' if where else ''}{key}")
    for key in ("up", "front", "scale", "origin"):
        v = f.vec3(key)
        if v is not None:
            out[key] = v
    u2m = f.number("units_to_meters", positive=True)
    if u2m is not None:
        out["units_to_meters"] = u2m
    if "up" in out and not np.linalg.norm(out["up"]) > 0:
        raise f.fail("up", "a non-zero vector")
    if "front" in out and not np.linalg.norm(out["front"]) > 0:
        raise f.fail("front", "a non-zero vector")
    return out


def build_stage(layers: list[tuple[dict, Path]], name: str, source: Path | None) -> StageConfig:
    """Merge validated stage layers (later wins); ``layers`` pairs fields with the file they came from."""
    merged: dict[str, Any] = {}
    origin_of: dict[str, Path] = {}
    for fields, path in layers:
        merged.update(fields)
        origin_of.update({k: path for k in fields})
    if "render_asset" not in merged:
        where = source or (layers[-1][1] if layers else name)
        raise SceneLoadError(where, "field 'render_asset': missing (expected the stage's mesh file)")
    up = merged.get("up", np.array(WORLD_UP))
    front = merged.get("front", np.array(WORLD_FRONT))
    cos = abs(float(np.dot(up, front))) / (np.linalg.norm(up) * np.linalg.norm(front))
    if cos > 1e-4:
        path = origin_of.get("front", origin_of.get("up", source or name))
        raise SceneLoadError(
            path, f"fields 'up' {up.tolist()} and 'front' {front.tolist()}: expected orthogonal vectors"
        )
    return StageConfig(name=name, source=source, **merged)


def read_stage_config(path: str | Path, defaults: list[tuple[dict, Path]] | None = None) -> StageConfig:
    """Read a ``*.stage_config.json``; ``render_asset`` is relative to the config's folder.

    ``defaults`` are earlier layers (e.g. a dataset's ``stages.default_attributes``).
    """
    path = Path(path)
    layer = (_stage_fields(read_json(path), path, path.parent), path)
    return build_stage([*(defaults or []), layer], strip_suffix(path.name, STAGE_SUFFIX), path)


def bare_glb_stage(glb: str | Path) -> StageConfig:
    """habitat-sim's stage for a ``.glb`` given without any config: Z up, Y front, metres."""
    glb = Path(glb)
    return StageConfig(render_asset=glb, up=BARE_GLB_UP, front=BARE_GLB_FRONT, name=glb.stem)


@dataclass(frozen=True)
class SceneInstance:
    """The parts of a ``*.scene_instance.json`` that define the stage and its semantics.

    ``stage_translation`` is read but not applied: habitat-sim does not apply a stage instance's
    transformation either (``Simulator::instanceStageForSceneAttributes``); only its scales.
    """

    path: Path
    name: str
    stage_template: str
    semantic_scene: str | None = None
    stage_scale: np.ndarray = field(default_factory=lambda: np.ones(3))
    stage_translation: np.ndarray = field(default_factory=lambda: np.zeros(3))


def read_scene_instance(path: str | Path, defaults: dict | None = None) -> SceneInstance:
    """Read a scene instance; ``defaults`` is the dataset's ``scene_instances.default_attributes``."""
    path = Path(path)
    f = _Fields(read_json(path), path)
    name = strip_suffix(path.name, INSTANCE_SUFFIX)
    stage = f.obj("stage_instance")
    if not f.has("stage_instance"):
        raise SceneLoadError(path, "field 'stage_instance': missing (expected an object with 'template_name')")
    scale = np.ones(3) * (stage.number("uniform_scale", positive=True) or 1.0)
    non_uniform = stage.vec3("non_uniform_scale")
    if non_uniform is not None:
        scale = scale * non_uniform
    f.list("object_instances")  # type-checked only: object instances are not loaded
    semantic = f.string("semantic_scene_instance")
    if semantic is None and defaults and isinstance(defaults.get("semantic_scene_instance"), str):
        semantic = defaults["semantic_scene_instance"]
    if semantic is not None:
        semantic = contained(semantic.replace(_NAME_TOKEN, name), path, "semantic_scene_instance")
    translation = stage.vec3("translation")
    return SceneInstance(
        path=path,
        name=name,
        stage_template=contained(stage.string("template_name", required=True), path, "stage_instance.template_name"),
        semantic_scene=semantic,
        stage_scale=scale,
        stage_translation=np.zeros(3) if translation is None else translation,
    )


def contained(entry: str, path: Path, where: str) -> str:
    """``entry`` itself when it is a relative path that stays below the folder it is read from;
    absolute paths and ``..`` parts are refused, so a dataset cannot make the loader open files
    outside it.

    >>> contained("stages/a.glb", Path("d.json"), "render_asset")
    'stages/a.glb'
    >>> contained("../../etc/hostname", Path("d.json"), "render_asset")
    Traceback (most recent call last):
    ...
    scenes.types.SceneLoadError: d.json: field 'render_asset': '../../etc/hostname' leaves the dataset folder (absolute paths and '..' are refused)
    """
    parts = entry.replace("\\", "/").split("/")
    if Path(entry).is_absolute() or entry.startswith(("/", "\\")) or ".." in parts:
        raise SceneLoadError(path, f"field '{where}': {entry!r} leaves the dataset folder "
                                   "(absolute paths and '..' are refused)")
    return entry


def _expand(root: Path, entries: list, suffix: str, path: Path, where: str) -> list[Path]:
    """Files named by a dataset ``paths`` list: folders (their ``*suffix`` files), globs or files."""
    out: list[Path] = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, str):
            raise SceneLoadError(path, f"field '{where}[{i}]': expected a path string, got {_show(entry)}")
        target = root / contained(entry, path, f"{where}[{i}]")
        if any(c in entry for c in "*?["):
            hits = [Path(p) for p in sorted(glob.glob(str(target)))]
        else:
            hits = [target]
        found = len(out)
        for h in hits:
            if h.is_dir():
                out.extend(sorted(h.glob(f"*{suffix}")))
            elif h.is_file() and h.name.endswith(suffix):
                out.append(h)
        if len(out) == found:
            warnings.warn(f"{path}: field '{where}[{i}]': {entry!r} names no *{suffix} file under {root}; "
                          "its scenes are missing from the dataset", stacklevel=3)
    return list(dict.fromkeys(out))


@dataclass
class SceneDataset:
    """A ``*.scene_dataset_config.json``: where its stages, scene instances and semantics live."""

    path: Path
    stage_files: list[Path]
    glb_files: list[Path]
    instance_files: list[Path]
    semantic_dirs: list[Path]
    semantic_handles: dict[str, str]
    stage_defaults: dict
    stage_templates: dict[str, dict]  # template_handle -> the raw "configs" entry
    instance_defaults: dict

    @property
    def root(self) -> Path:
        return self.path.parent

    def scene_ids(self) -> list[str]:
        return [strip_suffix(p.name, INSTANCE_SUFFIX) for p in self.instance_files]

    def find_instance(self, scene_id: str) -> Path | None:
        """The scene instance file named ``scene_id`` (file name or path relative to the root)."""
        for p in self.instance_files:
            rel = strip_suffix(p.relative_to(self.root).as_posix(), INSTANCE_SUFFIX)
            if scene_id in (strip_suffix(p.name, INSTANCE_SUFFIX), rel):
                return p
        return None

    def _default_layers(self) -> list[tuple[dict, Path]]:
        if not self.stage_defaults:
            return []
        return [(_stage_fields(self.stage_defaults, self.path, self.root, "stages.default_attributes"), self.path)]

    def stage(self, handle: str) -> StageConfig | None:
        """Resolve a stage template name like habitat-sim: a ``configs`` handle, a stage config, a glb."""
        if handle in self.stage_templates:
            entry = self.stage_templates[handle]
            f = _Fields(entry, self.path, f"stages.configs[{handle!r}]")
            layers = self._default_layers()
            original = f.string("original_file")
            if original is not None:
                src = self.root / contained(original, self.path, f"stages.configs[{handle!r}].original_file")
                layers.append((_stage_fields(read_json(src), src, src.parent), src))
            where = f"stages.configs[{handle!r}].attributes"
            layers.append((_stage_fields(entry.get("attributes") or {}, self.path, self.root, where), self.path))
            return build_stage(layers, handle, self.path)
        for p in self.stage_files:
            rel = strip_suffix(p.relative_to(self.root).as_posix(), STAGE_SUFFIX)
            if handle in (strip_suffix(p.name, STAGE_SUFFIX), rel):
                return read_stage_config(p, self._default_layers())
        for p in self.glb_files:
            rel = p.relative_to(self.root).with_suffix("").as_posix()
            if handle in (p.stem, rel, p.name):
                if self.stage_defaults:  # habitat-sim builds it from the defaults, not the Z-up guess
                    return build_stage([*self._default_layers(), ({"render_asset": p}, p)], p.stem, None)
                return bare_glb_stage(p)
        # habitat-sim's last resort: the first handle, in sorted order, that contains the name
        partial = sorted(h for h in set(self.stage_handles()) if handle and handle in h)
        if partial:
            if len(partial) > 1:
                warnings.warn(f"{self.path}: stage {handle!r} matches {partial}; using {partial[0]!r} "
                              "as habitat-sim does", stacklevel=2)
            return self.stage(partial[0])
        return None

    def stage_handles(self) -> list[str]:
        names = list(self.stage_templates)
        names += [strip_suffix(p.name, STAGE_SUFFIX) for p in self.stage_files]
        return names + [p.stem for p in self.glb_files]

    def semantic_config(self, name: str, near: Path) -> Path | None:
        """The semantic config file for a scene instance's ``semantic_scene_instance`` value."""
        name = self.semantic_handles.get(name, name)
        file = name if name.endswith(SEMANTIC_SUFFIX) else name + SEMANTIC_SUFFIX
        for d in [self.root / "semantics", *self.semantic_dirs, self.root, near]:
            if (d / file).is_file():
                return d / file
        return None


def read_dataset(path: str | Path) -> SceneDataset:
    """Read a ``*.scene_dataset_config.json`` (paths are relative to its folder)."""
    path = Path(path)
    f = _Fields(read_json(path), path)
    root = path.parent
    stages = f.obj("stages")
    stage_paths = stages.obj("paths")
    templates: dict[str, dict] = {}
    for i, entry in enumerate(stages.list("configs")):
        e = _Fields(entry, path, f"stages.configs[{i}]")
        templates[e.string("template_handle", required=True)] = entry
    instances = f.obj("scene_instances")
    semantics = f.obj("semantic_scene_descriptor_instances")
    sem_entries = semantics.obj("paths").list(".json")
    semantic_dirs = []
    for entry in sem_entries:
        if isinstance(entry, str):
            d = root / re.sub(r"[/\\]?[^/\\]*[*?\[].*$", "", entry)
            semantic_dirs.append(d if d.is_dir() else d.parent)
    handles = {k: v for k, v in semantics.d.items() if isinstance(v, str)}
    return SceneDataset(
        path=path,
        stage_files=_expand(root, stage_paths.list(".json"), STAGE_SUFFIX, path, "stages.paths.json"),
        glb_files=_expand(root, stage_paths.list(".glb"), ".glb", path, "stages.paths.glb"),
        instance_files=_expand(
            root, instances.obj("paths").list(".json"), INSTANCE_SUFFIX, path, "scene_instances.paths.json"
        ),
        semantic_dirs=semantic_dirs,
        semantic_handles=handles,
        stage_defaults=stages.d.get("default_attributes") or {},
        stage_templates=templates,
        instance_defaults=instances.d.get("default_attributes") or {},
    )


def find_dataset(start: Path, levels: int = 2) -> Path | None:
    """The single ``*.scene_dataset_config.json`` in ``start`` or up to ``levels`` folders above."""
    d = start
    for _ in range(levels + 1):
        hits = sorted(d.glob(f"*{DATASET_SUFFIX}"))
        if len(hits) == 1:
            return hits[0]
        d = d.parent
    return None
