"""The ``gl`` and ``habitat`` backends side by side: depth, coverage and semantic agreement on the same poses.

Runs where ``import habitat_sim`` works (``make test-habitat`` builds such a venv): both backends
render the same agent poses, sampled on each scene's navigation grid, and the script prints per
scene the depth difference (median and 95th percentile over pixels both see, share within 2 cm),
the share of pixels both see (coverage agreement), semantic pixel agreement where both give ids,
and writes one RGB / depth PNG pair per scene.

Scenes: ``--apartments N`` procedural test apartments written to a temporary dataset, and the real
stages of ``../shared/habitat-test-assets`` when present.

Usage: HSIM_DISABLE_CUDA_DEVICE=1 .venv-habitat/bin/python experiments/compare_backends.py [--poses 50] [--out results/habitat]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np

os.environ.setdefault("EGL_PLATFORM", "surfaceless")

ASSETS = Path(__file__).resolve().parents[1].parent / "shared" / "habitat-test-assets"


def sample_poses(scene, n: int, seed: int = 0) -> list[tuple[np.ndarray, float]]:
    from envs.navigation import NavGrid

    grid = NavGrid.from_scene(scene)
    rng = np.random.default_rng(seed)
    return [(grid.sample_navigable_point(rng), float(rng.uniform(-np.pi, np.pi))) for _ in range(n)]


def render_both(scene, poses, resolution: int = 128, sensor_types=("rgb", "depth", "semantic")):
    import warnings

    from envs.config import SimulatorConfig
    from envs.simulator import Simulator

    out = {}
    for backend in ("gl", "habitat"):
        cfg = SimulatorConfig(resolution=(resolution, resolution), sensor_types=sensor_types, backend=backend)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the habitat backend's "no semantics" warning is reported below
            sim = Simulator(scene, cfg)
        frames = []
        for position, heading in poses:
            sim.set_agent_state(position, heading)
            frames.append(sim.get_observations())
        sim.close()
        out[backend] = frames
    return out


def agreement(frames: dict, far: float = 50.0) -> dict[str, float]:
    """Depth and semantic agreement of the two backends' frames of the same poses."""
    diffs, both, either, sem_agree, sem_n = [], 0, 0, 0, 0
    for g, h in zip(frames["gl"], frames["habitat"]):
        dg, dh = g["depth"], h["depth"]
        vg, vh = (dg > 0) & (dg < far), (dh > 0) & (dh < far)
        both += int((vg & vh).sum())
        either += int((vg | vh).sum())
        diffs.append(np.abs(dg - dh)[vg & vh])
        if "semantic" in g and h["semantic"].any():
            m = vg & vh
            sem_agree += int((g["semantic"][m] == h["semantic"][m]).sum())
            sem_n += int(m.sum())
    d = np.concatenate(diffs) if diffs else np.zeros(0)
    return {"depth_median_mm": float(np.median(d) * 1000) if len(d) else float("nan"),
            "depth_p95_mm": float(np.percentile(d, 95) * 1000) if len(d) else float("nan"),
            "within_2cm": float((d < 0.02).mean()) if len(d) else float("nan"),
            "coverage_agreement": both / max(either, 1),
            "semantic_agreement": sem_agree / sem_n if sem_n else float("nan")}


def save_pair(frames: dict, path: Path, k: int = 0) -> Path:
    import imageio.v3 as iio

    def depth_img(d):
        v = np.clip(d / 8.0, 0, 1)
        return (np.stack([v, v, v], -1) * 255).astype(np.uint8)

    from envs.wrappers.visual import colorize_semantic

    g, h = frames["gl"][k], frames["habitat"][k]
    rows = [np.concatenate([g["rgb"][..., :3], h["rgb"][..., :3]], 1),
            np.concatenate([depth_img(g["depth"]), depth_img(h["depth"])], 1)]
    if "semantic" in g and h["semantic"].any():  # instance ids, the same colour per id on both sides
        rows.append(np.concatenate([colorize_semantic(g["semantic"]), colorize_semantic(h["semantic"])], 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(path, np.concatenate(rows, 0))
    return path


def scenes(apartments: int, tmp: Path):
    from scenes import loader
    from scenes.writer import write_dataset

    if apartments:
        write_dataset(tmp, {"test": apartments}, name="vlm2_apartments")
        root = tmp / "vlm2_apartments"
        for sid in loader.scene_ids(root):
            yield sid, loader.load(root, sid)
    if ASSETS.is_dir():
        for name in ("simple_room.glb", "stage_floor1.glb"):
            yield Path(name).stem, loader.load(ASSETS / "scenes" / name)


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--poses", type=int, default=50)
    ap.add_argument("--apartments", type=int, default=3)
    ap.add_argument("--resolution", type=int, default=128)
    ap.add_argument("--out", default="results/habitat")
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for sid, scene in scenes(args.apartments, Path(tmp)):
            frames = render_both(scene, sample_poses(scene, args.poses), args.resolution)
            rows.append({"scene": sid, **agreement(frames)})
            save_pair(frames, Path(args.out) / f"{sid}_gl_vs_habitat.png")
    print(f"\n{args.poses} poses per scene, {args.resolution}x{args.resolution}; left/top gl, right habitat-sim\n")
    print("| scene | depth median (mm) | depth p95 (mm) | within 2 cm | coverage agreement | semantic agreement |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['scene']} | {r['depth_median_mm']:.3f} | {r['depth_p95_mm']:.1f} | {100 * r['within_2cm']:.1f}% | "
              f"{100 * r['coverage_agreement']:.1f}% | "
              + ("-" if np.isnan(r["semantic_agreement"]) else f"{100 * r['semantic_agreement']:.1f}%") + " |")
    return rows


if __name__ == "__main__":
    main()
