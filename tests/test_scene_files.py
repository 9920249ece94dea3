"""Files on disk: Habitat layout, glb round trip (node names, colours, UVs), annotation schema round
trip and errors, byte determinism, the build cache and the Hydra entry point."""

from __future__ import annotations

import copy
import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest
import trimesh

from scenes.annotations import annotations_from_dict, annotations_to_dict
from scenes.generator import generate_scene
from scenes.types import OrientedBox, Room, Scene, SceneLoadError, SceneObject
from scenes.writer import write_dataset, write_scene


def digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and ".build" not in p.parts}


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("ds")
    scene = generate_scene(9, num_rooms=4)
    paths = write_scene(scene, out, seed=9, split="train")
    return scene, paths, out


def test_layout_and_configs(written):
    scene, paths, out = written
    sid = scene.scene_id
    assert paths["glb"] == out / "stages" / f"{sid}.glb" and paths["map"].stat().st_size > 1000
    stage = json.loads(paths["stage_config"].read_text())
    assert stage["render_asset"] == f"{sid}.glb" and stage["up"] == [0, 1, 0] and stage["front"] == [0, 0, -1]
    inst = json.loads(paths["scene_instance"].read_text())
    assert inst["stage_instance"]["template_name"] == f"stages/{sid}"


def test_semantic_mesh_carries_each_part_s_instance_id(written):
    """The PLY habitat-sim reads ids from, parsed by trimesh: every vertex of every part, in
    habitat-sim's Z-up semantic frame, with the part's instance id and one colour per id."""
    scene, paths, _ = written
    assert json.loads(paths["stage_config"].read_text())["semantic_asset"] == paths["semantic_mesh"].name
    ply = trimesh.load(paths["semantic_mesh"], file_type="ply", process=False)
    raw = ply.metadata["_ply_raw"]["vertex"]["data"]
    world = np.concatenate([m.vertices for m in scene.meshes])
    np.testing.assert_allclose(ply.vertices, np.column_stack([world[:, 0], -world[:, 2], world[:, 1]]), atol=1e-6)
    ids = np.concatenate([np.full(len(m.vertices), m.instance_id) for m in scene.meshes])
    assert np.array_equal(raw["object_id"], ids)
    assert len(ply.faces) == sum(len(m.faces) for m in scene.meshes)
    colours = {tuple(c) for c in np.column_stack([raw["red"], raw["green"], raw["blue"]])}
    assert len(colours) == len(np.unique(ids))  # one colour per id: habitat-sim maps between the two


def test_glb_round_trip_keeps_ids_colours_and_uvs(written):
    scene, paths, _ = written
    tm = trimesh.load(paths["glb"], file_type="glb")
    names = set(tm.graph.nodes_geometry)
    ids = {}
    for name in names:
        m = re.match(r"^object_(\d+)_(.+)$", name)
        if m:
            ids[int(m.group(1))] = m.group(2)
    assert ids == {o.instance_id: o.category for o in scene.objects}
    assert {f"room_{i}_floor" for i in range(len(scene.rooms))} <= names
    part = next(m for m in scene.meshes if m.name.startswith("object_"))
    g = tm.geometry[part.name]
    assert g.visual.kind == "vertex" and np.array_equal(g.visual.vertex_colors, part.colors)
    assert np.allclose(g.vertices, part.vertices, atol=1e-6)
    floor = tm.geometry["room_0_floor"]
    src = next(m for m in scene.meshes if m.name == "room_0_floor")
    assert np.allclose(floor.visual.uv, src.uv, atol=1e-5)
    assert np.array_equal(np.asarray(floor.visual.material.baseColorTexture.convert("RGB")), src.texture)
    assert sum(len(g.faces) for g in tm.geometry.values()) == scene.num_triangles


def test_annotations_round_trip(written):
    scene, paths, _ = written
    d = json.loads(paths["semantic_config"].read_text())
    objects, rooms, doorways = annotations_from_dict(d, paths["semantic_config"])
    assert [(o.instance_id, o.category, o.room_id) for o in objects] == \
        [(o.instance_id, o.category, o.room_id) for o in scene.objects]
    for a, b in zip(objects, scene.objects):
        assert np.allclose(a.box.center, b.box.center, atol=1e-4)
        assert np.allclose(a.box.axis_lengths, b.box.axis_lengths, atol=1e-4)
        assert np.allclose(a.box.rotation, b.box.rotation, atol=1e-6)
    assert [(r.room_id, r.room_type) for r in rooms] == [(r.room_id, r.room_type) for r in scene.rooms]
    assert [r.area for r in rooms] == pytest.approx([r.area for r in scene.rooms], abs=1e-3)
    assert len(doorways) == len(scene.doorways)
    assert [r["label"] for r in d["region_annotations"]] == [r.room_type for r in scene.rooms]


def test_meta_info_on_a_hand_built_scene():
    rooms = [Room(0, "kitchen", np.array([[0, 0], [3, 0], [3, 2], [0, 2]], float), 2.5),
             Room(1, "bathroom", np.array([[3, 0], [5, 0], [5, 2], [3, 2]], float), 2.5)]
    rot = np.array([[0, 0, 1], [0, 1, 0], [-1, 0, 0]], float)
    objs = [SceneObject(1, "chair", OrientedBox(np.array([1.0, 0.45, 1.0]), np.array([0.4, 0.9, 0.5]), rot), 0),
            SceneObject(2, "chair", OrientedBox(np.array([2.0, 0.45, 1.0]), np.array([0.4, 0.9, 0.5])), 0),
            SceneObject(3, "toilet", OrientedBox(np.array([4.0, 0.4, 1.0]), np.array([0.4, 0.8, 0.7])), 1)]
    meta = annotations_to_dict(Scene("apt_train_00000", [], objs, rooms), 0, "train")["vlm2_annotations"]["meta_info"]
    assert meta["room_size"] == 10.0  # 3x2 + 2x2
    assert meta["room_center"] == [2.5, 1.25, 1.0]
    assert meta["object_counts"] == {"chair": 2, "toilet": 1}
    assert meta["object_bbox"]["chair"][0]["normalizedAxes"] == [0, 0, 1, 0, 1, 0, -1, 0, 0]
    assert meta["object_bbox"]["chair"][0]["axesLengths"] == [0.4, 0.9, 0.5]


@pytest.mark.parametrize("mutate, field", [
    (lambda a: a["objects"][0].pop("category"), "objects[0].category"),
    (lambda a: a["objects"][0].__setitem__("center", [1, 2]), "objects[0].center"),
    (lambda a: a["objects"][0].__setitem__("rotation", [[2, 0, 0], [0, 1, 0], [0, 0, 1]]), "objects[0].rotation"),
    (lambda a: a["objects"][1].__setitem__("instance_id", a["objects"][0]["instance_id"]), "instance_id"),
    (lambda a: a["rooms"][0].__setitem__("height", "tall"), "rooms[0].height"),
    (lambda a: a["doorways"][0].__setitem__("axis", "y"), "doorways[0].axis"),
    (lambda a: a.__setitem__("format_version", 99), "format_version"),
])
def test_malformed_annotations_name_the_field(written, mutate, field):
    scene, paths, _ = written
    d = copy.deepcopy(json.loads(paths["semantic_config"].read_text()))
    mutate(d["vlm2_annotations"])
    with pytest.raises(SceneLoadError, match=re.escape(field)) as e:
        annotations_from_dict(d, paths["semantic_config"])
    assert str(paths["semantic_config"]) in str(e.value)


def test_regions_only_file_gives_rooms(written):
    _, paths, _ = written
    d = json.loads(paths["semantic_config"].read_text())
    del d["vlm2_annotations"]
    objects, rooms, doorways = annotations_from_dict(d, "x.json")
    assert objects == [] and doorways == [] and rooms[0].polygon.shape[1] == 2


def test_dataset_is_byte_deterministic_and_cached(tmp_path):
    counts = {"train": 2, "val": 1}
    a = write_dataset(tmp_path / "a", counts, num_rooms=3, progress=False)
    b = write_dataset(tmp_path / "b", counts, num_rooms=3, progress=False)
    da, db = digest(a["dataset_dir"]), digest(b["dataset_dir"])
    assert da == db and any(k.endswith(".glb") for k in da) and any(k.endswith(".png") for k in da)
    splits = json.loads((a["dataset_dir"] / "splits.json").read_text())
    assert splits == {"train": ["apt_train_00000", "apt_train_00001"], "val": ["apt_val_100000"]}
    again = write_dataset(tmp_path / "a", counts, num_rooms=3, progress=False)
    assert (again["built"], again["cached"]) == (0, 3)
    (a["dataset_dir"] / "stages" / "apt_val_100000.glb").write_bytes(b"broken")
    fixed = write_dataset(tmp_path / "a", counts, num_rooms=3, progress=False)
    assert (fixed["built"], fixed["cached"]) == (1, 2) and digest(a["dataset_dir"]) == da


def test_cli_build_with_hydra_config(tmp_path):
    from hydra import compose, initialize_config_module

    from vlm2_agent.cli.scenes import build

    with initialize_config_module(config_module="configs", version_base="1.3"):
        cfg = compose("scenes", overrides=[f"scene.root={tmp_path}", "scene.splits=[test]",
                                           "scene.num_scenes.test=1", "scene.maps=false", "logger=none"])
    summary = build(cfg, progress=False)
    d = tmp_path / "vlm2_apartments"
    assert summary["splits"] == {"test": ["apt_test_110000"]}
    assert (d / "vlm2_apartments.scene_dataset_config.json").exists()
    assert (d / "semantics" / "apt_test_110000.semantic_config.json").exists()
    assert not (d / "maps").exists()


def test_writing_one_split_keeps_the_others_in_the_index(tmp_path):
    from scenes.writer import write_dataset

    write_dataset(tmp_path, {"train": 1, "test": 1}, write_maps=False, progress=False)
    write_dataset(tmp_path, {"val": 1}, write_maps=False, progress=False)  # as `vlm2-scenes scene.splits=[val]`
    index = json.loads((tmp_path / "vlm2_apartments" / "splits.json").read_text())
    assert index == {"train": ["apt_train_00000"], "test": ["apt_test_110000"], "val": ["apt_val_100000"]}
