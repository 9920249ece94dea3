"""``vlm2-train-policy``: PPO / RecurrentPPO navigation policies (config ``configs/train_policy.yaml``,
group ``policy``; ``policy.algo`` picks the algorithm).

Writes to the Hydra run dir: ``checkpoints/step_<n>.zip`` and ``last.zip`` (SB3 ``save``),
``curve.jsonl`` (success / SPL / return of recent training episodes per rollout), ``random.json``
(a random policy on the same envs, the reference line) and ``eval.json`` (test split).

Example (shell)::

    vlm2-train-policy policy.extractor=cnn logger=none
    vlm2-train-policy policy.algo=recurrent_ppo policy.recurrent.lstm_hidden_size=128 logger=none
    python experiments/train_policy.py policy.total_timesteps=20000
"""

from __future__ import annotations

import time
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from vlm2_agent.cli import abs_path, vlm2_app


def train(cfg: DictConfig, run_dir: Path) -> dict:
    """Train (or resume), checkpoint, and evaluate on the test split; returns the summary."""
    import torch
    from stable_baselines3.common.callbacks import CallbackList, CheckpointCallback

    from vlm2_agent.policy.algorithms import PolicyActor, build_model, load_model
    from vlm2_agent.policy.backbone import check_backbone_checkpoint
    from vlm2_agent.policy.config import PolicyConfig
    from vlm2_agent.policy.training import env_config, evaluate_nav, make_vec_env, nav_metrics_callback, write_json
    from vlm2_base.logger import make_logger

    pcfg = PolicyConfig.coerce(cfg.policy)  # fails on a bad value before any env is built
    env_config(pcfg, "train")  # and on a bad env or sim value, before the checkpoint is looked for
    if pcfg.torch_threads:
        torch.set_num_threads(pcfg.torch_threads)  # 2 shared cores: more threads only contend
    if pcfg.vlm2.checkpoint:
        pcfg.vlm2.checkpoint = str(abs_path(pcfg.vlm2.checkpoint))
        if pcfg.extractor == "vlm2" or pcfg.memory is not None:
            check_backbone_checkpoint(pcfg.vlm2.checkpoint)  # before the baseline episodes, not after
    if cfg.resume and not abs_path(cfg.resume).is_file():
        raise FileNotFoundError(f"resume={cfg.resume!r}: no such file (an SB3 .zip written by vlm2-train-policy)")
    seed = int(cfg.seed)
    logger = make_logger(cfg.logger, run_dir, OmegaConf.to_container(cfg, resolve=True))
    summary: dict = {"config": pcfg.to_dict(), "seed": seed}
    try:
        if cfg.random_baseline_episodes:
            rnd = evaluate_nav(lambda o, e: e.action_space.sample(), pcfg, int(cfg.random_baseline_episodes),
                               seed=seed + 10_000, split="train", progress=bool(cfg.progress))
            write_json(run_dir / "random.json", rnd)
            summary["random_train"] = rnd
        venv = make_vec_env(pcfg, seed, "train")
        tensorboard = str(run_dir / "tensorboard") if cfg.tensorboard else None
        if cfg.resume:
            model = load_model(abs_path(cfg.resume), algo=pcfg.algo, env=venv, trusted=bool(cfg.get("trusted", False)))
            model.verbose, model.tensorboard_log = int(cfg.verbose), tensorboard
        else:
            model = build_model(pcfg, venv, seed, tensorboard_log=tensorboard, verbose=int(cfg.verbose))
        n_envs = venv.num_envs
        callbacks = CallbackList([
            CheckpointCallback(max(pcfg.checkpoint_every // n_envs, 1),
                               str(run_dir / "checkpoints"), name_prefix="step"),
            nav_metrics_callback(run_dir / "curve.jsonl", logger),
        ])
        t0 = time.time()
        model.learn(pcfg.total_timesteps, callback=callbacks, progress_bar=bool(cfg.progress),
                    reset_num_timesteps=not cfg.resume)
        summary["train_seconds"] = time.time() - t0
        model.save(run_dir / "checkpoints" / "last.zip")
        venv.close()
        if pcfg.eval.episodes:
            fixed = pcfg.test_episodes() if pcfg.eval.split == "test" else None
            summary["eval"] = evaluate_nav(PolicyActor(model), pcfg, pcfg.eval.episodes, seed=seed + 20_000,
                                           split=pcfg.eval.split, progress=bool(cfg.progress),
                                           episodes_path=abs_path(fixed) if fixed else None)
            logger.log({f"eval/{k}": v for k, v in summary["eval"].items()})
        write_json(run_dir / "summary.json", summary)
    finally:
        logger.finish()
    return summary


@vlm2_app("train_policy")
def main(cfg: DictConfig) -> None:
    from vlm2_base.io import folder_lock

    run_dir = Path(hydra.core.hydra_config.HydraConfig.get().runtime.output_dir)
    with folder_lock(run_dir, "policy training run"):
        s = train(cfg, run_dir)
    if "eval" in s:
        e = s["eval"]
        print(f"test split: success {e['success']:.3f}  SPL {e['spl']:.3f}  return {e['reward']:.2f} "
              f"({e['episodes']} episodes); run dir {run_dir}")


if __name__ == "__main__":
    main()
