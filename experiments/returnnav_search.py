"""ReturnNav over long tours by memory-guided search: success, SPL and localisation against the age
of the goal's last sighting, for VLM2's dual / working / none memories and a ground-truth map.

The episodes are habitat-lab files (``episodes/returnnav_test_tour{1000,5000}.json.gz``, written by
``experiments/make_test_episodes.py``): per tour, the episode's own goal and one goal from each
other age bin, all sharing the tour's actions. Each tour is streamed once: every frame goes into one
VLM2 encoder feeding the three memories (``MultiMemoryStreamer``), into a ground-truth recogniser
(the semantic sensor, ``SemanticGoalEstimator``) and into the exploration map. Then for each of
the tour's goals, "go to the <category> in the <room type>", each row navigates from the tour's end
(``ReturnNavEnv.restart_navigation``) with ``ObjectSearchAgent`` (``--verify``: with its check on
arrival): the goal estimate read from its memory (VLM2 rows: the entry the patch classifier scores
highest for the category among entries whose centroid lies in a room of that type; ``--threshold``
0: the question says the goal was seen, so the best entry is taken whatever its score, the read
that did best on train tours in ``experiments/returnnav_read.py``), the shortest path there,
frontier search while there is no estimate. The localisation error is the first estimate's floor
distance to the nearest goal instance; what each memory holds is the distance from the goal to its
nearest entry (a perfect read's error). The main tables use each tour's own goal; the age table and
``<out>_by_age.png`` every goal. Writes ``<out>.{md,json}``; records are cached in ``--runs``.

Usage: python experiments/returnnav_search.py [--tours 100] [--shard K --shards N]
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
from vlm2_agent.policy.memory_goal import MEMORY_MODES, MultiMemoryStreamer, stream_tour  # noqa: E402
from vlm2_agent.policy.object_search import (  # noqa: E402
    ExplorationMap,
    MemoryGoalEstimator,
    ObjectSearchAgent,
    SemanticGoalEstimator,
    entry_world_points,
    goal_floor_distance,
)
from vlm2_base.io import atomic_savefig, atomic_write  # noqa: E402

ROWS = ("semantic", *MEMORY_MODES)
NAMES = {"semantic": "ground-truth map", "dual": "VLM2 memory dual", "working": "VLM2 memory working",
         "none": "VLM2 memory none"}
AGE_BINS = (0, 100, 300, 1000, 3000, 5001)


def in_goal_room(env, points: np.ndarray) -> np.ndarray:
    """Which world points (N, 3) lie in a room of the ReturnNav goal's room type."""
    base = env.unwrapped
    return base.scene.room_types_at(points) == base.goal_room_type


def held_error(base, streamer: MultiMemoryStreamer, mode: str, first_c2w: np.ndarray,
               min_valid: float = 0.05) -> float:
    """What ``mode``'s memory holds at the question: the floor distance (m) from the goal instance
    nearest to any entry with geometry to that entry, as if the read were perfect (inf: no entry)."""
    _, coords, mask = streamer.snapshot(mode)
    usable = mask & (coords[:, 3] >= min_valid)
    if not usable.any():
        return float("inf")
    return min(goal_floor_distance(base, p) for p in entry_world_points(coords[usable], first_c2w))


def play_tour(env, episodes, model, head: str, threshold: float, verify: bool,
              rows: tuple[str, ...] = ROWS) -> list[dict[str, Any]]:
    """One tour (the first of ``episodes``, which share it) streamed once, then each of ``rows``'
    navigation from the tour's end to each episode's goal."""
    base = env.unwrapped
    env.reset(options={"episode": episodes[0]})
    streamer = MultiMemoryStreamer(model, MEMORY_MODES)
    semantic = SemanticGoalEstimator()
    semantic.reset(env)
    seen = ExplorationMap(base.navgrid)

    def observe(env):
        semantic.observe(env)
        seen.observe_env(env)

    first_c2w = stream_tour(env, streamer, on_frame=observe).first_camera_to_world
    out = []
    for ep in episodes:
        out += navigate(env, ep, model, head, threshold, verify, streamer, semantic, seen, first_c2w, rows)
    return out


def goal_kind(episode_id: str) -> str:
    """``episode`` for a tour's own goal, ``age <lo>-<hi>`` for one drawn from an age bin."""
    _, sep, ages = episode_id.partition("-age")
    return f"age {ages}" if sep else "episode"


def navigate(env, ep, model, head, threshold, verify, streamer, semantic, seen, first_c2w, rows=ROWS):
    """Each row's navigation from the tour's end to the goal of ``ep``."""
    base = env.unwrapped
    goal = (ep.object_category, ep.info["room_type"])
    out = []
    for row in rows:
        held = float("nan")
        if row == "semantic":
            est = copy.deepcopy(semantic)
        else:
            est = MemoryGoalEstimator(model, head, row, threshold, region=in_goal_room)
            est.load_state(streamer.states, first_c2w)
            held = held_error(base, streamer, row, first_c2w)
        agent = ObjectSearchAgent(est, verify=verify)
        obs, info = base.restart_navigation(goal=goal)
        age = len(base.tour) - int(info["goal_last_seen"])
        agent.begin(env, seen=seen.seen, reset_estimator=False)
        first = est.estimate(env)
        done = False
        while not done:
            obs, _, term, trunc, info = env.step(agent(obs, env))
            done = term or trunc
        out.append({"row": row, "seed": int(ep.info["seed"]), "episode_id": ep.episode_id,
                    "goal_kind": goal_kind(ep.episode_id), "tour": len(base.tour), "age": age,
                    "success": float(info["success"]), "spl": float(info["spl"]), "nav_steps": int(info["nav_steps"]),
                    "stopped": bool(term), "first_error": goal_floor_distance(base, first), "held_error": held,
                    "goal": f"{base.goal_category} in the {base.goal_room_type}"})
    return out


def run_tours(args, episodes_file: str, tours: int, threshold: float) -> list[dict[str, Any]]:
    """Run (or resume) the first ``tours`` tours of an episode file; with ``--shards N`` only every
    N-th one, into this shard's own file. Returns the records of every shard's file."""
    from envs.datasets import read_episodes
    from vlm2_agent.policy.backbone import build_backbone, strip_language

    by_tour: dict[int, list] = {}
    for ep in read_episodes(episodes_file).episodes:
        by_tour.setdefault(int(ep.info["tour_id"]), []).append(ep)
    chosen = sorted(by_tour)[:tours]
    seeds = {int(by_tour[t][0].info["seed"]) for t in chosen}
    stem = f"{Path(episodes_file).name.split('.')[0]}_thr{threshold}_nav{args.nav_steps}" \
           f"{'_verify' if args.verify else ''}"
    runs = Path(args.runs)
    files = sorted(runs.glob(f"{stem}.jsonl")) + sorted(runs.glob(f"{stem}_shard*.jsonl"))
    done = [json.loads(line) for f in files for line in f.read_text().splitlines()]
    seeds_done = {r["seed"] for r in done}
    todo = [t for t in chosen[args.shard::args.shards] if int(by_tour[t][0].info["seed"]) not in seeds_done]
    path = runs / (f"{stem}.jsonl" if args.shards == 1 else f"{stem}_shard{args.shard}.jsonl")
    if todo:
        model = strip_language(build_backbone({"geometry_source": "oracle"}, args.checkpoint))
        head = str(Path(args.checkpoint) / "semantic_head.safetensors")
        env = make_env(args)
        path.parent.mkdir(parents=True, exist_ok=True)
        for t in tqdm(todo, desc=Path(episodes_file).name):
            rows = play_tour(env, by_tour[t], model, head, threshold, args.verify)
            with open(path, "a") as f:  # one line per row, appended: a stopped run resumes here
                f.write("".join(json.dumps(r) + "\n" for r in rows))
            done += rows
        env.close()
    return [r for r in done if r["seed"] in seeds]


def make_env(args):
    return gym.make("VLM2/ReturnNav-v0", sensors=("rgb", "depth", "semantic"),
                    sim={"resolution": (args.resolution, args.resolution)},
                    config={"split": "test", "num_scenes": args.num_scenes, "max_episode_steps": args.nav_steps})


def record_videos(args, episodes_file: str, rows: list[dict[str, Any]], threshold: float) -> list[dict[str, Any]]:
    """Replay the first success and the first failure of ``--video-row`` (each tour's own goal) with
    a recorder: the tour, then that row's navigation (``<video-dir>/returnnav_search_*.mp4``)."""
    from envs.datasets import read_episodes
    from envs.wrappers import RecordEpisode
    from vlm2_agent.policy.backbone import build_backbone, strip_language

    mine = [r for r in rows if r["row"] == args.video_row and r["goal_kind"] == "episode"]
    picks = [r for r in mine if r["success"]][:1] + [r for r in mine if not r["success"]][:1]
    episodes = {ep.episode_id: ep for ep in read_episodes(episodes_file).episodes}
    model = strip_language(build_backbone({"geometry_source": "oracle"}, args.checkpoint))
    head = str(Path(args.checkpoint) / "semantic_head.safetensors")
    written = []
    for r in picks:
        name = f"returnnav_search_{args.video_row}_tour{r['tour']}_ep{r['episode_id']}"
        env = RecordEpisode(make_env(args), args.video_dir, name_prefix=name, fps=20)
        again = play_tour(env, [episodes[r["episode_id"]]], model, head, threshold, args.verify, (args.video_row,))[0]
        env.close()
        written.append({"video": str(env.written[-1][0]), "episode_id": r["episode_id"], "goal": r["goal"],
                        "success": again["success"], "same_as_run": again["success"] == r["success"]})
    return written


def summary(rows: list[dict[str, Any]]) -> dict[str, float]:
    s = np.array([r["success"] for r in rows])
    err = np.array([r["first_error"] for r in rows])
    return {"episodes": len(rows), "success": float(s.mean()), "success_se": float(s.std() / np.sqrt(len(rows))),
            "spl": float(np.mean([r["spl"] for r in rows])), "within_1m": float(np.mean(err <= 1.0)),
            "median_error": float(np.nanmedian(err)) if np.isfinite(err).any() else float("nan"),
            "no_estimate": float(np.mean(~np.isfinite(err))), "age_median": float(np.median([r["age"] for r in rows])),
            "held_within_1m": float(np.mean([r.get("held_error", np.nan) <= 1.0 for r in rows])),
            "wrong_stop": float(np.mean([r["stopped"] and not r["success"] for r in rows]))}


def age_table(rows: list[dict[str, Any]]) -> str:
    """Success (and n) per row and age bin of the goal's last sighting, over every goal asked."""
    bins = list(zip(AGE_BINS[:-1], AGE_BINS[1:]))
    out = ["\nSuccess by the age of the goal's last sighting (every goal asked: each tour's own goal and "
           "one per other age bin; tours of every length):\n",
           "| memory | " + " | ".join(f"seen {a}-{b - 1} steps ago" for a, b in bins) + " |",
           "|---" * (1 + len(bins)) + "|"]
    for row in ROWS:
        cells = []
        for a, b in bins:
            sel = [r for r in rows if r["row"] == row and a <= r["age"] < b]
            s = np.array([r["success"] for r in sel])
            cells.append(f"{s.mean():.2f} ± {s.std() / np.sqrt(len(s)):.2f} (n={len(s)})" if len(s) else "—")
        out.append(f"| {NAMES[row]} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """Success, SPL and localisation against the age of the goal's last sighting (mean ± standard
    error per age bin; n under each bin). Localisation: the first estimate within 1 m (solid) and
    an entry of the memory within 1 m, what a perfect read would find (dashed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bins = [(a, b) for a, b in zip(AGE_BINS[:-1], AGE_BINS[1:]) if any(a <= r["age"] < b for r in rows)]
    counts = [sum(1 for r in rows if r["row"] == ROWS[0] and a <= r["age"] < b) for a, b in bins]
    labels = [f"{a}-{b - 1}\nn={n}" for (a, b), n in zip(bins, counts)]
    measures = {"success": lambda r: r["success"], "spl": lambda r: r["spl"],
                "first estimate within 1 m": lambda r: float(r["first_error"] <= 1.0),
                "memory holds an entry within 1 m": lambda r: float(r["held_error"] <= 1.0)}
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    colours = dict(zip(ROWS, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    for row in ROWS:
        for name, value in measures.items():
            ax = axes[min(list(measures).index(name), 2)]
            if name == "memory holds an entry within 1 m" and row == "semantic":
                continue
            stats = [np.array([value(r) for r in rows if r["row"] == row and a <= r["age"] < b]) for a, b in bins]
            mean = [v.mean() for v in stats]
            se = [v.std() / np.sqrt(len(v)) for v in stats]
            dashed = name == "memory holds an entry within 1 m"
            ax.errorbar(range(len(bins)), mean, yerr=se, fmt="o--" if dashed else "o-", capsize=3,
                        color=colours[row], label=NAMES[row] if not dashed else None, alpha=0.6 if dashed else 1.0)
    titles = ("success", "SPL", "localisation: first estimate (solid), memory holds (dashed), within 1 m")
    for ax, title in zip(axes, titles):
        ax.set_xticks(range(len(bins)), labels, fontsize=7)
        ax.set_xlabel("steps since the goal was last seen")
        ax.set_title(title, fontsize=8)
        ax.set_ylim(-0.02, 1.02)
    axes[1].legend(fontsize=7, loc="center left", bbox_to_anchor=(0.02, 0.55))  # the empty band of the SPL panel
    fig.tight_layout()
    atomic_savefig(fig, path, dpi=120)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--episodes-files", default="episodes/returnnav_test_tour1000.json.gz,"
                                                "episodes/returnnav_test_tour5000.json.gz",
                   help="habitat-lab ReturnNav episode files (experiments/make_test_episodes.py), comma-separated")
    p.add_argument("--tours", default="100", help="tours to play per file (one number for all)")
    p.add_argument("--nav-steps", type=int, default=300)
    p.add_argument("--threshold", type=float, default=0.0,
                   help="entry score threshold; 0: the question says the goal was seen, so the best entry in the "
                        "goal's room is read whatever its score (chosen on train tours: experiments/returnnav_read.py)")
    p.add_argument("--shard", type=int, default=0, help="with --shards N: run every N-th tour only, then exit")
    p.add_argument("--shards", type=int, default=1)
    p.add_argument("--verify", action="store_true", help="the check on arrival (ObjectSearchAgent(verify=True))")
    p.add_argument("--checkpoint", default="checkpoints/vlm2_cpu_small_semantic")
    p.add_argument("--resolution", type=int, default=64)
    p.add_argument("--num-scenes", type=int, default=8)
    p.add_argument("--videos", action="store_true", help="record a success and a failure of --video-row per file")
    p.add_argument("--video-row", default="dual")
    p.add_argument("--video-dir", default="results/policy/videos")
    p.add_argument("--runs", default="outputs/returnnav_search")
    p.add_argument("--out", default="results/policy/returnnav_search")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    threshold = args.threshold
    files = args.episodes_files.split(",")
    counts = [int(n) for n in args.tours.split(",")]
    counts = counts * len(files) if len(counts) == 1 else counts
    all_rows, text, videos, t0 = [], [], [], time.perf_counter()
    for file, n in zip(files, counts):
        rows = run_tours(args, file, n, threshold)
        if args.shards > 1:
            continue
        all_rows += rows
        if args.videos:
            videos += record_videos(args, file, rows, threshold)
        rows = [r for r in rows if r.get("goal_kind", "episode") == "episode"]
        longest = max(r["tour"] for r in rows)
        text.append(f"\nTours of up to {longest} steps (`{file}`: {len(rows) // len(ROWS)} tours, each row on its "
                    "own goal; median age of the last sighting "
                    f"{np.median([r['age'] for r in rows if r['row'] == 'semantic']):.0f} steps):\n")
        text.append("| memory | success | SPL | first estimate within 1 m | median error (m) | no estimate "
                    "| wrong stop | memory holds an entry within 1 m |")
        text.append("|---|---|---|---|---|---|---|---|")
        for row in ROWS:
            m = summary([r for r in rows if r["row"] == row])
            text.append(f"| {NAMES[row]} | {m['success']:.2f} ± {m['success_se']:.2f} | {m['spl']:.3f} | "
                        f"{m['within_1m']:.2f} | {m['median_error']:.2f} | {m['no_estimate']:.2f} | "
                        f"{m['wrong_stop']:.2f} | {'-' if row == 'semantic' else format(m['held_within_1m'], '.2f')} |")
    if args.shards > 1:
        return
    text.append(age_table(all_rows))
    out = Path(args.out)
    plot(all_rows, out.parent / (out.name + "_by_age.png"))
    body = "\n".join(text) + f"\n\nThreshold {threshold}; {time.perf_counter() - t0:.0f} s.\n"
    atomic_write(out.with_suffix(".md"), body)
    report = {"args": vars(args), "threshold": threshold, "videos": videos, "rows": all_rows}
    atomic_write(out.with_suffix(".json"), json.dumps(report, indent=1))
    print(body)


if __name__ == "__main__":
    main()
