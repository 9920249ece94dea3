"""Frames per second of the moderngl renderer on a synthetic room, printed as a table.

The room is 10 m x 10 m x 2.6 m with textured floor, walls and ceiling and N objects (boxes and
24-sided cylinders, seeded). The agent stands at the centre and turns 10 degrees per frame, so
frustum culling sees every direction. Timings on a shared CPU are noisy: run it twice.

    python experiments/bench_render.py                     # 10 and 100 objects, 128 and 256 px
    python experiments/bench_render.py --objects 300 --frames 100 --textures per-part
    python experiments/bench_render.py --apartment 0      # a generated apartment, culling stage by stage
    .venv-habitat/bin/python experiments/bench_render.py --backend gl,habitat   # both backends, one run

In ``--apartment`` mode the camera visits random navigable poses of the generated apartment (what an
environment renders) and each culling stage is switched on in turn: frustum, rooms seen through
doorways, back faces of closed parts. Set ``LP_NUM_THREADS=0`` to render in the calling thread
(CPU time per frame without llvmpipe's worker threads).

In ``--backend`` mode each named backend renders the same navigable poses of a test apartment
written to a temporary scene dataset (habitat-sim loads scenes from files) through
``envs.Simulator``, RGB-D at each ``--sizes``; run it with a Python where ``import habitat_sim``
works (``make test-habitat`` builds one) to include ``habitat``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import trimesh
from tqdm import tqdm

from envs import SensorSpec, camera_to_world
from envs.render.gl_backend import GLBackend
from scenes.types import MeshPart, Scene

ROOM, HEIGHT = 10.0, 2.6


def _texture(rng: np.random.Generator, size: int = 64) -> np.ndarray:
    """A noisy two-tone checker, enough to make the sampler do real work."""
    a, b = rng.integers(60, 230, 3), rng.integers(60, 230, 3)
    check = ((np.arange(size)[:, None] // 8 + np.arange(size)[None, :] // 8) % 2).astype(bool)
    img = np.where(check[..., None], a, b) + rng.integers(-15, 15, (size, size, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def _part(mesh: trimesh.Trimesh, name: str, instance_id: int, texture: np.ndarray | None, color) -> MeshPart:
    v = np.asarray(mesh.vertices, np.float32)
    uv = None
    if texture is not None:
        uv = np.stack([v[:, 0] + v[:, 2], v[:, 1] + v[:, 2]], 1).astype(np.float32) / 2  # 2 m per tile
    return MeshPart(
        name, v, np.asarray(mesh.faces, np.uint32), normals=np.asarray(mesh.vertex_normals, np.float32),
        colors=np.tile(np.array(color, np.uint8), (len(v), 1)), uv=uv, texture=texture, instance_id=instance_id,
    )


def synthetic_room(num_objects: int, textures: str = "shared", seed: int = 0) -> Scene:
    """Room shell (id 0) plus ``num_objects`` objects with ids 1..N; ``textures``: shared|per-part|none."""
    rng = np.random.default_rng(seed)
    shared = _texture(rng) if textures == "shared" else None

    def tex():
        return None if textures == "none" else (shared if textures == "shared" else _texture(rng))

    white = (255, 255, 255, 255)
    h = ROOM / 2
    shell = [
        ("floor", trimesh.creation.box((ROOM, 0.02, ROOM), trimesh.transformations.translation_matrix((0, -0.01, 0)))),
        ("ceiling", trimesh.creation.box((ROOM, 0.02, ROOM), trimesh.transformations.translation_matrix((0, HEIGHT + 0.01, 0)))),
    ]
    for i, (cx, cz, sx, sz) in enumerate([(h, 0, 0.1, ROOM), (-h, 0, 0.1, ROOM), (0, h, ROOM, 0.1), (0, -h, ROOM, 0.1)]):
        shell.append((f"wall_{i}", trimesh.creation.box((sx, HEIGHT, sz), trimesh.transformations.translation_matrix((cx, HEIGHT / 2, cz)))))
    parts = [_part(m, n, 0, tex(), white) for n, m in shell]
    for k in range(num_objects):
        size = rng.uniform(0.2, 0.9, 3)
        pos = rng.uniform(-h + 0.6, h - 0.6, 2)
        if k % 2:
            mesh = trimesh.creation.box(size)
        else:
            mesh = trimesh.creation.cylinder(radius=size[0] / 2, height=size[1], sections=24)
            mesh.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, (1, 0, 0)))
        mesh.apply_translation((pos[0], size[1] / 2, pos[1]))
        color = (*rng.integers(40, 255, 3), 255)
        parts.append(_part(mesh, f"object_{k}", k + 1, tex() if k % 3 == 0 else None, color))
    return Scene(f"synthetic_{num_objects}", parts)


def bench(scene: Scene, size: int, types: tuple[str, ...], frames: int, culling: bool) -> tuple[float, float]:
    """(frames per second, mean triangles drawn per frame)."""
    sensors = [SensorSpec(t, t, (size, size)) for t in types]
    with GLBackend(scene, frustum_culling=culling) as gl:
        poses = [camera_to_world([0.0, 0.0, 0.0], np.radians(10 * i), (0, 1.25, 0)) for i in range(36)]
        for p in poses[:5]:  # warm-up: shader compilation, target allocation
            gl.render(p, sensors)
        tris = 0
        start = time.perf_counter()
        for i in range(frames):
            gl.render(poses[i % 36], sensors)
            tris += gl.stats.triangles
        elapsed = time.perf_counter() - start
    return frames / elapsed, tris / frames


CULLING_STAGES = {
    "none": dict(frustum_culling=False, room_culling=False, backface_culling=False),
    "frustum": dict(frustum_culling=True, room_culling=False, backface_culling=False),
    "frustum+rooms": dict(frustum_culling=True, room_culling=True, backface_culling=False),
    "frustum+rooms+backface": dict(frustum_culling=True, room_culling=True, backface_culling=True),
}


def bench_apartment(seed: int, size: int, types: tuple[str, ...], frames: int, stage: str) -> tuple[float, float]:
    """(frames per second, mean triangles drawn) over random navigable poses of apartment ``seed``."""
    from envs.navigation import NavGrid
    from scenes.generator import generate_scene

    scene = generate_scene(seed)
    rng = np.random.default_rng(seed)
    grid = NavGrid.from_scene(scene)
    poses = [camera_to_world(grid.sample_navigable_point(rng), rng.uniform(-np.pi, np.pi), (0, 1.25, 0))
             for _ in range(64)]
    sensors = [SensorSpec(t, t, (size, size)) for t in types]
    with GLBackend(scene, **CULLING_STAGES[stage]) as gl:
        for p in poses[:5]:
            gl.render(p, sensors)
        tris = 0
        start = time.perf_counter()
        for i in range(frames):
            gl.render(poses[i % len(poses)], sensors)
            tris += gl.stats.triangles
        elapsed = time.perf_counter() - start
    return frames / elapsed, tris / frames


def apartment_table(seed: int, sizes: list[int], frames: int) -> None:
    rows = []
    configs = [(s, ty, st) for s in sizes for ty in (("rgb", "depth"), ("rgb", "depth", "semantic"))
               for st in CULLING_STAGES]
    for size, types, stage in tqdm(configs, desc="apartment", leave=False):
        fps, tris = bench_apartment(seed, size, types, frames, stage)
        rows.append(f"{size}x{size} | {'+'.join(types)} | {stage} | {tris:.0f} | {fps:.0f}")
    print(f"apartment seed {seed}\nresolution | sensors | culling | tris drawn | frames/s\n---|---|---|---|---")
    print("\n".join(rows))


def backend_table(backends: list[str], sizes: list[int], frames: int) -> None:
    import tempfile
    import warnings

    from envs.config import SimulatorConfig
    from envs.navigation import NavGrid
    from envs.simulator import Simulator
    from scenes import loader
    from scenes.writer import write_dataset

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        write_dataset(tmp, {"test": 1}, write_maps=False, progress=False)
        scene = loader.load(f"{tmp}/vlm2_apartments", "apt_test_110000")
        rng = np.random.default_rng(0)
        grid = NavGrid.from_scene(scene)
        poses = [(grid.sample_navigable_point(rng), float(rng.uniform(-np.pi, np.pi))) for _ in range(64)]
        for size in sizes:
            for backend in backends:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    sim = Simulator(scene, SimulatorConfig(resolution=(size, size), sensor_types=("rgb", "depth"),
                                                           backend=backend))
                for p, h in poses[:5]:
                    sim.set_agent_state(p, h)
                    sim.get_observations()
                start = time.perf_counter()
                for i in range(frames):
                    sim.set_agent_state(*poses[i % len(poses)])
                    sim.get_observations()
                rows.append((f"{size}x{size}", backend, frames / (time.perf_counter() - start)))
                sim.close()
    print("scene apt_test_110000, RGB-D, envs.Simulator.get_observations\nresolution | backend | frames/s\n---|---|---")
    for res, backend, fps in rows:
        print(f"{res} | {backend} | {fps:.0f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--objects", type=int, nargs="+", default=[10, 100])
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--textures", choices=["shared", "per-part", "none"], nargs="+", default=["shared"])
    ap.add_argument("--no-culling-row", action="store_true", help="skip the rows without frustum culling")
    ap.add_argument("--apartment", type=int, default=None, metavar="SEED",
                    help="benchmark a generated apartment instead of the synthetic room")
    ap.add_argument("--backend", default=None, metavar="gl,habitat",
                    help="compare Simulator backends on a written test apartment instead")
    args = ap.parse_args()
    if args.backend is not None:
        backend_table(args.backend.split(","), args.sizes, args.frames)
        return
    if args.apartment is not None:
        apartment_table(args.apartment, args.sizes, args.frames)
        return
    sensor_sets = [("rgb", "depth"), ("rgb", "depth", "semantic")]
    rows = []
    configs = [(n, t, s, ty, c) for n in args.objects for t in args.textures for s in args.sizes
               for ty in sensor_sets for c in ((True,) if args.no_culling_row else (True, False))]
    for n, tex, size, types, cull in tqdm(configs, desc="bench", leave=False):
        scene = synthetic_room(n, tex)
        fps, tris = bench(scene, size, types, args.frames, cull)
        rows.append((n, scene.num_triangles, tex, f"{size}x{size}", "+".join(types), "on" if cull else "off", tris, fps))
    head = ("objects", "triangles", "textures", "resolution", "sensors", "culling", "tris drawn", "frames/s")
    print(" | ".join(head))
    print(" | ".join("-" * len(h) for h in head))
    for n, t, tex, res, types, cull, drawn, fps in rows:
        print(f"{n} | {t} | {tex} | {res} | {types} | {cull} | {drawn:.0f} | {fps:.0f}")


if __name__ == "__main__":
    main()
