"""Generation time and triangle count per apartment, for 2-, 4-, 5- and 7-room apartments.

Times one core (the generator is single-threaded): ``generate`` is :func:`scenes.generate_scene`,
``write`` adds the glb, configs and annotations (no map), ``map`` the top-down PNG.
Run: ``python experiments/bench_scenes.py [--scenes 10]``. Timings on a shared CPU are noisy.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from scenes.generator import generate_scene
from scenes.topdown import render_topdown
from scenes.writer import write_scene


def bench(num_rooms: int, n: int, out: Path) -> dict:
    gen, write, maps, tris, objs = [], [], [], [], []
    for seed in range(n):
        t0 = time.perf_counter()
        scene = generate_scene(seed, num_rooms=num_rooms)
        t1 = time.perf_counter()
        write_scene(scene, out, seed=seed, split="train", write_map=False)
        t2 = time.perf_counter()
        render_topdown(scene, out / "maps" / f"{scene.scene_id}.png")
        t3 = time.perf_counter()
        gen.append(t1 - t0), write.append(t2 - t1), maps.append(t3 - t2)
        tris.append(scene.num_triangles), objs.append(len(scene.objects))
    return {"rooms": num_rooms, "generate": statistics.median(gen), "write": statistics.median(write),
            "map": statistics.median(maps), "tris_mean": statistics.mean(tris), "tris_max": max(tris),
            "objects": statistics.mean(objs)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenes", type=int, default=10, help="apartments per room count")
    args = ap.parse_args()
    generate_scene(0, num_rooms=2)  # warm imports and caches
    with tempfile.TemporaryDirectory() as tmp:
        render_topdown(generate_scene(0, num_rooms=2), Path(tmp) / "warm.png")
        rows = [bench(k, args.scenes, Path(tmp)) for k in (2, 4, 5, 7)]
    print(f"{args.scenes} apartments per row, median seconds per apartment (one core)")
    print(f"{'rooms':>5} {'generate s':>10} {'+write s':>9} {'+map s':>7} {'objects':>8} {'tris mean':>10} {'tris max':>9}")
    for r in rows:
        print(f"{r['rooms']:>5} {r['generate']:>10.3f} {r['write']:>9.3f} {r['map']:>7.3f} {r['objects']:>8.1f} "
              f"{r['tris_mean']:>10.0f} {r['tris_max']:>9d}")


if __name__ == "__main__":
    main()
