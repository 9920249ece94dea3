"""Success / SPL on held-out (test-split) scenes: random, trained PPO / RecurrentPPO runs, and the oracle follower.

Each ``--run NAME=RUN_DIR`` is a ``vlm2-train-policy`` run directory (its ``summary.json`` gives
the env / policy config, ``checkpoints/last.zip`` the policy: PPO or RecurrentPPO, read from the
zip). Random and oracle use the first run's env config. Prints a Markdown table, writes
``<out>.json`` and ``<out>.md``, and with ``--curves`` a PNG of the runs' training curves with the
random policy's level.

Usage:
    python experiments/eval_policy.py --run vlm2=outputs/train_policy/pointnav-vlm2-cpu_small-s0 \\
        --run cnn=outputs/train_policy/pointnav-cnn-cpu_small-s0 --episodes 30 --out results/policy/pointnav
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _parse_runs(items: list[str]) -> dict[str, Path]:
    runs = {}
    for item in items:
        if "=" not in item:
            raise SystemExit(f"--run {item!r}: expected NAME=RUN_DIR")
        name, d = item.split("=", 1)
        d = Path(d)
        if not (d / "summary.json").is_file() or not (d / "checkpoints" / "last.zip").is_file():
            raise SystemExit(f"--run {name}: {d} has no summary.json and checkpoints/last.zip (a finished run)")
        runs[name] = d
    return runs


def _episodes_file(args, cfg: dict) -> str | None:
    if args.episodes_file == "none":
        return None
    if args.episodes_file != "auto":
        return args.episodes_file
    if args.split != "test":
        return None
    from vlm2_agent.cli import abs_path
    from vlm2_agent.policy.config import PolicyConfig

    fixed = PolicyConfig.coerce(cfg).test_episodes()
    return str(abs_path(fixed)) if fixed else None


def main(argv: list[str] | None = None) -> dict:
    import torch

    from vlm2_agent.policy.algorithms import PolicyActor, load_model
    from vlm2_agent.policy.report import markdown_table, plot_curves, read_curve
    from vlm2_agent.policy.training import evaluate_nav, write_json

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", action="append", default=[], help="NAME=RUN_DIR of a trained policy (repeatable)")
    p.add_argument("--episodes", type=int, default=30)
    p.add_argument("--split", default="test")
    p.add_argument("--seed", type=int, default=5000)
    p.add_argument("--episodes-file", default="auto",
                   help="habitat-lab episode file to play (json.gz); 'auto': the task's shipped test episodes "
                        "when --split test (policy.tasks.<task>.test_episodes), 'none': seed-based episodes")
    p.add_argument("--out", default="results/policy/eval")
    p.add_argument("--curves", action="store_true", help="also plot the runs' training curves")
    p.add_argument("--stochastic", action="store_true", help="sample policy actions instead of the argmax")
    p.add_argument("--no-baselines", action="store_true", help="skip random and oracle")
    p.add_argument("--trusted", action="store_true",
                   help="let SB3 unpickle the runs' zips itself (only for files you made: pickles can run code)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    runs = _parse_runs(args.run)
    if not runs:
        raise SystemExit("give at least one --run NAME=RUN_DIR (its env config is used for the baselines)")
    cfgs = {n: json.loads((d / "summary.json").read_text())["config"] for n, d in runs.items()}
    base_cfg = {**next(iter(cfgs.values())), "extractor": "none", "memory": None}
    results: dict[str, dict] = {}
    kw = {"seed": args.seed, "split": args.split, "episodes_path": _episodes_file(args, base_cfg)}
    if not args.no_baselines:
        results["random"] = evaluate_nav(lambda o, e: e.action_space.sample(), base_cfg, args.episodes, **kw)
    for name, d in runs.items():
        # Runs from before ``policy.algo`` existed have no algo in their config: take the zip's.
        model = load_model(d / "checkpoints" / "last.zip", algo=cfgs[name].get("algo"), trusted=args.trusted)
        results[name] = evaluate_nav(PolicyActor(model, deterministic=not args.stochastic), cfgs[name],
                                     args.episodes, **kw)
    if not args.no_baselines:
        results["oracle (shortest path)"] = evaluate_nav(lambda o, e: e.unwrapped.oracle_action(), base_cfg,
                                                        args.episodes, **kw)
    out = Path(args.out)
    table = markdown_table(results)
    print(table)
    write_json(out.with_suffix(".json"), {"split": args.split, "episodes": args.episodes, "seed": args.seed,
                                          "episodes_file": kw["episodes_path"],
                                          "runs": {n: str(d) for n, d in runs.items()}, "results": results})
    out.with_suffix(".md").write_text(table + "\n")
    if args.curves:
        curves = {n: read_curve(d / "curve.jsonl") for n, d in runs.items() if (d / "curve.jsonl").is_file()}
        ref = {}
        rnd = next(iter(runs.values())) / "random.json"
        if rnd.is_file():
            ref["random (train scenes)"] = json.loads(rnd.read_text())
        plot_curves(curves, out.with_name(out.name + "_curves.png"), title=out.name, reference=ref)
    return results


if __name__ == "__main__":
    main()
