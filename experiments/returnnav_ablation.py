"""ReturnNav memory ablation: PPO policies with VLM2 memory ``dual`` / ``working`` / ``none`` vs a
plain RGB-D CNN without VLM2, plus random and the oracle follower, on test-split scenes.

Memory variants see [VLM2 readout ; gps ; compass ; goal embeddings] (no image of their own: the
readout already encodes the current frame); the CNN variant sees RGB-D + the same vectors. Each
variant trains with ``vlm2-train-policy`` (config ``train_policy`` + the overrides below), then all
are evaluated on the same test episodes. Writes ``<out>.json``, ``<out>.md`` and ``<out>_curves.png``.

Usage:
    python experiments/returnnav_ablation.py --steps 3000 --episodes 12 --out results/policy/returnnav
    python experiments/returnnav_ablation.py --variants dual none --tour 500
"""

from __future__ import annotations

import argparse
from pathlib import Path

VARIANTS = {
    "vlm2-dual": ["policy.extractor=none", "policy.memory={config:{memory_mode:dual}}"],
    "vlm2-working": ["policy.extractor=none", "policy.memory={config:{memory_mode:working}}"],
    "vlm2-none": ["policy.extractor=none", "policy.memory={config:{memory_mode:none}}"],
    "cnn (no VLM2)": ["policy.extractor=cnn"],
}


def task_overrides(steps: int, tour: int, nav_steps: int, checkpoint: str | None) -> list[str]:
    out = ["policy.task=returnnav", f"policy.total_timesteps={steps}", "policy.eval.episodes=0",
           f"policy.tasks.returnnav.max_episode_steps={nav_steps}", f"policy.tasks.returnnav.task_kwargs.tour={tour}",
           "policy.env.num_scenes=4", "policy.env.eval_num_scenes=8", "random_baseline_episodes=0", "progress=false",
           "policy.ppo.n_steps=64", "policy.ppo.batch_size=64", "logger=none"]
    if checkpoint:
        out.append(f"policy.vlm2.checkpoint={checkpoint}")
    return out


def record_videos(cfg: dict, policy_zip: Path, oracle_cfg: dict, episodes: int, seed: int, out_dir: Path) -> list[dict]:
    """Record test episodes (tour + navigation) of a trained policy and of the oracle follower with
    ``envs.wrappers.RecordEpisode``; returns one row per video (path, success, SPL, goal)."""
    from stable_baselines3 import PPO

    from envs.wrappers import RecordEpisode
    from vlm2_agent.policy.training import make_env

    rows = []
    model = PPO.load(policy_zip, device="cpu")
    for who, c, act in (("dual", cfg, lambda o, e: int(model.predict(o, deterministic=True)[0])),
                        ("oracle", oracle_cfg, lambda o, e: e.unwrapped.oracle_action())):
        rec: list = []
        env = make_env(c, 0, seed, "test", wrap=lambda e: rec.append(RecordEpisode(e, out_dir, name_prefix=who)) or rec[-1],
                       initial_reset=False)()
        for i in range(episodes):
            obs, info = env.reset(seed=seed + i)
            done = False
            while not done:
                obs, _, term, trunc, info = env.step(act(obs, env))
                done = term or trunc
            rows.append({"policy": who, "episode": i, "video": str(rec[0].written[-1][0]), "success": info["success"],
                         "spl": info["spl"], "goal": f"{info['goal_category']} in the {info['goal_room_type']}",
                         "distance_to_goal": info["distance_to_goal"], "tour_steps": info.get("tour_step"),
                         "nav_steps": info.get("nav_steps")})
        env.close()
    return rows


def main(argv: list[str] | None = None) -> dict:
    import torch
    from hydra import compose, initialize_config_module
    from omegaconf import OmegaConf
    from stable_baselines3 import PPO

    from vlm2_agent.cli.train_policy import train
    from vlm2_agent.policy.backbone import find_checkpoint
    from vlm2_agent.policy.report import markdown_table, plot_curves, read_curve
    from vlm2_agent.policy.training import evaluate_nav, write_json

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variants", nargs="*", default=list(VARIANTS), help=f"subset of {list(VARIANTS)}")
    p.add_argument("--steps", type=int, default=3000, help="PPO steps (navigation phase) per variant")
    p.add_argument("--tour", type=int, default=300, help="expert tour steps before the question")
    p.add_argument("--nav-steps", type=int, default=100, help="step limit of the navigation phase")
    p.add_argument("--episodes", type=int, default=12, help="test episodes per policy")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--runs", default="outputs/returnnav_ablation", help="folder of the training runs")
    p.add_argument("--out", default="results/policy/returnnav")
    p.add_argument("--videos", type=int, default=2, help="test episodes to record for the dual policy and the oracle")
    p.add_argument("--video-dir", default="outputs/returnnav_videos")
    p.add_argument("--checkpoint", default="auto", help="VLM2 checkpoint folder, 'auto' (newest under checkpoints/) or 'none'")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    ckpt = None if args.checkpoint == "none" else (
        str(find_checkpoint("checkpoints")) if args.checkpoint == "auto" and find_checkpoint("checkpoints") else
        (None if args.checkpoint == "auto" else args.checkpoint))
    unknown = sorted(set(args.variants) - set(VARIANTS))
    if unknown:
        raise SystemExit(f"--variants: unknown {unknown}, expected some of {list(VARIANTS)}")
    results, curves, cfgs = {}, {}, {}
    with initialize_config_module("configs", version_base="1.3"):
        for name in args.variants:
            cfg = compose("train_policy", overrides=[*task_overrides(args.steps, args.tour, args.nav_steps, ckpt),
                                                     *VARIANTS[name], f"seed={args.seed}"])
            run_dir = Path(args.runs) / name.split()[0]
            done = run_dir / "checkpoints" / "last.zip"
            if not done.is_file():  # resumable: finished variants are kept
                train(cfg, run_dir)
            cfgs[name] = OmegaConf.to_container(cfg.policy, resolve=True)
            if ckpt:
                cfgs[name]["vlm2"]["checkpoint"] = ckpt
            curves[name] = read_curve(run_dir / "curve.jsonl") if (run_dir / "curve.jsonl").is_file() else []
    kw = {"seed": 7000 + args.seed, "split": "test"}
    base = {**next(iter(cfgs.values())), "extractor": "none", "memory": None}
    results["random"] = evaluate_nav(lambda o, e: e.action_space.sample(), base, args.episodes, **kw)
    for name, cfg in cfgs.items():
        model = PPO.load(Path(args.runs) / name.split()[0] / "checkpoints" / "last.zip", device="cpu")
        results[name] = evaluate_nav(lambda o, e, m=model: int(m.predict(o, deterministic=True)[0]), cfg,
                                     args.episodes, **kw)
    results["oracle (shortest path)"] = evaluate_nav(lambda o, e: e.unwrapped.oracle_action(), base, args.episodes, **kw)
    if args.videos and "vlm2-dual" in cfgs:
        results["_videos"] = record_videos(cfgs["vlm2-dual"], Path(args.runs) / "vlm2-dual" / "checkpoints" / "last.zip",
                                           base, args.videos, kw["seed"], Path(args.video_dir))
    videos = results.pop("_videos", None)
    table = markdown_table(results)
    print(table)
    out = Path(args.out)
    write_json(out.with_suffix(".json"), {"steps": args.steps, "tour": args.tour, "nav_steps": args.nav_steps,
                                          "episodes": args.episodes, "vlm2_checkpoint": ckpt, "results": results,
                                          "videos": videos})
    out.with_suffix(".md").write_text(table + "\n")
    plot_curves({k: v for k, v in curves.items() if v}, out.with_name(out.name + "_curves.png"),
                title=f"ReturnNav (tour {args.tour} steps), training episodes")
    return results


if __name__ == "__main__":
    main()
