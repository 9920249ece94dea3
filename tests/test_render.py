"""Renderer and simulator behaviour on hand-built scenes with known answers."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from envs import SensorSpec, Simulator, SimulatorConfig, camera_to_world, heading_to_quaternion
from envs.pose import forward_vector, quaternion_to_heading, yaw_matrix
from envs.render.camera import backproject, intrinsics, project
from envs.render.gl_backend import GLBackend
from scenes.types import BACKGROUND_ID, MeshPart, Scene

BOX_CENTER = np.array([0.0, 0.5, -3.0])  # unit box on the floor, 3 m ahead of the origin
SIDE_CENTER = np.array([-3.0, 0.5, 0.0])  # unit box 3 m to the left (along -X)
WALL_Z = -8.0
RED, BLUE = (220, 30, 30, 255), (30, 30, 220, 255)


def box_part(name: str, center, size, color, instance_id: int) -> MeshPart:
    """Axis-aligned box, 24 vertices so each face has its own flat normal."""
    c, h = np.asarray(center, float), np.asarray(size, float) / 2
    verts, normals, faces = [], [], []
    for axis in range(3):
        for sign in (-1.0, 1.0):
            n = np.zeros(3)
            n[axis] = sign
            u, v = [a for a in range(3) if a != axis]
            quad = []
            for su, sv in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
                p = c.copy()
                p[axis] += sign * h[axis]
                p[u] += su * h[u]
                p[v] += sv * h[v]
                quad.append(p)
            k = len(verts)
            verts += quad
            normals += [n] * 4
            faces += [[k, k + 1, k + 2], [k, k + 2, k + 3]]
    nv = len(verts)
    return MeshPart(
        name,
        np.array(verts, np.float32),
        np.array(faces, np.uint32),
        normals=np.array(normals, np.float32),
        colors=np.tile(np.array(color, np.uint8), (nv, 1)),
        instance_id=instance_id,
    )


def floor_part(half: float = 10.0, cells: int = 40) -> MeshPart:
    """A subdivided floor at y = 0 (3,200 triangles, enough to be cut into culling chunks)."""
    g = np.linspace(-half, half, cells + 1)
    x, z = np.meshgrid(g, g)
    verts = np.stack([x.ravel(), np.zeros(x.size), z.ravel()], 1).astype(np.float32)
    i = np.arange(cells)[:, None] * (cells + 1) + np.arange(cells)[None, :]
    a, b, c, d = i, i + 1, i + cells + 2, i + cells + 1
    faces = np.concatenate([np.stack([a, b, c], -1), np.stack([a, c, d], -1)]).reshape(-1, 3).astype(np.uint32)
    normals = np.tile(np.array([0, 1, 0], np.float32), (len(verts), 1))
    return MeshPart("floor", verts, faces, normals=normals)


def wall_part(texture: np.ndarray | None = None) -> MeshPart:
    """A 20 m x 3 m wall facing +Z at z = WALL_Z; uv origin at the lower-left, as trimesh loads it."""
    verts = np.array([[-10, 0, WALL_Z], [10, 0, WALL_Z], [10, 3, WALL_Z], [-10, 3, WALL_Z]], np.float32)
    uv = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float32)
    return MeshPart("wall", verts, np.array([[0, 1, 2], [0, 2, 3]], np.uint32), uv=uv, texture=texture)


def scene(texture: np.ndarray | None = None) -> Scene:
    parts = [
        floor_part(),
        wall_part(texture),
        box_part("box", BOX_CENTER, (1, 1, 1), RED, 5),
        box_part("side", SIDE_CENTER, (1, 1, 1), BLUE, 6),
    ]
    return Scene("hand_built", parts)


@pytest.fixture(scope="module")
def sim():
    with Simulator(scene(), SimulatorConfig(resolution=(96, 128))) as s:
        yield s


def pixel_of(sim: Simulator, point, sensor: str = "semantic") -> tuple[int, int]:
    uv, _ = project(sim.intrinsics(sensor), sim.camera_to_world(sensor), np.asarray([point], float))
    return int(uv[0, 1]), int(uv[0, 0])  # (row, col)


def test_observation_contract(sim):
    sim.set_agent_state([0, 0, 0], 0.0)
    obs = sim.get_observations()
    assert obs["rgb"].shape == (96, 128, 3) and obs["rgb"].dtype == np.uint8
    assert obs["depth"].shape == (96, 128) and obs["depth"].dtype == np.float32
    assert obs["semantic"].shape == (96, 128) and obs["semantic"].dtype == np.int32
    assert obs["pose"].dtype == np.float32 and obs["pose"].tolist() == [0, 0, 0, 0]


def test_box_at_projected_pixel_with_exact_depth(sim):
    sim.set_agent_state([0, 0, 0], 0.0)
    obs = sim.get_observations()
    r, c = pixel_of(sim, BOX_CENTER)
    assert obs["semantic"][r, c] == 5
    front = BOX_CENTER + [0, 0, 0.5]
    r, c = pixel_of(sim, front)
    # Camera at z = 0 looking along -Z; the front face is the plane z = -2.5: z-depth 2.5 m everywhere on it.
    assert obs["depth"][r, c] == pytest.approx(2.5, abs=0.01)
    box_depths = obs["depth"][obs["semantic"] == 5]
    assert box_depths.min() == pytest.approx(2.5, abs=0.01)


def test_semantic_ids_and_background(sim):
    sim.set_agent_state([0, 0, 0], 0.0)
    obs = sim.get_observations()
    assert set(np.unique(obs["semantic"]).tolist()) == {BACKGROUND_ID, 5}
    # Above the wall (3 m tall, 8 m away) there is nothing: depth 0, id 0, black.
    assert (obs["depth"][0] == 0).all() and (obs["semantic"][0] == 0).all() and (obs["rgb"][0] == 0).all()
    assert (obs["depth"][obs["semantic"] == 5] > 0).all()


def test_backprojected_depth_lies_on_the_analytic_surfaces(sim):
    sim.set_agent_state([0.3, 0, 0.5], 0.2)
    obs = sim.get_observations()
    pts = backproject(obs["depth"], sim.intrinsics("depth"), sim.camera_to_world("depth"))
    hit = obs["depth"] > 0
    box = hit & (obs["semantic"] == 5)
    assert box.sum() > 50
    # On a unit box's surface the Chebyshev distance to its centre is exactly 0.5.
    cheb = np.abs(pts[box] - BOX_CENTER).max(axis=1)
    assert np.abs(cheb - 0.5).max() < 0.01
    rest = pts[hit & (obs["semantic"] == 0)]
    on_floor = np.abs(rest[:, 1]) < 0.01
    on_wall = np.abs(rest[:, 2] - WALL_Z) < 0.01
    assert on_floor.any() and on_wall.any() and (on_floor | on_wall).all()


def test_lit_red_box_is_red(sim):
    sim.set_agent_state([0, 0, 0], 0.0)
    rgb = sim.get_observations()["rgb"].astype(int)
    r, c = pixel_of(sim, BOX_CENTER)
    red, green, blue = rgb[r, c]
    assert red > 2 * green and red > 2 * blue and red > 60


def test_heading_turns_left(sim):
    # Positive heading is counter-clockwise seen from above: +90 degrees looks along -X.
    sim.set_agent_state([0, 0, 0], np.pi / 2)
    obs = sim.get_observations()
    r, c = pixel_of(sim, SIDE_CENTER)
    assert abs(c - 64) <= 1  # straight ahead
    assert obs["semantic"][r, c] == 6
    assert 5 not in obs["semantic"]
    assert obs["depth"][r, c] == pytest.approx(2.5, abs=0.01)


def _digest(obs: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for k in sorted(obs):
        h.update(k.encode() + obs[k].tobytes())
    return h.hexdigest()


def test_same_state_same_observations(sim):
    sim.set_agent_state([0.5, 0, 1.0], -0.4)
    first = _digest(sim.get_observations())
    sim.set_agent_state([-1.0, 0, -1.0], 2.0)
    sim.get_observations()
    sim.set_agent_state([0.5, 0, 1.0], -0.4)
    assert _digest(sim.get_observations()) == first


def test_simulators_of_two_scenes_in_one_process_render_their_own_scene():
    # Each Simulator owns an EGL context; rendering one after another must not draw into the other's.
    config = SimulatorConfig(resolution=(48, 64))
    other = Scene("other", [floor_part(), box_part("green", BOX_CENTER, (1, 1, 1), (0, 200, 0, 255), 9)])
    with Simulator(scene(), config) as a, Simulator(other, config) as b:
        first = _digest(a.get_observations())
        assert 9 in b.get_observations()["semantic"]
        again = a.get_observations()
        assert _digest(again) == first and 9 not in again["semantic"]


def test_sensors_at_two_heights_differ_as_projected():
    sensors = [SensorSpec("low", "semantic", (96, 128), 90, (0, 0.5, 0)), SensorSpec("high", "semantic", (96, 128), 90, (0, 1.6, 0))]
    with Simulator(scene(), SimulatorConfig(sensors=sensors)) as s:
        s.set_agent_state([0, 0, 0], 0.0)
        obs = s.get_observations()
        assert not np.array_equal(obs["low"], obs["high"])
        # The box centre (y = 0.5) sits on the horizon row for the 0.5 m sensor only.
        assert pixel_of(s, BOX_CENTER, "low")[0] == 48
        for uuid in ("low", "high"):
            assert obs[uuid][pixel_of(s, BOX_CENTER, uuid)] == 5
        rows_low = np.flatnonzero((obs["low"] == 5).any(1))
        rows_high = np.flatnonzero((obs["high"] == 5).any(1))
        assert rows_high.mean() > rows_low.mean()  # seen from higher up the box is lower in the image


def test_mixed_resolutions_and_fov_in_one_call():
    sensors = [
        SensorSpec("rgb", "rgb", (32, 48), 90),
        SensorSpec("depth_wide", "depth", (64, 64), 120),
        SensorSpec("depth", "depth", (32, 48), 90),
    ]
    with Simulator(scene(), SimulatorConfig(sensors=sensors)) as s:
        obs = s.get_observations()
        assert obs["rgb"].shape == (32, 48, 3) and obs["depth_wide"].shape == (64, 64)
        for uuid in ("depth", "depth_wide"):
            r, c = pixel_of(s, BOX_CENTER + [0, 0, 0.5], uuid)
            assert obs[uuid][r, c] == pytest.approx(2.5, abs=0.01)


def test_frustum_culling_changes_work_not_pixels():
    sc = scene()
    c2w = camera_to_world([0, 0, 0], np.pi, (0, 1.25, 0))  # looking along +Z, away from both boxes
    spec = [SensorSpec("rgb", "rgb", (64, 64)), SensorSpec("semantic", "semantic", (64, 64)), SensorSpec("depth", "depth", (64, 64))]
    with GLBackend(sc) as culled, GLBackend(sc, frustum_culling=False) as full:
        a, b = culled.render(c2w, spec), full.render(c2w, spec)
        assert culled.stats.triangles < full.stats.triangles == sc.num_triangles
        assert culled.stats.culled_draws > 2  # the far wall, both boxes and floor chunks behind
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])


def closed_box(name: str, lo, hi, instance_id: int = 0) -> MeshPart:
    """An outward-wound closed box (trimesh's winding) from corner ``lo`` to corner ``hi``."""
    import trimesh

    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    m = trimesh.creation.box(extents=hi - lo)
    m.apply_translation((lo + hi) / 2)
    return MeshPart(name, np.asarray(m.vertices, np.float32), np.asarray(m.faces, np.uint32), instance_id=instance_id)


def two_rooms() -> Scene:
    """Rooms 0 (x in [0, 4]) and 1 (x in [4, 8]), z in [0, 4], a wall at x = 4 with a 1 m door at z = 2,
    and a box (id 9) in room 1 that the wall hides from most of room 0."""
    from scenes.types import Doorway, Room

    def floor(x0, x1):
        v = np.array([[x0, 0, 0], [x1, 0, 0], [x1, 0, 4], [x0, 0, 4]], np.float32)
        return MeshPart(f"floor_{x0}", v, np.array([[0, 1, 2], [0, 2, 3]], np.uint32))

    parts = [floor(0, 4), floor(4, 8), closed_box("wall_a", (3.95, 0, 0), (4.05, 2.5, 1.5)),
             closed_box("wall_b", (3.95, 0, 2.5), (4.05, 2.5, 4)), closed_box("box", (6.5, 0, 0.3), (7.5, 1, 1.3), 9)]
    rooms = [Room(i, "room", np.array([[4 * i, 0], [4 * i + 4, 0], [4 * i + 4, 4], [4 * i, 4]], float), 2.5) for i in (0, 1)]
    return Scene("two_rooms", parts, rooms=rooms, doorways=[Doorway(0, 1, np.array([4.0, 2.0]), 1.0, "z")])


def test_closed_outward_parts_are_the_only_back_face_culled_ones():
    import trimesh

    from envs.render.geometry import closed_outward

    box = trimesh.creation.box()
    two = trimesh.util.concatenate([box, box.copy().apply_translation((1, 0, 0))])  # touching along a face
    assert closed_outward(box.vertices, box.faces) and closed_outward(two.vertices, two.faces)
    assert not closed_outward(box.vertices, box.faces[:, ::-1])  # wound inwards
    assert not closed_outward(box.vertices, box.faces[:-2])  # one side open
    quad = np.array([[0, 0, 0], [1, 0, 0], [1, 0, 1], [0, 0, 1]], float)
    assert not closed_outward(quad, np.array([[0, 1, 2], [0, 2, 3]]))


def test_room_and_back_face_culling_change_work_not_pixels():
    sc = two_rooms()
    spec = [SensorSpec("rgb", "rgb", (48, 64)), SensorSpec("semantic", "semantic", (48, 64)), SensorSpec("depth", "depth", (48, 64))]
    through_door = camera_to_world([2, 0, 2], -np.pi / 2, (0, 1.25, 0))  # room 0, looking +x at the door
    at_wall = camera_to_world([3.5, 0, 0.4], -np.pi / 2, (0, 1.25, 0))  # box ahead, behind the wall; door out of view
    with GLBackend(sc) as fast, GLBackend(sc, room_culling=False, backface_culling=False) as plain:
        for c2w in (through_door, at_wall):
            a, b = fast.render(c2w, spec), plain.render(c2w, spec)
            for k in a:
                np.testing.assert_array_equal(a[k], b[k])
            if c2w is through_door:
                assert 9 in a["semantic"]  # the box is seen through the doorway, so room 1 is drawn
                assert fast.stats.culled_draws == plain.stats.culled_draws
            else:
                assert 9 not in a["semantic"]
                assert fast.stats.culled_draws >= plain.stats.culled_draws + 2  # room 1's floor and box


def test_texture_is_sampled_upright():
    tex = np.zeros((8, 8, 3), np.uint8)
    tex[:4] = (255, 0, 0)  # top rows red
    tex[4:] = (0, 255, 0)  # bottom rows green
    with Simulator(scene(tex), SimulatorConfig(resolution=(96, 128), sensor_types=("rgb",))) as s:
        s.set_agent_state([0, 0, -4.0], 0.0)  # between the box (z = -3) and the wall
        rgb = s.get_observations()["rgb"].astype(int)
        top = rgb[pixel_of(s, [2.0, 2.7, WALL_Z], "rgb")]
        bottom = rgb[pixel_of(s, [2.0, 0.3, WALL_Z], "rgb")]
    assert top[0] > 2 * top[1] and bottom[1] > 2 * bottom[0]


def test_textures_of_different_sizes_keep_their_colours():
    # all textures share one array texture; smaller ones are resampled to the largest size
    def quad(name, x0, x1, texture):
        v = np.array([[x0, 0, WALL_Z], [x1, 0, WALL_Z], [x1, 3, WALL_Z], [x0, 3, WALL_Z]], np.float32)
        uv = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float32)
        return MeshPart(name, v, np.array([[0, 1, 2], [0, 2, 3]], np.uint32), uv=uv, texture=texture)

    red = np.zeros((16, 8, 3), np.uint8)
    red[..., 0] = 255
    green = np.zeros((2, 2, 4), np.uint8)
    green[..., 1] = green[..., 3] = 255
    sc = Scene("two_textures", [quad("left", -10, 0, red), quad("right", 0, 10, green)])
    with Simulator(sc, SimulatorConfig(resolution=(48, 64), sensor_types=("rgb",))) as s:
        rgb = s.get_observations()["rgb"].astype(int)
        left, right = rgb[pixel_of(s, [-2.0, 1.5, WALL_Z], "rgb")], rgb[pixel_of(s, [2.0, 1.5, WALL_Z], "rgb")]
    assert left[0] > 100 and left[1] < 10 and right[1] > 100 and right[0] < 10


def test_intrinsics_match_hfov():
    K = intrinsics(90, 128, 96)
    assert K[0, 0] == pytest.approx(64) and K[1, 1] == pytest.approx(64)
    assert (K[0, 2], K[1, 2]) == (64, 48)
    K60 = intrinsics(60, 100, 100)
    assert K60[0, 0] == pytest.approx(50 / np.tan(np.radians(30)))


def test_pose_convention_matches_scipy_quaternions():
    for h in (0.0, 0.3, np.pi / 2, -2.0, 3.0):
        q = heading_to_quaternion(h)
        # scipy also orders quaternions scalar-last ([x, y, z, w]).
        np.testing.assert_allclose(Rotation.from_quat(q).as_matrix(), yaw_matrix(h), atol=1e-12)
        np.testing.assert_allclose(Rotation.from_rotvec([0, h, 0]).as_matrix(), yaw_matrix(h), atol=1e-12)
        assert quaternion_to_heading(q) == pytest.approx(np.arctan2(np.sin(h), np.cos(h)))
        np.testing.assert_allclose(camera_to_world([0, 0, 0], h, (0, 0, 0))[:3, :3] @ [0, 0, -1], forward_vector(h))
    np.testing.assert_allclose(forward_vector(np.pi / 2), [-1, 0, 0], atol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"resolution": (0, 128)}, "resolution"),
        ({"resolution": (128,)}, "resolution"),
        ({"hfov": 0}, r"hfov must be in \(0, 180\)"),
        ({"hfov": 180.0}, r"hfov must be in \(0, 180\)"),
        ({"backend": "vulkan"}, "unknown backend 'vulkan'"),
        ({"sensor_types": ("rgb", "thermal")}, "unknown sensor type 'thermal'"),
        ({"near": 1.0, "far": 0.5}, "near < far"),
        ({"sensors": [{"uuid": "a", "type": "rgb"}, {"uuid": "a", "type": "depth"}]}, "duplicate uuids"),
        ({"sensors": [{"uuid": "pose", "type": "rgb"}]}, "reserved"),
    ],
)
def test_config_rejects_bad_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SimulatorConfig(**kwargs)


def test_config_from_yaml():
    from omegaconf import OmegaConf

    path = Path(__file__).resolve().parents[1] / "configs" / "sim" / "default.yaml"
    cfg = SimulatorConfig.from_dict(OmegaConf.load(path))
    assert [s.type for s in cfg.sensors] == ["rgb", "depth", "semantic"]
    assert cfg.sensors[0].resolution == (128, 128) and cfg.sensors[0].position == (0, 1.25, 0)
    with pytest.raises(ValueError, match="unknown keys"):
        SimulatorConfig.from_dict({"resolutoin": [64, 64]})


def test_habitat_backend_explains_how_to_install():
    try:
        import habitat_sim  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("habitat-sim is installed")
    with pytest.raises(RuntimeError, match=r"conda install habitat-sim"):
        Simulator(scene(), SimulatorConfig(backend="habitat"))


def test_bad_mesh_part_is_named():
    bad = MeshPart("chair_3", np.zeros((3, 3), np.float32), np.array([[0, 1, 5]], np.uint32))
    with pytest.raises(ValueError, match="chair_3.*face indices"):
        GLBackend(Scene("bad", [bad]))


def test_real_glb_renders():
    loader = pytest.importorskip("scenes.loader")
    glb = Path(__file__).resolve().parents[2] / "shared" / "habitat-test-assets" / "scenes" / "simple_room.glb"
    if not glb.exists():
        pytest.skip(f"{glb} not available")
    sc = loader.load(glb)
    floor = max(sc.meshes, key=lambda m: np.ptp(m.vertices[:, 0]))  # the 10 m slab
    block = next(m for m in sc.meshes if m.name == "Cube.001")  # a 2 m cube standing on it
    lo, hi = block.vertices.min(0), block.vertices.max(0)
    with Simulator(sc, SimulatorConfig(resolution=(64, 64))) as s:
        # Stand on the slab 3 m from the origin, facing it (heading -pi/4 looks along (+x, -z)).
        s.set_agent_state([-3.0, float(floor.vertices[:, 1].max()), 3.0], -np.pi / 4)
        obs = s.get_observations()
        pts = backproject(obs["depth"], s.intrinsics("depth"), s.camera_to_world("depth"))
        r, c = pixel_of(s, (lo + hi) / 2, "depth")
    assert (obs["depth"] > 0).mean() > 0.4
    assert np.all(pts[r, c] >= lo - 0.01) and np.all(pts[r, c] <= hi + 0.01)
    assert obs["rgb"].std() > 1.0


def test_batched_views_equal_single_renders_bit_for_bit():
    from envs.navigation import NavGrid
    from envs.pose import camera_to_world
    from envs.render.batch import BatchGLRenderer
    from envs.render.gl_backend import GLBackend
    from scenes.generator import generate_scene

    scenes = [generate_scene(seed, num_rooms=2 + seed % 2) for seed in (3, 4, 5)]
    sensors = [SensorSpec("rgb", "rgb", (48, 64)), SensorSpec("depth", "depth", (48, 64)),
               SensorSpec("semantic", "semantic", (48, 64)), SensorSpec("small", "depth", (16, 16), 70.0)]
    rng = np.random.default_rng(0)
    grids = [NavGrid.from_scene(s) for s in scenes]
    singles = [GLBackend(s) for s in scenes]
    seen_objects = 0
    with BatchGLRenderer(scenes) as batch:
        for _ in range(6):
            c2ws = [camera_to_world(g.sample_navigable_point(rng), float(rng.uniform(-np.pi, np.pi)), (0, 1.25, 0))
                    for g in grids]
            views = batch.render(c2ws, sensors)
            for single, c2w, view in zip(singles, c2ws, views):
                ref = single.render(c2w, sensors)
                assert view.keys() == ref.keys()
                for k in ref:
                    assert view[k].dtype == ref[k].dtype and np.array_equal(view[k], ref[k]), k
                assert (view["depth"] > 0).mean() > 0.5  # real frames
                seen_objects += bool(view["semantic"].any())
    assert seen_objects >= 9  # of 18 views
    for single in singles:
        single.close()


def test_the_gl_backend_takes_its_egl_device_from_the_config():
    from scenes.generator import generate_scene

    scene = generate_scene(1, num_rooms=2)
    cfg = dict(resolution=(16, 16), sensor_types=("depth",))
    with Simulator(scene, SimulatorConfig(**cfg)) as sim:
        ref = sim.get_observations()["depth"]
    with Simulator(scene, SimulatorConfig(**cfg, gpu_device_id=0)) as sim:  # device 0 exists on every EGL machine
        assert np.array_equal(sim.get_observations()["depth"], ref)
    with pytest.raises(RuntimeError, match=r"sim.gpu_device_id=99: no EGL context on that device"):
        Simulator(scene, SimulatorConfig(**cfg, gpu_device_id=99))
