"""Procedural multi-room apartments: floor plan, textured structure and furnished rooms.

Seeds and splits: a scene is fully determined by its seed (and :class:`SceneSpec`). The splits use
disjoint seed ranges, so no apartment appears in two splits:

======  =====================  ==========================
split   seeds                  scene ids
======  =====================  ==========================
train   0 - 99,999             ``apt_train_00000`` ...
val     100,000 - 109,999      ``apt_val_100000`` ...
test    110,000 - 119,999      ``apt_test_110000`` ...
======  =====================  ==========================

The ``i``-th scene of a split has seed ``SPLIT_SEEDS[split][0] + i``. Independent random streams
(plan, per-room materials, per-room furniture) come from ``numpy.random.default_rng([seed, ...])``.

Example:
    >>> scene = generate_scene(7, num_rooms=3)
    >>> [r.room_type for r in scene.rooms]
    ['living_room', 'bathroom', 'bedroom']
    >>> scene.objects[0].instance_id
    1
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from scenes.catalog import FLOOR_COVERINGS
from scenes.furniture import BUILDERS, MeshBuilder, yaw_matrix
from scenes.layout import Plan, PlanSpec, make_plan
from scenes.materials import Material, room_materials
from scenes.placement import RoomPlacer
from scenes.types import Doorway, MeshPart, OrientedBox, Room, Scene, SceneObject

GENERATOR_VERSION = 2
SPLIT_SEEDS: dict[str, tuple[int, int]] = {
    "train": (0, 100_000),
    "val": (100_000, 110_000),
    "test": (110_000, 120_000),
}


@dataclass(frozen=True)
class SceneSpec:
    """Generator parameters (metres). ``plan`` holds wall thickness, door widths, hallway width."""

    min_rooms: int = 2
    max_rooms: int = 7
    ceiling_height: tuple[float, float] = (2.5, 2.8)
    door_height: float = 2.05
    door_clear_depth: float = 0.8  # clear zone in front of a doorway, on each side
    texture_size: int = 64
    plan: PlanSpec = field(default_factory=PlanSpec)

    def __post_init__(self):
        if not 2 <= self.min_rooms <= self.max_rooms <= 7:
            raise ValueError(f"SceneSpec rooms: expected 2 <= min_rooms <= max_rooms <= 7, "
                             f"got {self.min_rooms}..{self.max_rooms}")
        if self.texture_size < 4:
            raise ValueError(f"SceneSpec.texture_size: expected >= 4, got {self.texture_size}")

    def to_dict(self) -> dict:
        return {"generator_version": GENERATOR_VERSION, **asdict(self)}


def scene_id_for(split: str, seed: int) -> str:
    """``apt_<split>_<seed:05d>``."""
    return f"apt_{split}_{seed:05d}"


def seed_of_scene_id(scene_id: str) -> int | None:
    """The inverse of :func:`scene_id_for`: the seed of ``apt_<split>_<seed>`` (a file name or path
    of one works too), when the seed lies in that split's range; else None.

    >>> seed_of_scene_id("scenes/apt_test_110000.scene_instance.json"), seed_of_scene_id("my_house")
    (110000, None)
    """
    parts = Path(str(scene_id)).name.split(".")[0].split("_")
    if len(parts) == 3 and parts[0] == "apt" and parts[1] in SPLIT_SEEDS and parts[2].isdigit():
        lo, hi = SPLIT_SEEDS[parts[1]]
        if lo <= int(parts[2]) < hi:
            return int(parts[2])
    return None


def split_of_seed(seed: int) -> str | None:
    """The split whose seed range holds ``seed``, or None.

    >>> split_of_seed(110000)
    'test'
    """
    return next((name for name, (lo, hi) in SPLIT_SEEDS.items() if lo <= int(seed) < hi), None)


def split_seed(split: str, index: int) -> int:
    """Seed of the ``index``-th scene of ``split``; raises ValueError outside the split's range."""
    if split not in SPLIT_SEEDS:
        raise ValueError(f"split: expected one of {list(SPLIT_SEEDS)}, got {split!r}")
    lo, hi = SPLIT_SEEDS[split]
    if not 0 <= index < hi - lo:
        raise ValueError(f"index for split {split!r}: expected 0..{hi - lo - 1}, got {index}")
    return lo + index


def _check_seed(seed: int, split: str) -> None:
    if split not in SPLIT_SEEDS:
        raise ValueError(f"split: expected one of {list(SPLIT_SEEDS)}, got {split!r}")
    lo, hi = SPLIT_SEEDS[split]
    if not (isinstance(seed, (int, np.integer)) and lo <= seed < hi):
        raise ValueError(f"seed for split {split!r}: expected an int in [{lo}, {hi}), got {seed!r}")


def _bake(mb: MeshBuilder, name: str, mat: Material) -> MeshPart:
    return mb.build(name, 0, np.eye(3), np.zeros(3), texture=mat.texture)


def _room_walls(i: int, rect, doors: list[Doorway], t: float, height: float, door_h: float,
                mat: Material) -> list[MeshPart]:
    """Four half-thickness wall slabs inside room ``i``, cut at its doorways, with lintels."""
    x0, z0, x1, z1 = rect
    h = t / 2
    # (axis the wall runs along, line, along-range, slab across-range)
    edges = [("x", z0, (x0, x1), (z0, z0 + h)), ("z", x1, (z0 + h, z1 - h), (x1 - h, x1)),
             ("x", z1, (x0, x1), (z1 - h, z1)), ("z", x0, (z0 + h, z1 - h), (x0, x0 + h))]
    parts = []
    for j, (axis, line, (a0, a1), (c0, c1)) in enumerate(edges):
        cuts = sorted(
            (float(d.center[0 if axis == "x" else 1]) - d.width / 2, float(d.center[0 if axis == "x" else 1]) + d.width / 2)
            for d in doors if d.axis == axis and abs(float(d.center[1 if axis == "x" else 0]) - line) < 1e-6
        )
        spans, pos = [], a0
        for lo, hi in cuts:
            spans.append((pos, lo, 0.0, height))
            spans.append((lo, hi, door_h, height))  # lintel above the opening
            pos = hi
        spans.append((pos, a1, 0.0, height))
        mb = MeshBuilder(uv_tile=mat.tile)
        for s0, s1, y0, y1 in spans:
            if s1 - s0 > 1e-6:
                lo3 = (s0, y0, c0) if axis == "x" else (c0, y0, s0)
                hi3 = (s1, y1, c1) if axis == "x" else (c1, y1, s1)
                mb.box(lo3, hi3, (255, 255, 255))
        parts.append(_bake(mb, f"room_{i}_wall_{j}", mat))
    return parts


def _structure(plan: Plan, seed: int, spec: SceneSpec, height: float) -> list[MeshPart]:
    parts: list[MeshPart] = []
    for i, (rtype, rect) in enumerate(zip(plan.room_types, plan.rects)):
        mats = room_materials(np.random.default_rng([seed, 1, i]), rtype, spec.texture_size)
        x0, z0, x1, z1 = rect
        floor = MeshBuilder(uv_tile=mats["floor"].tile)
        floor.box((x0, -0.02, z0), (x1, 0.0, z1), (255, 255, 255), faces="Y")
        parts.append(_bake(floor, f"room_{i}_floor", mats["floor"]))
        ceiling = MeshBuilder(uv_tile=mats["ceiling"].tile)
        ceiling.box((x0, height, z0), (x1, height + 0.02, z1), (255, 255, 255), faces="y")
        parts.append(_bake(ceiling, f"ceiling_{i}", mats["ceiling"]))
        doors = [d for d in plan.doorways if i in (d.room_a, d.room_b)]
        parts += _room_walls(i, rect, doors, spec.plan.wall_thickness, height, spec.door_height, mats["wall"])
    return parts


def door_zones(plan: Plan, depth: float, margin: float = 0.1) -> list[tuple[float, float, float, float]]:
    """Clear zones of all doorways: the opening widened by ``margin``, ``depth`` deep on both sides."""
    zones = []
    for d in plan.doorways:
        cx, cz = float(d.center[0]), float(d.center[1])
        half = d.width / 2 + margin
        if d.axis == "x":
            zones.append((cx - half, cz - depth, cx + half, cz + depth))
        else:
            zones.append((cx - depth, cz - half, cx + depth, cz + half))
    return zones


def _furnish(plan: Plan, seed: int, spec: SceneSpec) -> tuple[list[MeshPart], list[SceneObject]]:
    zones = door_zones(plan, spec.door_clear_depth)
    h = spec.plan.wall_thickness / 2 + 0.01
    meshes, objects = [], []
    for i, (rtype, (x0, z0, x1, z1)) in enumerate(zip(plan.room_types, plan.rects)):
        placer = RoomPlacer(np.random.default_rng([seed, 2, i]), i, rtype, (x0 + h, z0 + h, x1 - h, z1 - h), zones)
        placer.fill()
        for p in placer.placed:
            iid = len(objects) + 1
            w, d, hh = p.size
            rot = yaw_matrix(p.k * np.pi / 2)
            mb = MeshBuilder()
            BUILDERS[p.category](mb, w, d, hh, p.colors)
            meshes.append(mb.build(f"object_{iid}_{p.category}", iid, rot, np.array([p.x, p.y0, p.z])))
            box = OrientedBox(center=np.array([p.x, p.y0 + hh / 2, p.z]), axis_lengths=np.array([w, hh, d]),
                              rotation=rot)
            objects.append(SceneObject(instance_id=iid, category=p.category, box=box, room_id=i))
    return meshes, objects


def generate_scene(seed: int, num_rooms: int | None = None, split: str = "train",
                   spec: SceneSpec | None = None) -> Scene:
    """Generate the apartment of ``seed`` (which must lie in ``split``'s seed range).

    ``num_rooms`` (2-7) defaults to a uniform draw in ``[spec.min_rooms, spec.max_rooms]``.
    """
    spec = spec or SceneSpec()
    _check_seed(seed, split)
    seed = int(seed)
    rng = np.random.default_rng([seed, 0])
    if num_rooms is None:
        num_rooms = int(rng.integers(spec.min_rooms, spec.max_rooms + 1))
    plan = make_plan(rng, num_rooms, spec.plan)
    height = round(float(rng.uniform(*spec.ceiling_height)), 2)
    rooms = [Room(room_id=i, room_type=t, polygon=np.array([[x0, z0], [x1, z0], [x1, z1], [x0, z1]], float),
                  height=height)
             for i, (t, (x0, z0, x1, z1)) in enumerate(zip(plan.room_types, plan.rects))]
    furniture, objects = _furnish(plan, seed, spec)
    return Scene(scene_id=scene_id_for(split, seed), meshes=_structure(plan, seed, spec, height) + furniture,
                 objects=objects, rooms=rooms, doorways=list(plan.doorways))




__all__ = ["FLOOR_COVERINGS", "GENERATOR_VERSION", "SPLIT_SEEDS", "SceneSpec", "generate_scene",
           "scene_id_for", "seed_of_scene_id", "split_of_seed",
           "split_seed"]
