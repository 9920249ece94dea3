"""Generator invariants, checked with geometry computed here (shapely footprints, a rasterised floor
grid), not with the generator's own bookkeeping."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from shapely.geometry import Polygon, box
from shapely.ops import unary_union

from scenes.catalog import CATALOG, ROOM_AREA, ROOM_CONTENTS, check_catalog
from scenes.generator import SPLIT_SEEDS, generate_scene, split_seed

WALL = 0.1
# 36 scenes: every room count 2..7, several seeds each.
CASES = [(seed, n) for n in range(2, 8) for seed in (0, 1, 2, 17, 123, 4242)]


@pytest.fixture(scope="module")
def scenes():
    return [generate_scene(seed, num_rooms=n) for seed, n in CASES]


def footprint(obj) -> Polygon:
    corners = obj.box.corners()  # bottom face: sy = -1 -> indices 0, 1, 5, 4 (see OrientedBox.corners)
    return Polygon(corners[[0, 1, 5, 4]][:, [0, 2]])


def y_range(obj) -> tuple[float, float]:
    ys = obj.box.corners()[:, 1]
    return float(ys.min()), float(ys.max())


def doorway_zone(d, depth: float = 0.5) -> Polygon:
    cx, cz = d.center
    h = d.width / 2
    return box(cx - h, cz - depth, cx + h, cz + depth) if d.axis == "x" else box(cx - depth, cz - h, cx + depth, cz + h)


def test_footprint_helper_on_a_hand_built_box():
    from scenes.types import OrientedBox, SceneObject

    rot = np.array([[0, 0, 1], [0, 1, 0], [-1, 0, 0]], float)  # yaw 90 degrees: width axis -> -z
    obj = SceneObject(1, "bed", OrientedBox(np.array([1.0, 0.25, 2.0]), np.array([2.0, 0.5, 1.0]), rot))
    assert footprint(obj).bounds == pytest.approx((0.5, 1.0, 1.5, 3.0))
    assert y_range(obj) == pytest.approx((0.0, 0.5))


def test_same_seed_same_scene_and_seeds_differ():
    a, b = generate_scene(31, num_rooms=5), generate_scene(31, num_rooms=5)
    assert [m.name for m in a.meshes] == [m.name for m in b.meshes]
    for ma, mb in zip(a.meshes, b.meshes):
        assert np.array_equal(ma.vertices, mb.vertices) and np.array_equal(ma.faces, mb.faces)
        assert (ma.texture is None) == (mb.texture is None)
        if ma.texture is not None:
            assert np.array_equal(ma.texture, mb.texture)
    c = generate_scene(32, num_rooms=5)
    assert [r.polygon.tolist() for r in a.rooms] != [r.polygon.tolist() for r in c.rooms]


def test_room_counts_types_and_sizes(scenes):
    for (seed, n), scene in zip(CASES, scenes):
        assert len(scene.rooms) == n
        types = [r.room_type for r in scene.rooms]
        assert "living_room" in types and "bathroom" in types
        for room in scene.rooms:
            if room.room_type != "hallway":
                lo, hi = ROOM_AREA[room.room_type]
                assert lo - 0.3 <= room.area <= hi + 0.3, (scene.scene_id, room.room_type, room.area)
            assert 2.5 <= room.height <= 2.8
        # rooms tile without overlapping (union area == sum of areas)
        polys = [Polygon(r.polygon) for r in scene.rooms]
        assert unary_union(polys).area == pytest.approx(sum(p.area for p in polys), rel=1e-6)


def test_no_overlaps_with_explicit_rug_rule(scenes):
    """Objects whose height ranges overlap have disjoint footprints. Rugs are floor coverings of
    negligible height: they may lie under furniture, but never overlap other rugs or doorways."""
    for scene in scenes:
        objs = scene.objects
        for i, a in enumerate(objs):
            for b in objs[i + 1:]:
                rug_a, rug_b = a.category == "rug", b.category == "rug"
                if rug_a != rug_b:
                    continue
                (a0, a1), (b0, b1) = y_range(a), y_range(b)
                if not rug_a and min(a1, b1) - max(a0, b0) <= 1e-6:
                    continue  # stacked (a tv on its stand)
                inter = footprint(a).intersection(footprint(b)).area
                assert inter < 1e-6, f"{scene.scene_id}: {a.category}#{a.instance_id} overlaps {b.category}#{b.instance_id}"
        zones = [doorway_zone(d) for d in scene.doorways]
        for o in objs:
            if o.box.center[1] - o.box.axis_lengths[1] / 2 > 1e-6:
                continue  # stacked objects stand on a parent checked here
            for z in zones:
                assert footprint(o).intersection(z).area < 1e-6, f"{scene.scene_id}: {o.category} blocks a doorway"


def test_objects_inside_their_room_and_walls(scenes):
    for scene in scenes:
        rooms = {r.room_id: r for r in scene.rooms}
        for o in scene.objects:
            inner = Polygon(rooms[o.room_id].polygon).buffer(-WALL / 2 + 1e-6, join_style="mitre")
            assert inner.covers(footprint(o)), f"{scene.scene_id}: {o.category}#{o.instance_id} outside its room"
            lo, hi = y_range(o)
            assert lo >= -1e-6 and hi <= rooms[o.room_id].height


def floor_grid(scene, res=0.05, furniture_pad=None):
    """Free floor cells: inside rooms, minus walls (WALL thick on every room edge) except doorway gaps,
    minus furniture footprints grown by ``furniture_pad`` when given (rugs are walkable)."""
    pts = np.concatenate([r.polygon for r in scene.rooms])
    lo = pts.min(0) - 0.2
    shape = tuple(np.ceil((pts.max(0) + 0.2 - lo) / res).astype(int))
    gx, gz = np.meshgrid(lo[0] + (np.arange(shape[0]) + 0.5) * res, lo[1] + (np.arange(shape[1]) + 0.5) * res,
                         indexing="ij")
    free = np.zeros(shape, bool)
    for r in scene.rooms:
        (x0, z0), (x1, z1) = r.polygon.min(0), r.polygon.max(0)  # generator rooms are rectangles
        free |= (gx > x0) & (gx < x1) & (gz > z0) & (gz < z1)
        for k, line in ((0, x0), (0, x1), (1, z0), (1, z1)):
            across = gx if k == 0 else gz
            along = gz if k == 0 else gx
            a0, a1 = (z0, z1) if k == 0 else (x0, x1)
            free &= ~((np.abs(across - line) < WALL / 2 + res) & (along > a0 - WALL) & (along < a1 + WALL))
    for d in scene.doorways:
        cx, cz = d.center
        if d.axis == "x":
            free |= (np.abs(gx - cx) < d.width / 2) & (np.abs(gz - cz) < WALL / 2 + res + 1e-9)
        else:
            free |= (np.abs(gz - cz) < d.width / 2) & (np.abs(gx - cx) < WALL / 2 + res + 1e-9)
    if furniture_pad is not None:
        for o in scene.objects:
            if o.category != "rug":
                x0, z0, x1, z1 = footprint(o).bounds
                free &= ~((gx > x0 - furniture_pad) & (gx < x1 + furniture_pad) & (gz > z0 - furniture_pad)
                          & (gz < z1 + furniture_pad))
    return free, lambda x, z: (int((x - lo[0]) / res), int((z - lo[1]) / res))


def test_floor_grid_blocks_a_room_without_doorways():
    scene = generate_scene(0, num_rooms=2)
    scene.doorways = []  # remove the doorway: the two rooms must fall apart
    free, cell = floor_grid(scene)
    labels, _ = ndimage.label(free)
    ids = {labels[cell(*r.polygon.mean(0))] for r in scene.rooms}
    assert len(ids) == 2 and 0 not in ids


@pytest.mark.parametrize("pad", [None, 0.1])
def test_all_rooms_reachable_on_foot(scenes, pad):
    """Through doorway gaps only; with ``pad``, also around furniture (an agent of radius 0.1 m)."""
    for scene in scenes:
        free, cell = floor_grid(scene, furniture_pad=pad)
        labels, _ = ndimage.label(free)
        ids = set()
        for r in scene.rooms:
            ids |= _room_components(labels, free, r, cell)
        # each room's largest free floor component is one and the same
        assert len(ids) == 1, f"{scene.scene_id}: rooms fall into {len(ids)} floor components (pad={pad})"


def _room_components(labels, free, room, cell) -> set:
    (x0, z0), (x1, z1) = room.polygon.min(0) + 0.15, room.polygon.max(0) - 0.15
    (i0, j0), (i1, j1) = cell(x0, z0), cell(x1, z1)
    sub = labels[i0:i1, j0:j1][free[i0:i1, j0:j1]]
    values, counts = np.unique(sub, return_counts=True)
    return {int(values[np.argmax(counts)])}


def test_catalog_sizes_in_stated_ranges(scenes):
    check_catalog()
    assert len(CATALOG) >= 25
    for c in CATALOG.values():
        assert c.source.strip(), f"{c.name} has no size source"
    seen = set()
    for scene in scenes:
        for o in scene.objects:
            c = CATALOG[o.category]
            w, h, d = o.box.axis_lengths
            for name, v, (lo, hi) in (("width", w, c.width), ("height", h, c.height), ("depth", d, c.depth)):
                assert lo - 1e-3 <= v <= hi + 1e-3, f"{o.category}.{name} = {v} outside {lo}..{hi}"
            seen.add(o.category)
    assert len(seen) >= 25, f"only {len(seen)} categories appear in {len(scenes)} scenes"
    in_rooms = {it.category for items in ROOM_CONTENTS.values() for it in items}
    assert in_rooms <= set(CATALOG)


def test_several_instances_for_counting(scenes):
    multi = [max(np.unique([o.category for o in s.objects], return_counts=True)[1]) for s in scenes if s.objects]
    assert np.mean(np.array(multi) >= 2) > 0.9
    chairs = [sum(o.category == "chair" for o in s.objects) for s in scenes]
    assert max(chairs) >= 4


def test_instance_ids_and_mesh_names(scenes):
    for scene in scenes:
        ids = [o.instance_id for o in scene.objects]
        assert ids == list(range(1, len(ids) + 1))
        named = {m.name: m for m in scene.meshes}
        for o in scene.objects:
            mesh = named[f"object_{o.instance_id}_{o.category}"]
            assert mesh.instance_id == o.instance_id and mesh.colors is not None
            # the mesh lies inside its oriented box
            local = (mesh.vertices - o.box.center) @ o.box.rotation
            assert np.all(np.abs(local) <= o.box.axis_lengths / 2 + 2e-3), o.category
        for m in scene.meshes:
            if not m.name.startswith("object_"):
                assert m.instance_id == 0 and m.texture is not None and m.uv is not None


def test_triangle_budget(scenes):
    assert max(s.num_triangles for s in scenes) < 20_000


def test_split_seed_ranges_are_disjoint_and_enforced():
    ranges = sorted(SPLIT_SEEDS.values())
    assert all(a[1] <= b[0] for a, b in zip(ranges, ranges[1:]))
    assert split_seed("val", 3) == 100_003
    assert generate_scene(split_seed("test", 0), num_rooms=2, split="test").scene_id == "apt_test_110000"
    with pytest.raises(ValueError, match="seed for split 'val'"):
        generate_scene(5, split="val")
    with pytest.raises(ValueError, match="num_rooms"):
        generate_scene(5, num_rooms=9)


def test_door_as_wide_as_its_wall_does_not_break_generation():
    """Train seed 33 has a doorway whose width equals the free wall length; the door centre's
    bounds were equal up to rounding and reversed, and generation raised."""
    scene = generate_scene(33, split="train")
    assert scene.doorways and all(d.width > 0 for d in scene.doorways)
