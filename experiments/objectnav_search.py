"""ObjectNav by memory-guided search (``vlm2_agent.policy.object_search``) on test scenes, with the
part that limits each row: recognition, localisation, planning or stopping.

Rows, all on the same fixed habitat-lab-format episodes (``--episodes-file``, test scenes):
- ``random``: uniform actions; ``oracle``: the shortest-path follower to the nearest goal view point;
- ``frontier + ground-truth recognition``: the search with the semantic sensor as its recogniser
  (everything but recognition is the VLM2 rows');
- ``frontier + VLM2 <mode>``: VLM2's memory (``dual`` / ``working`` / ``none``) read by the
  perception's patch classifier. With ``--verify`` the searchers check on arrival: face the
  estimate, stop only if the last frames confirm it, else reject it and search on. Its one free
  number, the score ``threshold``, is chosen on train-split episodes (``--tune-episodes``, seeds
  from 5000), never on the test episodes.

Per episode the script keeps: success, SPL, steps, the first step the goal category was in view
(ground truth: a goal instance's pixel within 3 m in the semantic frame), the first step with an
estimate, and the final estimate's distance to the nearest instance. Rows are cached in ``--runs``
(one JSON each), so a stopped run resumes. Writes ``<out>/objectnav_search.{md,json}`` and videos
of a success and a failure of ``--video-row``.

Usage: python experiments/objectnav_search.py [--episodes 100] [--max-steps 500]
           [--rows random,oracle,semantic,dual,working,none] [--out results/policy/objectnav_search]
"""

from __future__ import annotations

import argparse
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

import envs  # noqa: E402,F401
from envs.datasets import read_episodes  # noqa: E402
from vlm2_agent.policy.object_search import (  # noqa: E402
    MemoryGoalEstimator,
    ObjectSearchAgent,
    SemanticGoalEstimator,
    goal_floor_distance,
    goal_instance_ids,
)
from vlm2_base.io import atomic_write  # noqa: E402

SEEN_RANGE = 3.0  # m: a goal pixel farther than this does not count as "in view"
ROW_NAMES = {"random": "random", "oracle": "oracle (shortest path)",
             "semantic": "frontier + ground-truth recognition",
             "dual": "frontier + VLM2 memory dual", "working": "frontier + VLM2 memory working",
             "none": "frontier + VLM2 memory none"}


def make_env(args, split: str = "test"):
    return gym.make("VLM2/ObjectNav-v0", sensors=("rgb", "depth", "semantic"),
                    sim={"resolution": (args.resolution, args.resolution)},
                    config={"split": split, "num_scenes": args.num_scenes, "max_episode_steps": args.max_steps})


def goal_in_view(base) -> bool:
    """Ground truth: a pixel of a goal-category instance within SEEN_RANGE in the current frame."""
    raw = base.sensor_observations()
    sem = next(s for s in base.sim_config.sensors if s.type == "semantic")
    depth = next(s for s in base.sim_config.sensors if s.type == "depth")
    hit = np.isin(np.asarray(raw[sem.uuid]).reshape(sem.resolution), list(goal_instance_ids(base)))
    d = np.asarray(raw[depth.uuid]).reshape(depth.resolution)
    return bool((hit & (d > 0) & (d <= SEEN_RANGE)).any())


def build_actor(row: str, args, threshold: float | None):
    if row == "random":
        rng = np.random.default_rng(args.seed)
        return lambda obs, env: int(rng.integers(4)), None
    if row == "oracle":
        return lambda obs, env: int(env.unwrapped.oracle_action()), None
    if row == "semantic":
        agent = ObjectSearchAgent(SemanticGoalEstimator(SEEN_RANGE), verify=args.verify)
        return agent, agent
    from vlm2_agent.policy.backbone import build_backbone, strip_language

    model = strip_language(build_backbone({"geometry_source": "oracle"}, args.checkpoint))
    est = MemoryGoalEstimator(model, str(Path(args.checkpoint) / "semantic_head.safetensors"), row, threshold)
    agent = ObjectSearchAgent(est, verify=args.verify)
    return agent, agent


def run_episode(env, act, agent, reset_kwargs: dict[str, Any]) -> dict[str, Any]:
    obs, info = env.reset(**reset_kwargs)
    base = env.unwrapped
    if agent is not None:
        agent.reset()
    seen_at, steps, done = None, 0, False
    while not done:
        if seen_at is None and goal_in_view(base):
            seen_at = steps
        obs, _, term, trunc, info = env.step(act(obs, env))
        steps += 1
        done = term or trunc
    trace = agent.trace if agent is not None else []
    modes = [t["mode"] for t in trace]
    final = next((t["estimate"] for t in reversed(trace) if t["estimate"] is not None), None)
    return {"success": float(info["success"]), "spl": float(info["spl"]), "soft_spl": float(info["soft_spl"]),
            "steps": steps, "stopped": bool(term), "distance_to_goal": float(info["distance_to_goal"]),
            "goal": info["goal_category"], "scene": info["scene_id"], "seen_at": seen_at,
            "estimate_at": modes.index("goal") if "goal" in modes else None,
            "estimate_error": goal_floor_distance(base, final)}


def run_row(row: str, args, episodes, threshold: float | None, desc: str, reset_seeds: list[int] | None = None,
            split: str = "test") -> list[dict[str, Any]]:
    torch.manual_seed(args.seed)
    act, agent = build_actor(row, args, threshold)
    env = make_env(args, split)
    out = []
    n = len(reset_seeds) if reset_seeds is not None else len(episodes)
    for i in tqdm(range(n), desc=desc, leave=False):
        kwargs = {"seed": reset_seeds[i]} if reset_seeds is not None else {"options": {"episode": episodes[i]}}
        out.append(run_episode(env, act, agent, kwargs))
    env.close()
    return out


def _suffix(args) -> str:
    return "_verify" if args.verify else ""


def _name(row: str, args) -> str:
    searching = row not in ("random", "oracle")
    return ROW_NAMES[row] + (" + check on arrival" if args.verify and searching else "")


def cached(path: Path, compute):
    if path.is_file():
        return json.loads(path.read_text())
    value = compute()
    atomic_write(path, json.dumps(value, indent=1))
    return value


def tune_threshold(args) -> tuple[float, list[dict[str, Any]]]:
    """The score threshold with the best success (then SPL) of the dual-memory search on train episodes."""
    seeds = [5000 + i for i in range(args.tune_episodes)]
    table = []
    for thr in [float(t) for t in args.thresholds.split(",")]:
        rows = cached(Path(args.runs) / f"tune_dual_{thr}{_suffix(args)}.json",
                      lambda: run_row("dual", args, None, thr, f"tune {thr}", seeds, split="train"))
        table.append({"threshold": thr, "success": float(np.mean([r["success"] for r in rows])),
                      "spl": float(np.mean([r["spl"] for r in rows])), "episodes": len(rows)})
    best = max(table, key=lambda r: (r["success"], r["spl"]))
    return best["threshold"], table


def summarise(rows: list[dict[str, Any]], short_limit: int) -> dict[str, float]:
    n = len(rows)
    s = np.array([r["success"] for r in rows])
    seen = [r for r in rows if r["seen_at"] is not None]
    est = [r for r in rows if r["estimate_at"] is not None]
    good = [r for r in est if r["estimate_error"] <= 1.0]
    return {
        "episodes": n, "success": float(s.mean()), "success_se": float(s.std() / np.sqrt(n)),
        "spl": float(np.mean([r["spl"] for r in rows])), "soft_spl": float(np.mean([r["soft_spl"] for r in rows])),
        f"success_{short_limit}": float(np.mean([r["success"] and r["steps"] <= short_limit for r in rows])),
        "steps": float(np.mean([r["steps"] for r in rows])),
        "goal_seen": len(seen) / n, "estimated": len(est) / n,
        "estimate_within_1m": len(good) / max(len(est), 1),
        "wrong_stop": float(np.mean([r["stopped"] and not r["success"] for r in rows])),
        "timeout": float(np.mean([not r["stopped"] for r in rows])),
        "seen_never_estimated": float(np.mean([r["seen_at"] is not None and r["estimate_at"] is None for r in rows])),
    }


def markdown(summary: dict[str, dict[str, float]], short_limit: int) -> str:
    lines = [f"| policy | success | SPL | soft SPL | success in {short_limit} steps | steps | goal in view "
             "| estimate made | estimate within 1 m | wrong stop | timeout | episodes |", "|" + "---|" * 12]
    for name, m in summary.items():
        lines.append(f"| {name} | {m['success']:.2f} ± {m['success_se']:.2f} | {m['spl']:.3f} | {m['soft_spl']:.3f} | "
                     f"{m[f'success_{short_limit}']:.2f} | {m['steps']:.0f} | {m['goal_seen']:.2f} | "
                     f"{m['estimated']:.2f} | {m['estimate_within_1m']:.2f} | {m['wrong_stop']:.2f} | "
                     f"{m['timeout']:.2f} | {m['episodes']} |")
    return "\n".join(lines) + "\n"


def record_videos(args, row: str, threshold: float, rows: list[dict[str, Any]], episodes, out: Path) -> list[dict]:
    from envs.wrappers import RecordEpisode

    successes = [i for i, r in enumerate(rows) if r["success"]]
    failures = [i for i, r in enumerate(rows) if not r["success"]]
    picks = successes[:1] + failures[:1]
    written = []
    act, agent = build_actor(row, args, threshold)
    for i in picks:
        env = RecordEpisode(make_env(args), out, name_prefix=f"objectnav_search_{row}{_suffix(args)}_ep{i}")
        r = run_episode(env, act, agent, {"options": {"episode": episodes[i]}})
        env.close()
        written.append({"episode": i, "video": str(env.written[-1][0]),
                        **{k: r[k] for k in ("success", "goal", "steps")}})
    return written


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--episodes", type=int, default=100)
    p.add_argument("--episodes-file", default="episodes/objectnav_test.json.gz")
    p.add_argument("--max-steps", type=int, default=500, help="habitat-lab's ObjectNav limit (the env's default)")
    p.add_argument("--short-limit", type=int, default=128, help="also report success within this many steps")
    p.add_argument("--rows", default="random,oracle,semantic,dual,working,none")
    p.add_argument("--checkpoint", default="checkpoints/vlm2_cpu_small_semantic")
    p.add_argument("--thresholds", default="0.5,0.7,0.9")
    p.add_argument("--tune-episodes", type=int, default=20)
    p.add_argument("--resolution", type=int, default=64)
    p.add_argument("--num-scenes", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--runs", default="outputs/objectnav_search")
    p.add_argument("--out", default="results/policy/objectnav_search")
    p.add_argument("--verify", action="store_true",
                   help="on arrival, face the estimate and stop only if the current frame confirms it")
    p.add_argument("--video-row", default="dual")
    p.add_argument("--video-dir", default="results/policy/videos")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    Path(args.runs).mkdir(parents=True, exist_ok=True)
    episodes = read_episodes(args.episodes_file).episodes[: args.episodes]
    rows = args.rows.split(",")
    threshold, tuning = (tune_threshold(args) if any(r in ("dual", "working", "none") for r in rows) else (None, []))
    results, timing = {}, {}
    for row in rows:
        t = time.perf_counter()
        thr = threshold if row in ("dual", "working", "none") else None
        results[row] = cached(Path(args.runs) / f"{row}_{thr}_{args.max_steps}_{len(episodes)}{_suffix(args)}.json",
                              lambda: run_row(row, args, episodes, thr, _name(row, args)))
        timing[row] = time.perf_counter() - t
    summary = {_name(r, args): summarise(results[r], args.short_limit) for r in rows}
    videos = []
    if args.video_row in results:
        videos = record_videos(args, args.video_row, threshold, results[args.video_row], episodes, Path(args.video_dir))
    report = {"args": vars(args), "threshold": threshold, "tuning": tuning, "summary": summary, "videos": videos,
              "episodes": results, "seconds": timing}
    out = Path(args.out)
    atomic_write(out.with_suffix(".json"), json.dumps(report, indent=1))
    text = markdown(summary, args.short_limit)
    if tuning:
        text += "\nThreshold chosen on train episodes (dual memory): " + ", ".join(
            f"{r['threshold']}: success {r['success']:.2f}, SPL {r['spl']:.3f}" for r in tuning) + f" -> {threshold}\n"
    atomic_write(out.with_suffix(".md"), text)
    print(text)
    return report


if __name__ == "__main__":
    main()
