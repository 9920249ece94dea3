"""ReturnNav with a goal-conditioned read of VLM2's memory: which memory remembers where things were?

1. Tours: ``--train-tours`` ReturnNav tours on train scenes and ``--test-tours`` on test scenes are
   streamed once into VLM2 with every memory mode side by side (``MultiMemoryStreamer``); at each
   tour's end the memory tokens, their entries' 3D centroids and every object seen are kept
   (``<runs>/tours_<split>.npz``, reused when present).
2. Locators: one ``GoalLocator`` per memory mode learns, on the train tours, to point at
   "the <category> in the <room type>" (``<runs>/locator_<mode>/``).
3. Localisation on test tours: error (m) from the estimate to the nearest instance, by how long ago
   the object was last seen, against what the memory holds at best (its entry nearest to the
   object) and against knowing nothing (the agent's own position).
4. Navigation on test episodes: after the tour, the estimate (snapped to the floor) drives either
   the shortest-path follower (isolates the memory) or a learned PointNav policy (``--pointnav``,
   an SB3 zip trained with ``vlm2-train-policy``), beside random and the oracle (true goal).
   Every navigator runs on the same tour (``ReturnNavEnv.restart_navigation``).
5. Videos of a successful and a failed episode of ``--video-mode`` with the learned policy.

Writes ``<out>.md``, ``<out>.json`` and ``<out>_error_by_age.png``.

Usage:
    python experiments/returnnav_memory.py --pointnav outputs/train_policy/pointnav-vlm2-s0/checkpoints/last.zip
    python experiments/returnnav_memory.py --train-tours 20 --test-tours 8 --episodes 8 --runs /tmp/rn
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

AGE_BINS = ((0, 10), (10, 50), (50, 100), (100, 10_000))


def env_config(args) -> dict[str, Any]:
    return {"task": "returnnav", "sim": {"resolution": [64, 64]},
            "env": {"sensors": ["rgb", "depth"], "num_scenes": args.train_scenes, "eval_num_scenes": args.test_scenes,
                    "max_cached_scenes": 4, "max_episode_steps": args.nav_steps,
                    "task_kwargs": {"tour": args.tour, "min_pixels": 20}}}


def tours(args, split: str, episodes: int, seed: int):
    from vlm2_agent.policy.memory_goal import TourData, collect_tours
    from vlm2_agent.policy.training import env_kwargs

    path = Path(args.runs) / f"tours_{split}.npz"
    if path.is_file():
        return TourData.load(path)
    data = collect_tours(env_kwargs(env_config(args), split), args.checkpoint, episodes, seed)
    data.save(path)
    return data


def localisation_rows(errors: dict[str, dict[str, np.ndarray]]) -> list[dict[str, Any]]:
    """Median error and share within 1 m, overall and per age bin, for each estimate."""
    rows = []
    first = next(iter(errors.values()))
    named = {f"locator, memory {m}": e["error"] for m, e in errors.items()}
    named.update({f"best entry in memory {m} (upper bound)": e["best_entry"] for m, e in errors.items()})
    named["agent's own position (no memory)"] = first["agent"]
    for name, err in named.items():
        row = {"estimate": name, "median_m": float(np.median(err)), "within_1m": float(np.mean(err < 1.0)), "goals": len(err)}
        for lo, hi in AGE_BINS:
            sel = (first["age"] >= lo) & (first["age"] < hi)
            row[f"median_age_{lo}_{hi}"] = float(np.median(err[sel])) if sel.any() else None
        rows.append(row)
    return rows


def localisation_table(rows: list[dict[str, Any]], ages: np.ndarray) -> str:
    counts = [int(((ages >= lo) & (ages < hi)).sum()) for lo, hi in AGE_BINS]
    head = " | ".join(f"seen {lo}-{hi if hi < 10_000 else '…'} steps ago (n={n})" for (lo, hi), n in zip(AGE_BINS, counts))
    out = [f"| estimate | median error (m) | within 1 m | {head} |", "|---" * (3 + len(AGE_BINS)) + "|"]
    for r in rows:
        bins = " | ".join("—" if r[f"median_age_{lo}_{hi}"] is None else f"{r[f'median_age_{lo}_{hi}']:.2f}"
                          for lo, hi in AGE_BINS)
        out.append(f"| {r['estimate']} | {r['median_m']:.2f} | {r['within_1m']:.2f} | {bins} |")
    return "\n".join(out)


def navigate(env, act) -> dict[str, Any]:
    """Run the navigation phase with ``act(obs) -> action`` from the tour's end; the episode's measures."""
    obs, info = env.unwrapped.restart_navigation()
    done = False
    while not done:
        obs, _, term, trunc, info = env.step(int(act(obs)))
        done = term or trunc
    return {k: float(info[k]) for k in ("success", "spl", "soft_spl", "distance_to_goal")}


def pointnav_actor(model_path: str | None):
    if not model_path:
        return None
    from vlm2_agent.policy.algorithms import PolicyActor, load_model

    return PolicyActor(load_model(model_path))


def navigation(args, locators: dict, pointnav, others: dict | None = None) -> tuple[dict[str, list[dict[str, Any]]], list[dict[str, Any]]]:
    """Every navigator on the same test episodes; returns per-navigator episode rows and the goals.
    ``others``: name -> actor of policies that act on ReturnNav's own observations (e.g. an
    ObjectNav policy searching for the category: a navigator without memory)."""
    import gymnasium as gym
    from tqdm.auto import tqdm

    from vlm2_agent.policy.backbone import build_backbone, strip_language
    from vlm2_agent.policy.memory_goal import MultiMemoryStreamer, estimate_goal, run_tour
    from vlm2_agent.policy.training import env_kwargs

    env = gym.make("VLM2/ReturnNav-v0", **env_kwargs(env_config(args), "test"))
    streamer = MultiMemoryStreamer(strip_language(build_backbone(None, args.checkpoint)), tuple(locators))
    rows: dict[str, list[dict[str, Any]]] = {}
    goals = []
    rng = np.random.default_rng(args.seed)
    for i in tqdm(range(args.episodes), desc="episodes"):
        info = run_tour(env, streamer, args.seed + 7000 + i).info
        base = env.unwrapped
        estimates = {mode: estimate_goal(env, streamer, loc, mode) for mode, loc in locators.items()}
        goals.append({"episode": i, "goal": f"{base.goal_category} in the {base.goal_room_type}",
                      "age": len(base.tour) - info["goal_last_seen"] if "goal_last_seen" in info else None,
                      "start_distance": float(base.distance_to_goal)})
        navigators = {"random": lambda o: rng.integers(4), "oracle (true goal, shortest path)": lambda o: base.oracle_action()}
        for mode, goal in estimates.items():
            navigators[f"memory {mode} + shortest path"] = lambda o, g=goal: base.shortest_path_action(g)
            if pointnav is not None:
                navigators[f"memory {mode} + learned PointNav policy"] = lambda o, g=goal: pointnav(pointgoal_observation(env, o, g))
        for name, actor in (others or {}).items():
            navigators[name] = actor
        for name, act in navigators.items():
            for a in (pointnav, *(others or {}).values()):
                if hasattr(a, "reset"):
                    a.reset()
            rows.setdefault(name, []).append({**navigate(env, act), "episode": i})
    env.close()
    return rows, goals


def pointgoal_observation(env, obs: dict[str, np.ndarray], goal: np.ndarray) -> dict[str, np.ndarray]:
    """A PointNav policy's observation in a ReturnNav episode: its images, and the world point
    ``goal`` as ``pointgoal_with_gps_compass`` from the episode's ``gps`` / ``compass``."""
    from vlm2_agent.policy.goal_locator import polar_from_gps

    xy = env.unwrapped.to_start_frame(goal)[0]
    return {"rgb": obs["rgb"], "depth": obs["depth"], "pointgoal_with_gps_compass": polar_from_gps(xy, obs["gps"], obs["compass"])}


def navigation_table(rows: dict[str, list[dict[str, Any]]]) -> tuple[str, dict[str, dict[str, float]]]:
    from vlm2_agent.policy.report import markdown_table

    summary = {}
    for name, eps in rows.items():
        s = {k: float(np.mean([e[k] for e in eps])) for k in ("success", "spl", "soft_spl", "distance_to_goal")}
        s["success_se"] = float(np.std([e["success"] for e in eps]) / np.sqrt(len(eps)))
        s["episodes"] = len(eps)
        summary[name] = s
    return markdown_table(summary, first="navigator", last=("final distance (m)", "distance_to_goal")), summary


def plot_error_by_age(errors: dict[str, dict[str, np.ndarray]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from vlm2_base.io import atomic_savefig

    fig, ax = plt.subplots(figsize=(6.5, 4))
    centres = np.array([np.sqrt(max(lo, 1) * min(hi, 200)) for lo, hi in AGE_BINS])

    def by_age(err: np.ndarray, age: np.ndarray) -> np.ndarray:
        return np.array([np.median(err[(age >= lo) & (age < hi)]) if ((age >= lo) & (age < hi)).any() else np.nan
                         for lo, hi in AGE_BINS])

    for mode, e in errors.items():
        ax.plot(centres, by_age(e["error"], e["age"]), "o-", label=f"locator, memory {mode}")
        ax.plot(centres, by_age(e["best_entry"], e["age"]), ":", color=ax.lines[-1].get_color(),
                label=f"best entry, memory {mode}")
    e0 = next(iter(errors.values()))
    ax.plot(centres, by_age(e0["agent"], e0["age"]), "k--", label="agent's position (no memory)")
    ax.set_xscale("log")
    ax.set_xlabel("tour steps since the goal object was last seen")
    ax.set_ylabel("median localisation error (m)")
    ax.set_title("Where was the <category> in the <room>? (test scenes)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    atomic_savefig(fig, path, dpi=120)
    plt.close(fig)


def record_videos(args, locator, mode: str, pointnav, episodes: list[int], out_dir: Path) -> list[dict[str, Any]]:
    """Re-run test episodes with a recorder (tour + navigation with ``mode``'s estimate and the learned policy)."""
    import gymnasium as gym

    from envs.wrappers import RecordEpisode
    from vlm2_agent.policy.backbone import build_backbone, strip_language
    from vlm2_agent.policy.memory_goal import MultiMemoryStreamer, estimate_goal, run_tour
    from vlm2_agent.policy.training import env_kwargs

    streamer = MultiMemoryStreamer(strip_language(build_backbone(None, args.checkpoint)), (mode,))
    out = []
    for i in episodes:
        env = RecordEpisode(gym.make("VLM2/ReturnNav-v0", **env_kwargs(env_config(args), "test")), out_dir,
                            name_prefix=f"returnnav_memory_{mode}_ep{i}")
        run_tour(env, streamer, args.seed + 7000 + i)
        base = env.unwrapped
        goal = estimate_goal(env, streamer, locator, mode)
        obs = base._observation()  # the first navigation observation (run_tour stepped through the tour)
        pointnav.reset()
        done = False
        while not done:
            obs, _, term, trunc, info = env.step(pointnav(pointgoal_observation(env, obs, goal)))
            done = term or trunc
        env.close()
        out.append({"episode": i, "video": str(env.written[-1][0]), "success": float(info["success"]),
                    "goal": f"{base.goal_category} in the {base.goal_room_type}",
                    "distance_to_goal": float(info["distance_to_goal"]), "nav_steps": int(info["nav_steps"])})
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    import torch

    from envs.gym.objectnav import default_categories
    from envs.gym.returnnav import default_room_types
    from vlm2_agent.policy.goal_locator import GoalLocator
    from vlm2_agent.policy.memory_goal import MEMORY_MODES, locator_errors, train_locator
    from vlm2_agent.policy.training import write_json

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", default="checkpoints/vlm2_cpu_small", help="VLM2 checkpoint folder (oracle geometry)")
    p.add_argument("--pointnav", default=None, help="SB3 zip of a PointNav policy (rgb, depth, pointgoal) to drive with the estimate")
    p.add_argument("--policy", action="append", default=[], metavar="NAME=ZIP",
                   help="a policy acting on ReturnNav's own observations (e.g. an ObjectNav policy: no memory)")
    p.add_argument("--modes", nargs="*", default=list(MEMORY_MODES))
    p.add_argument("--tour", type=int, default=200)
    p.add_argument("--nav-steps", type=int, default=150)
    p.add_argument("--train-tours", type=int, default=120)
    p.add_argument("--test-tours", type=int, default=40)
    p.add_argument("--train-scenes", type=int, default=24)
    p.add_argument("--test-scenes", type=int, default=8)
    p.add_argument("--locator-steps", type=int, default=1500)
    p.add_argument("--semantic-head", default="auto",
                   help="perception head to start the locator's category scorer from: a file, 'none', or "
                        "'auto' (<checkpoint>/semantic_head.safetensors when it exists)")
    p.add_argument("--episodes", type=int, default=30, help="navigation test episodes")
    p.add_argument("--videos", type=int, default=1, help="successful and failed episodes to record (each)")
    p.add_argument("--video-mode", default="dual")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--runs", default="outputs/returnnav_memory")
    p.add_argument("--out", default="results/policy/returnnav_memory")
    p.add_argument("--video-dir", default="results/policy/videos")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    Path(args.runs).mkdir(parents=True, exist_ok=True)
    train, test = tours(args, "train", args.train_tours, 0), tours(args, "test", args.test_tours, 7000)
    n_cat, n_room = len(default_categories()), len(default_room_types())
    head = None if args.semantic_head == "none" else args.semantic_head
    if head == "auto":
        found = Path(args.checkpoint) / "semantic_head.safetensors"
        head = str(found) if found.is_file() else None
    locators, errors, losses = {}, {}, {}
    for mode in args.modes:
        folder = Path(args.runs) / f"locator_{mode}"
        if (folder / "goal_locator.safetensors").is_file():
            locators[mode] = GoalLocator.from_pretrained(folder)
        else:
            locators[mode], losses[mode] = train_locator(train, mode, n_cat, n_room, args.locator_steps, seed=args.seed,
                                                         semantic_head=head)
            locators[mode].save_pretrained(folder)
        errors[mode] = locator_errors(locators[mode], test, mode)
    loc_rows = localisation_rows(errors)
    loc_md = localisation_table(loc_rows, test.age)
    print(loc_md)
    out = Path(args.out)
    plot_error_by_age(errors, out.with_name(out.name + "_error_by_age.png"))
    pointnav = pointnav_actor(args.pointnav)
    others = {}
    for item in args.policy:
        name, _, path = item.partition("=")
        if not path:
            raise SystemExit(f"--policy {item!r}: expected NAME=ZIP")
        others[name] = pointnav_actor(path)
    nav_rows, goals = navigation(args, locators, pointnav, others)
    nav_md, nav_summary = navigation_table(nav_rows)
    print(nav_md)
    videos = []
    key = f"memory {args.video_mode} + learned PointNav policy"
    if args.videos and pointnav is not None and key in nav_rows:
        ok = [r["episode"] for r in nav_rows[key] if r["success"]][: args.videos]
        bad = [r["episode"] for r in nav_rows[key] if not r["success"]][: args.videos]
        videos = record_videos(args, locators[args.video_mode], args.video_mode, pointnav, ok + bad, Path(args.video_dir))
    result = {"args": vars(args), "localisation": loc_rows, "navigation": nav_summary, "episodes": nav_rows,
              "goals": goals, "videos": videos, "train_goals": len(train.episode), "test_goals": len(test.episode),
              "locator_final_loss": {m: float(np.mean(v[-100:])) for m, v in losses.items()}}
    write_json(out.with_suffix(".json"), result)
    md = f"## Localisation ({len(test.episode)} goals in {args.test_tours} test tours)\n\n{loc_md}\n\n" \
         f"## Navigation ({args.episodes} test episodes)\n\n{nav_md}\n"
    out.with_suffix(".md").write_text(md)
    return result


if __name__ == "__main__":
    main()
