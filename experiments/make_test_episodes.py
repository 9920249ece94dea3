"""Write the fixed PointNav, ObjectNav and ReturnNav test episodes (habitat-lab's ``json.gz``) that evaluation plays.

PointNav and ObjectNav episodes come from the ``cpu_small`` policy preset's test env (its test
scenes and task options, e.g. PointNav goals 1-3 m away): episode ``i`` is that env's
``reset(seed=SEED + i)``. ReturnNav episodes are those of ``experiments/returnnav_search.py``'s
test env: per tour length, tour ``i`` from ``reset(seed=RETURNNAV_SEED + i)``, its own goal and
one goal from each other age bin (:func:`envs.datasets.generate_returnnav_episodes`).
Files are written byte-for-byte reproducibly (gzip without a timestamp), so rerunning this script
on unchanged code leaves ``git status`` clean.

Usage: python experiments/make_test_episodes.py [--episodes 100] [--tasks pointnav,objectnav,returnnav]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from envs.datasets import generate_episodes, objectnav_goals, read_episodes, write_episodes

SEED = 50_000  # apart from the training runs' seeds and from evaluate_nav's seed-based episodes
RETURNNAV_SEED = 9_000  # the ReturnNav search's episodes (experiments/returnnav_search.py)
RETURNNAV_AGE_BINS = (0, 100, 300, 1000, 3000, 5001)  # tour steps since the goal was last seen


def preset_env_kwargs(task: str) -> dict:
    """The test env of the ``cpu_small`` preset for ``task``, as ``gym.make`` keyword arguments."""
    from hydra import compose, initialize_config_module

    from vlm2_agent.policy.config import PolicyConfig
    from vlm2_agent.policy.training import env_kwargs

    with initialize_config_module(config_module="configs", version_base="1.3"):
        cfg = compose("train_policy", overrides=[f"policy.task={task}", "logger=none"])
    kw = env_kwargs(PolicyConfig.coerce(cfg.policy), "test")
    config = {**kw.pop("config"), "sensors": ("depth",), "sim": {"resolution": (8, 8)}}
    return {**config, **kw}


def returnnav_env_kwargs(tour: int) -> dict:
    """The test env of ``experiments/returnnav_search.py`` (8 test scenes, a 64x64 semantic sensor:
    which objects count as seen depends on its resolution)."""
    return {"tour": tour, "sensors": ("semantic",), "sim": {"resolution": (64, 64)},
            "config": {"split": "test", "num_scenes": 8, "max_episode_steps": 300}}


def write_returnnav(out: str | Path, tours: dict[int, int]) -> list[Path]:
    """``returnnav_test_tour<T>.json.gz`` for each tour length T: ``tours[T]`` tours, each with its
    own goal and one goal per other age bin (``RETURNNAV_AGE_BINS``)."""
    from envs.datasets import generate_returnnav_episodes

    paths = []
    for tour, n in tours.items():
        eps = generate_returnnav_episodes(n, RETURNNAV_SEED, returnnav_env_kwargs(tour), RETURNNAV_AGE_BINS)
        path = write_episodes(Path(out) / f"returnnav_test_tour{tour}.json.gz", eps)
        print(f"{path}: {len(eps)} episodes over {n} tours ({path.stat().st_size:,} bytes)")
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> list[Path]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=100)
    ap.add_argument("--tasks", default="pointnav,objectnav,returnnav")
    ap.add_argument("--returnnav-tours", default="1000:100,5000:100", help="tour length:tours, comma-separated")
    ap.add_argument("--out", default="episodes")
    args = ap.parse_args(argv)
    tasks = args.tasks.split(",")
    out = []
    if "returnnav" in tasks:
        tours = dict(x.split(":") for x in args.returnnav_tours.split(","))
        out += write_returnnav(args.out, {int(t): int(n) for t, n in tours.items()})
    for task, env_id in (("pointnav", "VLM2/PointNav-v0"), ("objectnav", "VLM2/ObjectNav-v0")):
        if task not in tasks:
            continue
        kw = preset_env_kwargs(task)
        eps = generate_episodes(env_id, args.episodes, seed=SEED, env_kwargs=kw)
        goals = {}
        if task == "objectnav":
            import gymnasium as gym

            env = gym.make(env_id, **kw)
            goals = objectnav_goals(env, eps)
            env.close()
        path = write_episodes(Path(args.out) / f"{task}_test.json.gz", eps, goals)
        scenes = sorted({e.scene_id for e in read_episodes(path).episodes})
        print(f"{path}: {len(eps)} episodes over {len(scenes)} scenes ({path.stat().st_size:,} bytes)")
        out.append(path)
    return out


if __name__ == "__main__":
    main()
