"""Every loaded scene is checked (scenes.validate), and annotations move with the stage's frame."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from scenes.loader import load
from scenes.types import SceneLoadError


@pytest.fixture(scope="module")
def apartment(tmp_path_factory) -> Path:
    from scenes.writer import write_dataset

    root = tmp_path_factory.mktemp("scenes")
    write_dataset(root, {"test": 1}, num_rooms=3, write_maps=False, progress=False)
    return root / "vlm2_apartments"


def _copy(apartment: Path, tmp_path: Path) -> Path:
    import shutil

    return Path(shutil.copytree(apartment, tmp_path / "ds"))


def _edit(path: Path, edit) -> None:
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))


SID = "apt_test_110000"


def _objects_lie_in_their_meshes(scene) -> None:
    """Each annotated box, as loaded, covers the glb node of the same instance id (the independent
    check: the node's vertices went through the loader's geometry path, the box through the
    annotations' path)."""
    assert scene.objects
    for obj in scene.objects:
        verts = np.concatenate([m.vertices for m in scene.meshes if m.instance_id == obj.instance_id])
        local = (verts - obj.box.center) @ obj.box.rotation  # box coordinates
        assert np.all(np.abs(local) <= obj.box.axis_lengths / 2 + 0.02), obj
        room = next(r for r in scene.rooms if r.room_id == obj.room_id)
        assert room.floor_height - 0.05 <= verts[:, 1].min() <= verts[:, 1].max() <= room.floor_height + room.height


def test_the_written_apartment_passes_and_its_boxes_match_their_meshes(apartment):
    _objects_lie_in_their_meshes(load(apartment, SID))


@pytest.mark.parametrize("frame", [{"up": [0, -1, 0]}, {"scale": [-1, 1, 1]}, {"scale": [2, 0.5, 1]},
                                   {"front": [1, 0, 0]}, {"units_to_meters": 0.01}])
def test_annotations_move_with_the_stage_frame(apartment, tmp_path, frame):
    ds = _copy(apartment, tmp_path)
    _edit(ds / "stages" / f"{SID}.stage_config.json", lambda d: d.update(frame))
    scene = load(ds, SID)
    _objects_lie_in_their_meshes(scene)
    reference = load(apartment, SID)
    ratio = sum(r.area for r in scene.rooms) / sum(r.area for r in reference.rooms)
    sx, sy, sz = np.abs(np.asarray(frame.get("scale", [1, 1, 1]), float)) * frame.get("units_to_meters", 1.0)
    assert ratio == pytest.approx(sx * sz, rel=1e-6)


def test_a_stage_turned_on_its_side_is_refused(apartment, tmp_path):
    ds = _copy(apartment, tmp_path)
    stage = ds / "stages" / f"{SID}.stage_config.json"
    _edit(stage, lambda d: d.update({"up": [0, 0, 1]}))  # the written front is [0, 0, -1]
    with pytest.raises(SceneLoadError, match=r"stage_config.json: fields 'up' .* expected orthogonal vectors"):
        load(ds, SID)
    _edit(stage, lambda d: d.update({"front": [0, 1, 0]}))  # habitat-sim's Z-up frame, for a Y-up asset
    with pytest.raises(SceneLoadError, match=r"semantic_config.json: the stage's up / front turn the annotations' "
                                             r"vertical axis"):
        load(ds, SID)


def _objects(d):
    return d["vlm2_annotations"]["objects"]


@pytest.mark.parametrize("edit, match", [
    (lambda d: _objects(d)[0].update({"center": [1e300, 0.5, 1.0]}), r"object 1 .* not a finite coordinate"),
    (lambda d: _objects(d)[0].update({"center": [700.0, 0.5, 1.0]}), r"object 1 .* m outside its room"),
    (lambda d: d["vlm2_annotations"]["rooms"][0].update({"polygon": [[0, 0], [1, 1], [2, 2]]}),
     r"room 0 .* floor polygon has no area"),
])
def test_bad_annotation_values_are_refused_naming_the_file(apartment, tmp_path, edit, match):
    ds = _copy(apartment, tmp_path)
    sem = ds / "semantics" / f"{SID}.semantic_config.json"
    _edit(sem, edit)
    with pytest.raises(SceneLoadError, match=match) as info:
        load(ds, SID)
    assert sem.name in str(info.value)


def test_nan_vertices_are_refused(tmp_path):
    import trimesh

    box = trimesh.creation.box()
    box.vertices[0] = [np.nan, 0, 0]
    glb = tmp_path / "nan.glb"
    box.export(str(glb))
    with pytest.raises(SceneLoadError, match=r"nan.glb: mesh .* vertices are not finite"):
        load(glb)


def test_a_dataset_path_that_matches_nothing_warns(apartment, tmp_path):
    ds = _copy(apartment, tmp_path)
    _edit(ds / "vlm2_apartments.scene_dataset_config.json",
          lambda d: d["scene_instances"].update({"paths": {".json": ["nope/*.json"]}}))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load(ds, SID)  # the stage of that name still loads, without its objects
    assert any("'nope/*.json' names no *.scene_instance.json file" in str(w.message) for w in caught)
