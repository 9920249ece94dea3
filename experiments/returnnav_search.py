"""ReturnNav over long tours by memory-guided search: success, SPL and localisation against the age
of the goal's last sighting, for VLM2's dual / working / none memories and a ground-truth map.

Each test episode streams an expert tour of ``--tours`` steps (1,000 and 5,000 by default) once:
every frame goes into one VLM2 encoder feeding the three memories (``MultiMemoryStreamer``), into a
ground-truth recogniser (the semantic sensor, ``SemanticGoalEstimator``) and into the exploration
map. Then the question, "go to the <category> in the <room type>", and each row navigates from the
tour's end (``ReturnNavEnv.restart_navigation``) with ``ObjectSearchAgent`` (``--verify``: with its
check on arrival): the goal estimate read
from its memory (VLM2 rows: the entry the patch classifier scores highest for the category among
entries whose centroid lies in a room of that type, at ``--threshold``, the value chosen on train
episodes by ``experiments/objectnav_search.py``), the shortest path there, frontier search while
there is no estimate. The localisation error is the first estimate's floor distance to the nearest
goal instance; what each memory holds is the distance from the goal to its nearest entry (a
perfect read's error). Writes ``<out>.{md,json}`` and ``<out>_by_age.png``; episodes are cached in ``--runs``.

Usage: python experiments/returnnav_search.py [--tours 1000,5000] [--episodes 30,6] [--nav-steps 300]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("EGL_PLATFORM", "surfaceless")

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from tqdm import tqdm  # noqa: E402

import vlm2_agent.policy  # noqa: E402,F401  (registers VLM2/ReturnNav-v0)
from vlm2_agent.policy.memory_goal import MEMORY_MODES, MultiMemoryStreamer  # noqa: E402
from vlm2_agent.policy.memory_wrapper import frame_inputs  # noqa: E402
from vlm2_agent.policy.object_search import (  # noqa: E402
    ExplorationMap,
    MemoryGoalEstimator,
    ObjectSearchAgent,
    SemanticGoalEstimator,
    goal_floor_distance,
)
from vlm2_base.io import atomic_savefig, atomic_write  # noqa: E402

ROWS = ("semantic", *MEMORY_MODES)
NAMES = {"semantic": "ground-truth map", "dual": "VLM2 memory dual", "working": "VLM2 memory working",
         "none": "VLM2 memory none"}
AGE_BINS = (0, 10, 100, 300, 1000, 5001)


def in_goal_room(env, points: np.ndarray) -> np.ndarray:
    """Which world points (N, 3) lie in a room of the ReturnNav goal's room type."""
    base = env.unwrapped
    rooms = [base.scene.room_at(float(p[0]), float(p[2])) for p in points]
    return np.array([r is not None and r.room_type == base.goal_room_type for r in rooms], bool)


def held_error(base, streamer: MultiMemoryStreamer, mode: str, first_c2w: np.ndarray,
               min_valid: float = 0.05) -> float:
    """What ``mode``'s memory holds at the question: the floor distance (m) from the goal instance
    nearest to any entry with geometry to that entry, as if the read were perfect (inf: no entry)."""
    _, coords, mask = streamer.snapshot(mode)
    usable = mask & (coords[:, 3] >= min_valid)
    if not usable.any():
        return float("inf")
    world = coords[usable, :3].astype(np.float64) @ first_c2w[:3, :3].T + first_c2w[:3, 3]
    return min(goal_floor_distance(base, p) for p in world)


def episode(env, model, head: str, threshold: float, seed: int, verify: bool) -> list[dict[str, Any]]:
    """One tour streamed once, then every row's navigation from the tour's end."""
    base = env.unwrapped
    types = {s.type: s for s in base.sim_config.sensors}
    env.reset(seed=seed)
    streamer = MultiMemoryStreamer(model, MEMORY_MODES)
    streamer.reset()
    semantic = SemanticGoalEstimator()
    semantic.reset(env)
    seen = ExplorationMap(base.navgrid)
    first_c2w = base.camera_to_world(types["depth"].uuid)

    def observe():
        streamer.observe(*frame_inputs(base, types["rgb"], types["depth"]))
        semantic.observe(env)
        seen.observe_env(env)

    observe()
    while base.in_tour:
        _, _, term, trunc, info = env.step(0)
        observe()
        if term or trunc:
            raise RuntimeError(f"episode {seed}: ended during the tour")
    age = len(base.tour) - int(info["goal_last_seen"])
    out = []
    for row in ROWS:
        held = float("nan")
        if row == "semantic":
            est = copy.deepcopy(semantic)
        else:
            est = MemoryGoalEstimator(model, head, row, threshold, region=in_goal_room)
            est.load_state(streamer.states, first_c2w)
            held = held_error(base, streamer, row, first_c2w)
        agent = ObjectSearchAgent(est, verify=verify)
        obs, info = base.restart_navigation()
        agent.begin(env, seen=seen.seen, reset_estimator=False)
        first = est.estimate(env)
        done = False
        while not done:
            obs, _, term, trunc, info = env.step(agent(obs, env))
            done = term or trunc
        out.append({"row": row, "seed": seed, "tour": len(base.tour), "age": age, "success": float(info["success"]),
                    "spl": float(info["spl"]), "nav_steps": int(info["nav_steps"]), "stopped": bool(term),
                    "first_error": goal_floor_distance(base, first), "held_error": held,
                    "goal": f"{base.goal_category} in the {base.goal_room_type}"})
    return out


def run_tours(args, tour: int, episodes: int, threshold: float) -> list[dict[str, Any]]:
    from vlm2_agent.policy.backbone import build_backbone, strip_language

    check = "_verify" if args.verify else ""
    path = Path(args.runs) / f"tour{tour}_thr{threshold}_nav{args.nav_steps}{check}.jsonl"
    done = [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []
    seeds_done = {r["seed"] for r in done}
    model = strip_language(build_backbone({"geometry_source": "oracle"}, args.checkpoint))
    head = str(Path(args.checkpoint) / "semantic_head.safetensors")
    env = gym.make("VLM2/ReturnNav-v0", tour=tour, sensors=("rgb", "depth", "semantic"),
                   sim={"resolution": (args.resolution, args.resolution)},
                   config={"split": "test", "num_scenes": args.num_scenes, "max_episode_steps": args.nav_steps})
    path.parent.mkdir(parents=True, exist_ok=True)
    for i in tqdm(range(episodes), desc=f"tour {tour}"):
        seed = args.seed + i
        if seed in seeds_done:
            continue
        rows = episode(env, model, head, threshold, seed, args.verify)
        with open(path, "a") as f:  # one line per row, appended: a stopped run resumes here
            f.write("".join(json.dumps(r) + "\n" for r in rows))
        done += rows
    env.close()
    return [r for r in done if r["seed"] < args.seed + episodes]


def summary(rows: list[dict[str, Any]]) -> dict[str, float]:
    s = np.array([r["success"] for r in rows])
    err = np.array([r["first_error"] for r in rows])
    return {"episodes": len(rows), "success": float(s.mean()), "success_se": float(s.std() / np.sqrt(len(rows))),
            "spl": float(np.mean([r["spl"] for r in rows])), "within_1m": float(np.mean(err <= 1.0)),
            "median_error": float(np.nanmedian(err)) if np.isfinite(err).any() else float("nan"),
            "no_estimate": float(np.mean(~np.isfinite(err))), "age_median": float(np.median([r["age"] for r in rows])),
            "held_within_1m": float(np.mean([r.get("held_error", np.nan) <= 1.0 for r in rows])),
            "wrong_stop": float(np.mean([r["stopped"] and not r["success"] for r in rows]))}


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    labels = [f"{a}-{b - 1}" for a, b in zip(AGE_BINS[:-1], AGE_BINS[1:])]
    for row in ROWS:
        for ax, key in zip(axes, ("success", "spl")):
            means, xs = [], []
            for k, (a, b) in enumerate(zip(AGE_BINS[:-1], AGE_BINS[1:])):
                sel = [r[key] for r in rows if r["row"] == row and a <= r["age"] < b]
                if sel:
                    xs.append(k)
                    means.append(np.mean(sel))
            ax.plot(xs, means, "o-", label=NAMES[row])
    for ax, key in zip(axes, ("success", "SPL")):
        ax.set_xticks(range(len(labels)), labels, fontsize=7)
        ax.set_xlabel("steps since the goal was last seen")
        ax.set_ylabel(key)
        ax.set_ylim(-0.02, 1.02)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    atomic_savefig(fig, path, dpi=120)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tours", default="1000,5000")
    p.add_argument("--episodes", default="30,6", help="episodes per tour length (one number for all)")
    p.add_argument("--nav-steps", type=int, default=300)
    p.add_argument("--threshold", type=float, default=None,
                   help="entry score threshold (default: the one objectnav_search chose on train episodes)")
    p.add_argument("--objectnav-report", default="results/policy/objectnav_search.json")
    p.add_argument("--verify", action="store_true", help="the check on arrival (ObjectSearchAgent(verify=True))")
    p.add_argument("--checkpoint", default="checkpoints/vlm2_cpu_small_semantic")
    p.add_argument("--resolution", type=int, default=64)
    p.add_argument("--num-scenes", type=int, default=8)
    p.add_argument("--seed", type=int, default=9000)
    p.add_argument("--runs", default="outputs/returnnav_search")
    p.add_argument("--out", default="results/policy/returnnav_search")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    threshold = args.threshold
    if threshold is None:
        threshold = float(json.loads(Path(args.objectnav_report).read_text())["threshold"])
    tours = [int(t) for t in args.tours.split(",")]
    counts = [int(n) for n in args.episodes.split(",")]
    counts = counts * len(tours) if len(counts) == 1 else counts
    all_rows, text, t0 = [], [], time.perf_counter()
    for tour, n in zip(tours, counts):
        rows = run_tours(args, tour, n, threshold)
        all_rows += rows
        text.append(f"\nTours of {tour} steps ({n} test episodes; median age of the last sighting "
                    f"{np.median([r['age'] for r in rows if r['row'] == 'semantic']):.0f} steps):\n")
        text.append("| memory | success | SPL | first estimate within 1 m | median error (m) | no estimate "
                    "| wrong stop | memory holds an entry within 1 m |")
        text.append("|---|---|---|---|---|---|---|---|")
        for row in ROWS:
            m = summary([r for r in rows if r["row"] == row])
            text.append(f"| {NAMES[row]} | {m['success']:.2f} ± {m['success_se']:.2f} | {m['spl']:.3f} | "
                        f"{m['within_1m']:.2f} | {m['median_error']:.2f} | {m['no_estimate']:.2f} | "
                        f"{m['wrong_stop']:.2f} | {'-' if row == 'semantic' else format(m['held_within_1m'], '.2f')} |")
    out = Path(args.out)
    plot(all_rows, out.parent / (out.name + "_by_age.png"))
    body = "\n".join(text) + f"\n\nThreshold {threshold}; {time.perf_counter() - t0:.0f} s.\n"
    atomic_write(out.with_suffix(".md"), body)
    atomic_write(out.with_suffix(".json"), json.dumps({"args": vars(args), "threshold": threshold, "rows": all_rows},
                                                      indent=1))
    print(body)


if __name__ == "__main__":
    main()
