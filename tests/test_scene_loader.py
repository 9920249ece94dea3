"""scenes.loader: real Habitat test files, habitat-sim's frame conventions, instance ids, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import trimesh

from scenes.habitat_config import StageConfig
from scenes.loader import instance_id_from_name, load
from scenes.types import SceneLoadError

ASSETS = Path(__file__).resolve().parents[1].parent / "shared" / "habitat-test-assets"
needs_assets = pytest.mark.skipif(
    not ASSETS.is_dir(), reason=f"Habitat test assets not found at {ASSETS} (shared/ beside the checkout)"
)
DATASET = ASSETS / "dataset_tests" / "dataset_0"


def _box_glb(path: Path, extents=(1.0, 2.0, 3.0), center=(0.0, 0.0, 0.0), name="box") -> Path:
    box = trimesh.creation.box(extents=extents)
    box.apply_translation(center)
    scene = trimesh.Scene()
    scene.add_geometry(box, node_name=name, geom_name=name)
    scene.export(str(path))
    return path


def _write_json(path: Path, d) -> Path:
    path.write_text(json.dumps(d))
    return path


# ---------------------------------------------------------------- real habitat-sim test files


@needs_assets
def test_simple_room_z_up_stage_becomes_y_up():
    raw = trimesh.load(str(ASSETS / "scenes" / "simple_room.glb"), force="scene").bounds
    assert raw[0, 2] == pytest.approx(-0.0614, abs=1e-3) and raw[1, 2] == pytest.approx(2.1535, abs=1e-3)
    scene = load(ASSETS / "scenes" / "simple_room.glb")  # picks up simple_room.stage_config.json
    lo, hi = scene.bounds
    # up [0,0,1], front [0,1,0]: file z -> world y, file y -> world -z, file x -> world x.
    np.testing.assert_allclose([lo[1], hi[1]], [raw[0, 2], raw[1, 2]], atol=1e-4)
    np.testing.assert_allclose([lo[2], hi[2]], [-raw[1, 1], -raw[0, 1]], atol=1e-4)
    np.testing.assert_allclose([lo[0], hi[0]], [raw[0, 0], raw[1, 0]], atol=1e-4)
    assert scene.scene_id == "simple_room" and scene.source.endswith("simple_room.stage_config.json")
    assert len(scene.meshes) == 7 and all(m.instance_id == 0 for m in scene.meshes)
    same = load(ASSETS / "scenes" / "simple_room.stage_config.json")
    np.testing.assert_allclose(same.bounds, scene.bounds)
    # PBR materials: baseColorFactor 0.8 grey becomes the vertex colour.
    tinted = [m for m in scene.meshes if m.colors is not None]
    assert tinted and all((m.colors[:, :3] == 204).all() for m in tinted)


@needs_assets
def test_bare_glb_without_config_uses_habitat_z_up_default(tmp_path):
    glb = tmp_path / "room.glb"
    glb.write_bytes((ASSETS / "scenes" / "simple_room.glb").read_bytes())
    scene = load(glb)
    np.testing.assert_allclose(scene.bounds, load(ASSETS / "scenes" / "simple_room.glb").bounds, atol=1e-5)


@needs_assets
def test_dataset_resolves_scene_instance_stage_and_regions():
    scene = load(DATASET / "test_dataset_0.scene_dataset_config.json", "dataset_test_scene")
    assert scene.scene_id == "dataset_test_scene"
    assert scene.source.endswith("dataset_test_scene.scene_instance.json")
    # template "modified_test_stage" = dataset_test_stage.stage_config.json (scale 2) with the
    # dataset's override scale [1,1,1]; Y up already. Stage instance translation is not applied.
    raw = trimesh.load(str(DATASET / "stages" / "dataset_test_stage.glb"), force="scene").bounds
    np.testing.assert_allclose(scene.bounds, raw, atol=1e-4)
    # Hexagon (-20,-10) (-25,0) (-20,10) (-10,10) (-5,0) (-10,-10): a 10 x 20 rectangle plus two
    # triangles of base 20 and height 5 -> 200 + 2 * 50 = 300 m^2; the other room is its mirror.
    rooms = {r.room_type: r for r in scene.rooms}
    assert sorted(rooms) == ["bathroom", "bedroom"] and scene.objects == []
    for room in rooms.values():
        assert room.area == pytest.approx(300.0)
        assert room.floor_height == -2.0 and room.height == 4.0
    assert rooms["bedroom"].center.tolist() == [-15.0, 0.0, 0.0]
    assert scene.room_at(20.0, 0.0).room_type == "bathroom"
    # The same scene from the folder and from the scene instance file itself.
    np.testing.assert_allclose(load(DATASET, "dataset_test_scene").bounds, scene.bounds)
    direct = load(DATASET / "scenes" / "dataset_test_scene.scene_instance.json")
    assert [r.room_type for r in direct.rooms] == [r.room_type for r in scene.rooms]


@needs_assets
def test_dataset_stage_templates_apply_scale_units_and_up():
    raw = trimesh.load(str(DATASET / "stages" / "dataset_test_stage.glb"), force="scene").bounds
    doubled = load(DATASET, "dataset_test_stage").bounds  # stage config scale [2,2,2]
    np.testing.assert_allclose(doubled, raw * 2, atol=1e-4)
    # "new_test_stage": up [0,-1,0] (front default [0,0,-1]) flips y; scale 2 x units_to_meters 2.
    flipped = load(DATASET, "new_test_stage").bounds
    expect = np.array([[raw[0, 0], -raw[1, 1], raw[0, 2]], [raw[1, 0], -raw[0, 1], raw[1, 2]]]) * 4
    np.testing.assert_allclose(flipped, expect, atol=1e-4)
    with pytest.raises(SceneLoadError, match="no scene instance or stage named 'nope'"):
        load(DATASET, "nope")


# ---------------------------------------------------------------- conventions on hand-built files


def test_rotation_maps_up_to_y_and_front_to_minus_z():
    for up, front in [((0, 0, 1), (0, 1, 0)), ((1, 0, 0), (0, 0, 1)), ((0, -1, 0), (0, 0, -1))]:
        r = StageConfig(Path("x.glb"), up=up, front=front).rotation()
        np.testing.assert_allclose(r @ up, [0, 1, 0], atol=1e-12)
        np.testing.assert_allclose(r @ front, [0, 0, -1], atol=1e-12)
        assert np.linalg.det(r) == pytest.approx(1.0)


def test_units_to_meters_and_scale(tmp_path):
    _box_glb(tmp_path / "box.glb", extents=(1.0, 2.0, 3.0), center=(1.0, 1.0, 1.5))
    cfg = _write_json(tmp_path / "big.stage_config.json", {
        "render_asset": "box.glb", "up": [0, 1, 0], "front": [0, 0, -1],
        "units_to_meters": 0.01, "scale": [200, 100, 50],
    })
    # box spans x [0.5, 1.5], y [0, 2], z [0, 3]; x0.01 units then per-axis scale.
    np.testing.assert_allclose(load(cfg).bounds, [[1.0, 0.0, 0.0], [3.0, 2.0, 1.5]], atol=1e-6)


def test_stage_config_without_up_defaults_to_y_up(tmp_path):
    _box_glb(tmp_path / "box.glb", extents=(1.0, 2.0, 3.0))
    cfg = _write_json(tmp_path / "plain.stage_config.json", {"render_asset": "box.glb"})
    np.testing.assert_allclose(load(cfg).bounds, [[-0.5, -1, -1.5], [0.5, 1, 1.5]], atol=1e-6)
    # The same glb on its own is habitat's Z-up Matterport default: file z (3 m) becomes height.
    np.testing.assert_allclose(load(tmp_path / "box.glb").bounds, [[-0.5, -1.5, -1], [0.5, 1.5, 1]], atol=1e-6)


def test_instance_ids_from_node_names(tmp_path):
    scene = trimesh.Scene()
    chair = trimesh.creation.box(extents=(0.5, 1.0, 0.5))
    chair.visual.vertex_colors = [200, 10, 10, 255]
    scene.add_geometry(chair, node_name="object_7_chair", geom_name="chair",
                       transform=trimesh.transformations.translation_matrix([2.0, 0.5, 0.0]))
    scene.add_geometry(trimesh.creation.box(extents=(4, 0.1, 4)), node_name="room_0_floor", geom_name="floor")
    _write_json(tmp_path / "apt.stage_config.json", {"render_asset": "apt.glb", "up": [0, 1, 0], "front": [0, 0, -1]})
    scene.export(str(tmp_path / "apt.glb"))
    parts = {m.name: m for m in load(tmp_path / "apt.glb").meshes}
    assert parts["object_7_chair"].instance_id == 7 and parts["room_0_floor"].instance_id == 0
    chair_part = parts["object_7_chair"]
    np.testing.assert_allclose(chair_part.vertices.min(0), [1.75, 0.0, -0.25], atol=1e-6)  # node transform
    assert (chair_part.colors == [200, 10, 10, 255]).all()
    assert chair_part.faces.dtype == np.uint32 and chair_part.normals.shape == chair_part.vertices.shape
    assert instance_id_from_name("object_12_dining_table") == 12
    assert instance_id_from_name("ceiling_3") == 0 and instance_id_from_name("object_x_") == 0


def test_mirroring_node_transform_keeps_faces_outward(tmp_path):
    scene = trimesh.Scene()
    mirror = np.diag([-1.0, 1.0, 1.0, 1.0])
    scene.add_geometry(trimesh.creation.box(), node_name="object_3_box", geom_name="b", transform=mirror)
    scene.export(str(tmp_path / "m.glb"))
    part = load(tmp_path / "m.glb").meshes[0]
    tri = part.vertices[part.faces.astype(int)]
    face_normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    outward = tri.mean(axis=1)  # a unit box centred at the origin: the centroid points outward
    assert (np.einsum("ij,ij->i", face_normals, outward) > 0).all()
    assert (np.einsum("ij,ij->i", part.normals, part.vertices) > 0).all()


def test_texture_and_uv_are_read(tmp_path):
    from PIL import Image

    box = trimesh.creation.box()
    img = np.zeros((4, 8, 3), np.uint8)
    img[:, :, 0] = 255
    material = trimesh.visual.material.PBRMaterial(baseColorTexture=Image.fromarray(img))
    box.visual = trimesh.visual.TextureVisuals(uv=np.full((len(box.vertices), 2), 0.5), material=material)
    scene = trimesh.Scene()
    scene.add_geometry(box, node_name="room_1_wall_0")
    scene.add_geometry(box.copy(), node_name="room_1_wall_1")
    scene.export(str(tmp_path / "tex.glb"))
    part, other = load(tmp_path / "tex.glb").meshes
    assert part.texture.shape == (4, 8, 3) and part.texture.dtype == np.uint8 and (part.texture[..., 0] == 255).all()
    assert part.uv.shape == (len(part.vertices), 2)
    assert other.texture is part.texture  # one image in the file -> one array, shared


def test_dataset_folder_scene_instance_with_vlm2_layout(tmp_path):
    """Our own layout: stage template 'stages/<id>', semantics resolved to semantics/<id>."""
    (tmp_path / "stages").mkdir()
    (tmp_path / "scenes").mkdir()
    (tmp_path / "semantics").mkdir()
    _box_glb(tmp_path / "stages" / "apt_train_00000.glb", extents=(4, 2.5, 3), center=(2, 1.25, 1.5))
    _write_json(tmp_path / "stages" / "apt_train_00000.stage_config.json",
                {"render_asset": "apt_train_00000.glb", "up": [0, 1, 0], "front": [0, 0, -1], "units_to_meters": 1.0})
    _write_json(tmp_path / "scenes" / "apt_train_00000.scene_instance.json",
                {"stage_instance": {"template_name": "stages/apt_train_00000"},
                 "semantic_scene_instance": "apt_train_00000", "object_instances": []})
    _write_json(tmp_path / "semantics" / "apt_train_00000.semantic_config.json", {"region_annotations": [
        {"name": "room_0", "label": "kitchen", "poly_loop": [[0, 0, 0], [4, 0, 0], [4, 0, 3], [0, 0, 3]],
         "floor_height": 0.0, "extrusion_height": 2.5}]})
    _write_json(tmp_path / "vlm2_apartments.scene_dataset_config.json", {
        "stages": {"paths": {".json": ["stages"]}}, "scene_instances": {"paths": {".json": ["scenes"]}},
        "semantic_scene_descriptor_instances": {"paths": {".json": ["semantics"]}}, "objects": {"paths": {}}})
    scene = load(tmp_path, "apt_train_00000")
    np.testing.assert_allclose(scene.bounds, [[0, 0, 0], [4, 2.5, 3]], atol=1e-6)
    assert [(r.room_type, r.area) for r in scene.rooms] == [("kitchen", 12.0)]
    with pytest.raises(SceneLoadError, match="scene_id is required"):
        _write_json(tmp_path / "scenes" / "b.scene_instance.json", {"stage_instance": {"template_name": "x"}})
        load(tmp_path)


def test_vlm2_annotations_give_objects_rooms_doorways(tmp_path):
    from scenes.annotations import annotations_to_dict
    from scenes.types import Doorway, OrientedBox, Room, Scene, SceneObject

    rooms = [Room(0, "bedroom", np.array([[0, 0], [4, 0], [4, 3], [0, 3]], float), 2.6),
             Room(1, "kitchen", np.array([[4, 0], [7, 0], [7, 3], [4, 3]], float), 2.6)]
    chair = SceneObject(7, "chair", OrientedBox(np.array([1.0, 0.45, 1.0]), np.array([0.5, 0.9, 0.5])), room_id=0)
    door = Doorway(0, 1, np.array([4.0, 1.5]), 0.9, "z")
    d = annotations_to_dict(Scene("apt_train_00007", [], [chair], rooms, [door]), seed=7, split="train")
    (tmp_path / "semantics").mkdir()
    _write_json(tmp_path / "semantics" / "apt_train_00007.semantic_config.json", d)
    _box_glb(tmp_path / "apt_train_00007.glb", extents=(7, 2.6, 3), center=(3.5, 1.3, 1.5))
    _write_json(tmp_path / "apt_train_00007.stage_config.json", {"render_asset": "apt_train_00007.glb"})
    inst = _write_json(tmp_path / "apt_train_00007.scene_instance.json", {
        "stage_instance": {"template_name": "apt_train_00007"}, "semantic_scene_instance": "apt_train_00007"})
    scene = load(inst)
    assert [(r.room_type, r.area) for r in scene.rooms] == [("bedroom", 12.0), ("kitchen", 9.0)]
    assert scene.object(7).category == "chair" and scene.object(7).room_id == 0
    np.testing.assert_allclose(scene.object(7).box.center, [1.0, 0.45, 1.0])
    assert len(scene.doorways) == 1 and scene.doorways[0].width == pytest.approx(0.9)


# ---------------------------------------------------------------- corrupt inputs


def _raises_naming(path: Path, match: str, scene_id: str | None = None) -> SceneLoadError:
    with pytest.raises(SceneLoadError, match=match) as info:
        load(path, scene_id)
    assert path.name in str(info.value)
    return info.value


def test_missing_and_empty_files(tmp_path):
    _raises_naming(tmp_path / "gone.glb", "file not found")
    (tmp_path / "empty.glb").write_bytes(b"")
    _raises_naming(tmp_path / "empty.glb", "empty file")
    (tmp_path / "empty.stage_config.json").write_text("")
    _raises_naming(tmp_path / "empty.stage_config.json", "empty file")
    _write_json(tmp_path / "dangling.stage_config.json", {"render_asset": "missing.glb"})
    with pytest.raises(SceneLoadError, match=r"missing\.glb: file not found"):
        load(tmp_path / "dangling.stage_config.json")


def test_truncated_and_foreign_glb(tmp_path):
    data = _box_glb(tmp_path / "ok.glb").read_bytes()
    (tmp_path / "cut.glb").write_bytes(data[: len(data) // 2])
    _raises_naming(tmp_path / "cut.glb", f"truncated glb: header says {len(data)} bytes, file has {len(data) // 2}")
    (tmp_path / "stub.glb").write_bytes(data[:7])
    _raises_naming(tmp_path / "stub.glb", "truncated glb")
    (tmp_path / "magic.glb").write_bytes(b"PK\x03\x04" + data[4:])
    _raises_naming(tmp_path / "magic.glb", "not a glb: magic bytes")
    (tmp_path / "v1.glb").write_bytes(data[:4] + (1).to_bytes(4, "little") + data[8:])
    _raises_naming(tmp_path / "v1.glb", "version 1, expected 2")
    # A well-formed container whose JSON chunk is garbage: trimesh's error is wrapped.
    body = b"{not json}  "
    header = b"glTF" + (2).to_bytes(4, "little") + (20 + len(body)).to_bytes(4, "little")
    (tmp_path / "junk.glb").write_bytes(header + len(body).to_bytes(4, "little") + b"JSON" + body)
    _raises_naming(tmp_path / "junk.glb", "cannot parse mesh file")


def test_invalid_json_and_wrong_field_types(tmp_path):
    _box_glb(tmp_path / "box.glb")
    (tmp_path / "bad.stage_config.json").write_text('{\n  "render_asset": "box.glb",\n    "up": [0, 1, 0\n}')
    _raises_naming(tmp_path / "bad.stage_config.json", "not valid JSON at line 4 column 1")
    cases = {
        "up_str": ({"render_asset": "box.glb", "up": "x"}, "field 'up': expected 3 numbers, got 'x'"),
        "scale_len": ({"render_asset": "box.glb", "scale": [1, 2]}, "field 'scale': expected 3 numbers"),
        "units": ({"render_asset": "box.glb", "units_to_meters": "cm"}, "field 'units_to_meters': expected a number"),
        "units_neg": ({"render_asset": "box.glb", "units_to_meters": -1}, "expected a positive number"),
        "asset": ({"render_asset": 3}, "field 'render_asset': expected a non-empty string, got 3"),
        "no_asset": ({"up": [0, 1, 0]}, "field 'render_asset': missing"),
        "skew": ({"render_asset": "box.glb", "up": [0, 1, 0], "front": [0, 1, 1]}, "expected orthogonal"),
        "list": ([1, 2], "expected a JSON object"),
    }
    for stem, (content, match) in cases.items():
        _raises_naming(_write_json(tmp_path / f"{stem}.stage_config.json", content), match)
    inst = _write_json(tmp_path / "s.scene_instance.json", {"stage_instance": {"template_name": 5}})
    _raises_naming(inst, "field 'stage_instance.template_name': expected a non-empty string")
    inst = _write_json(tmp_path / "t.scene_instance.json", {"stage_instance": {"template_name": "nowhere"}})
    _raises_naming(inst, "no stage named 'nowhere'")
    ds = _write_json(tmp_path / "d.scene_dataset_config.json", {"scene_instances": {"paths": {".json": [7]}}})
    _raises_naming(ds, r"field 'scene_instances.paths.json\[0\]': expected a path string", scene_id="a")


def test_malformed_semantic_config_names_the_file(tmp_path):
    (tmp_path / "semantics").mkdir()
    _box_glb(tmp_path / "box.glb")
    _write_json(tmp_path / "box.stage_config.json", {"render_asset": "box.glb"})
    _write_json(tmp_path / "semantics" / "s.semantic_config.json", {"region_annotations": [{"poly_loop": "square"}]})
    inst = _write_json(tmp_path / "s.scene_instance.json",
                       {"stage_instance": {"template_name": "box"}, "semantic_scene_instance": "s"})
    with pytest.raises(SceneLoadError, match=r"s\.semantic_config\.json: field region_annotations\[0\]\.poly_loop"):
        load(inst)
    absent = _write_json(tmp_path / "a.scene_instance.json",
                         {"stage_instance": {"template_name": "box"}, "semantic_scene_instance": "absent"})
    with pytest.warns(UserWarning, match="semantic scene 'absent' not found"):
        assert load(absent).rooms == []
    with pytest.raises(SceneLoadError, match="unsupported file type"):
        load(_write_json(tmp_path / "x.json", {}))


@needs_assets
def test_partial_stage_handle_resolves_as_habitat_sim():
    # dataset_1's scene instances name "modified_test_stage", which only the templates
    # "modified_test_stage_0" / "_1" contain: habitat-sim takes the first in sorted order.
    ds = ASSETS / "dataset_tests" / "dataset_1"
    with pytest.warns(UserWarning, match="matches \\['modified_test_stage_0', 'modified_test_stage_1'\\]"):
        scene = load(ds, "dataset_test_scene_0")
    stage0 = load(ds, "modified_test_stage_0")
    np.testing.assert_allclose(scene.bounds, stage0.bounds, atol=1e-6)
    assert not np.allclose(stage0.bounds, load(ds, "new_test_stage").bounds)


@pytest.mark.parametrize("edit, match", [
    (lambda d: d["ds"].update({"stages": {"paths": {".json": ["../outside_stages"]}}}),
     r"field 'stages.paths.json\[0\]': '../outside_stages' leaves the dataset folder"),
    (lambda d: d["stage"].update({"render_asset": "../../../../../../etc/hostname"}),
     r"field 'render_asset': '../../../../../../etc/hostname' leaves the dataset folder"),
    (lambda d: d["stage"].update({"render_asset": "/etc/hostname"}), r"'/etc/hostname' leaves the dataset folder"),
    (lambda d: d["inst"].update({"semantic_scene_instance": "../../secret"}),
     r"field 'semantic_scene_instance': '../../secret' leaves the dataset folder"),
])
def test_dataset_paths_that_leave_the_dataset_are_refused(tmp_path, edit, match):
    root = tmp_path / "ds"
    (root / "stages").mkdir(parents=True)
    (root / "scenes").mkdir()
    _box_glb(root / "stages" / "room.glb")
    docs = {"ds": {"stages": {"paths": {".json": ["stages"]}}, "scene_instances": {"paths": {".json": ["scenes"]}}},
            "stage": {"render_asset": "room.glb", "up": [0, 1, 0], "front": [0, 0, -1]},
            "inst": {"stage_instance": {"template_name": "room"}}}
    edit(docs)
    _write_json(root / "ds.scene_dataset_config.json", docs["ds"])
    _write_json(root / "stages" / "room.stage_config.json", docs["stage"])
    _write_json(root / "scenes" / "s.scene_instance.json", docs["inst"])
    with pytest.raises(SceneLoadError, match=match):
        load(root, "s")


def test_scene_name_must_stay_below_the_root(tmp_path):
    from scenes.writer import write_dataset

    with pytest.raises(ValueError, match=r"scene.name='../../escape': expected a plain folder name"):
        write_dataset(tmp_path / "root", {"test": 1}, name="../../escape", write_maps=False, progress=False)
    assert not (tmp_path / "escape").exists() and not (tmp_path.parent / "escape").exists()


def test_room_indices_at_agrees_with_a_point_by_point_polygon_test():
    from shapely.geometry import Point, Polygon

    from scenes.generator import generate_scene

    scene = generate_scene(seed=3)
    rng = np.random.default_rng(0)
    lo, hi = scene.bounds
    points = rng.uniform(lo - 0.5, hi + 0.5, (400, 3))
    got = scene.room_indices_at(points)
    want = [next((k for k, r in enumerate(scene.rooms) if Polygon(r.polygon).covers(Point(p[0], p[2]))), -1)
            for p in points]
    assert got.tolist() == want and (got >= 0).sum() > 100 and (got == -1).sum() > 10
