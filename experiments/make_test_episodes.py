"""Write the fixed PointNav and ObjectNav test episodes (habitat-lab's ``json.gz``) that evaluation plays.

The episodes come from the ``cpu_small`` policy preset's test env (its test scenes and task
options, e.g. PointNav goals 1-3 m away): episode ``i`` is that env's ``reset(seed=SEED + i)``.
Files are written byte-for-byte reproducibly (gzip without a timestamp), so rerunning this script
on unchanged code leaves ``git status`` clean.

Usage: python experiments/make_test_episodes.py [--episodes 100] [--out episodes]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from envs.datasets import generate_episodes, objectnav_goals, read_episodes, write_episodes

SEED = 50_000  # apart from the training runs' seeds and from evaluate_nav's seed-based episodes


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


def main(argv: list[str] | None = None) -> list[Path]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=100)
    ap.add_argument("--out", default="episodes")
    args = ap.parse_args(argv)
    out = []
    for task, env_id in (("pointnav", "VLM2/PointNav-v0"), ("objectnav", "VLM2/ObjectNav-v0")):
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
