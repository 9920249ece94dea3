"""RecurrentPPO (sb3-contrib) navigation policies: config, training on VLM2 memory, save/load, acting."""

from __future__ import annotations

import contextlib
import copy

import numpy as np
import pytest
import torch

from vlm2_agent.policy.algorithms import PolicyActor, build_model, load_model, saved_algo
from vlm2_agent.policy.training import evaluate_nav, make_env, make_vec_env

# A tiny random VLM2 for the memory wrapper: no geometry branch, so no point maps are needed.
MEM_VLM2 = {"geometry_source": "none", "use_a3pi": False, "use_vaga": False}
CFG = {"algo": "recurrent_ppo", "task": "pointnav", "extractor": "none", "n_envs": 2, "vec_env": "dummy",
       "sim": {"resolution": [32, 32]}, "env": {"num_scenes": 1, "max_episode_steps": 20, "sensors": ["rgb", "depth"]},
       "vlm2": {"config": MEM_VLM2, "seed": 0}, "memory": {"config": {"memory_mode": "dual"}},
       "recurrent": {"lstm_hidden_size": 16, "n_lstm_layers": 1}, "net_arch": [16], "stop_logit_bias": -3.0,
       "ppo": {"n_steps": 64, "batch_size": 32, "n_epochs": 1}}


@pytest.fixture(scope="module")
def trained():
    """RecurrentPPO trained 256 steps on 2 DummyVecEnv workers; returns (model, initial policy weights)."""
    torch.set_num_threads(1)
    venv = make_vec_env(CFG, seed=0)
    model = build_model(CFG, venv, seed=0)
    init = copy.deepcopy(model.policy.state_dict())
    model.learn(256)
    venv.close()
    return model, init


def _rollout(actor: PolicyActor, env, seed: int) -> list[int]:
    obs, _ = env.reset(seed=seed)
    actions, done = [], False
    while not done:
        actions.append(actor(obs, env))
        obs, _, term, trunc, _ = env.step(actions[-1])
        done = term or trunc
    return actions


@contextlib.contextmanager
def _seeded(seed: int):
    """Torch's RNG seeded for the block (sampled actions), restored afterwards."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        yield


def test_recurrent_ppo_trains_on_vlm2_memory(trained):
    from sb3_contrib import RecurrentPPO

    model, init = trained
    assert isinstance(model, RecurrentPPO) and model.num_timesteps == 256 and model.n_envs == 2
    assert set(model.observation_space.spaces) == {"memory", "pointgoal_with_gps_compass"}
    assert model.observation_space["memory"].shape == (128,)
    lstm = model.policy.lstm_actor
    assert (lstm.hidden_size, lstm.num_layers) == (16, 1)
    assert model._last_lstm_states.pi[0].shape == (1, 2, 16)  # (layers, workers, hidden)
    state = model.policy.state_dict()
    assert not torch.equal(state["lstm_actor.weight_ih_l0"], init["lstm_actor.weight_ih_l0"])  # it did learn
    # The stop-logit bias trick is applied to the recurrent action head too.
    fresh = build_model({**CFG, "n_envs": 1}, make_vec_env({**CFG, "n_envs": 1}, seed=0), seed=0)
    bias = fresh.policy.action_net.bias.detach()
    assert bias[0].item() == pytest.approx(-3.0) and torch.all(bias[1:] == 0)


def test_saved_recurrent_model_acts_the_same(trained, tmp_path):
    model = trained[0]
    model.save(tmp_path / "rppo.zip")
    assert saved_algo(tmp_path / "rppo.zip") == "recurrent_ppo"
    loaded = load_model(tmp_path / "rppo.zip")
    env = make_env(CFG, 0, seed=0, split="test")()
    a, b = PolicyActor(model), PolicyActor(loaded)
    assert a.recurrent and b.recurrent
    first, second = _rollout(a, env, seed=11), _rollout(b, env, seed=11)
    assert len(first) > 1 and first == second
    for sa, sb in zip(a.state, b.state):  # the LSTM carried the same state through the whole episode
        assert np.abs(sa).max() > 0
        np.testing.assert_array_equal(sa, sb)
    # Argmax actions of a barely trained policy hardly vary; seeded sampled actions do, and must
    # match too (they follow the action probabilities step by step).
    a, b = PolicyActor(model, deterministic=False), PolicyActor(loaded, deterministic=False)
    with _seeded(0):
        first = _rollout(a, env, seed=11)
    with _seeded(0):
        second = _rollout(b, env, seed=11)
    env.close()
    assert len(set(first)) > 1 and first == second
    with pytest.raises(ValueError, match="recurrent_ppo.*policy.algo is 'ppo'"):
        load_model(tmp_path / "rppo.zip", algo="ppo")


def test_actor_resets_lstm_between_episodes(trained):
    model = trained[0]
    seen: list[list[int]] = []

    class Recording(PolicyActor):
        def reset(self):
            super().reset()
            seen.append([])

        def __call__(self, obs, env=None):
            seen[-1].append(super().__call__(obs, env))
            return seen[-1][-1]

    # The same seeded episode twice through evaluate_nav with one actor: evaluate_nav resets it.
    actor = Recording(model, deterministic=False)
    with _seeded(1):
        r1 = evaluate_nav(actor, CFG, episodes=1, seed=21, split="test", progress=False)
    stale = actor.state
    with _seeded(1):
        r2 = evaluate_nav(actor, CFG, episodes=1, seed=21, split="test", progress=False)
    assert len(seen) == 2 and len(seen[0]) > 1 and len(set(seen[0])) > 1
    assert seen[0] == seen[1] and r1 == r2
    for s1, s2 in zip(stale, actor.state):
        np.testing.assert_array_equal(s1, s2)
    # Not trivially true: the state left by an episode changes the LSTM output of a first step.
    env = make_env(CFG, 0, seed=0, split="test")()
    obs, _ = env.reset(seed=21)
    env.close()
    _, carried = model.predict(obs, state=stale, episode_start=np.array([False]), deterministic=True)
    _, fresh = model.predict(obs, state=None, episode_start=np.array([True]), deterministic=True)
    assert not np.allclose(carried[0], fresh[0], atol=1e-3)


def test_ppo_path_and_bad_algo(tmp_path):
    from stable_baselines3 import PPO

    cfg = {**CFG, "algo": "ppo", "memory": None, "n_envs": 1}
    model = build_model(cfg, make_vec_env(cfg, seed=0), seed=0)
    assert type(model) is PPO and model.policy.action_net.bias[0].item() == pytest.approx(-3.0)
    model.save(tmp_path / "ppo.zip")
    assert saved_algo(tmp_path / "ppo.zip") == "ppo"
    actor = PolicyActor(load_model(tmp_path / "ppo.zip", algo="ppo"))
    env = make_env(cfg, 0, seed=0, split="test")()
    obs, _ = env.reset(seed=3)
    env.close()
    assert not actor.recurrent
    assert actor(obs, env) == int(model.predict(obs, deterministic=True)[0])
    with pytest.raises(ValueError, match=r"policy\.algo='lstm': expected one of \['ppo', 'recurrent_ppo'\]"):
        build_model({**cfg, "algo": "lstm"}, None, seed=0)
    with pytest.raises(ValueError, match=r"policy\.recurrent: unknown field\(s\) \['hidden'\]"):
        build_model({**CFG, "recurrent": {"hidden": 8}}, None, seed=0)
    (tmp_path / "junk.zip").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="junk.zip: not a stable-baselines3 model zip"):
        load_model(tmp_path / "junk.zip")


def test_train_cli_resume_and_eval_script_with_recurrent_ppo(tmp_path):
    """``vlm2-train-policy policy.algo=recurrent_ppo`` trains, resumes from its zip and evaluates;
    experiments/eval_policy.py loads the run (algo read from the zip) and evaluates it."""
    import importlib.util
    import json
    from pathlib import Path

    from hydra import compose, initialize_config_module

    from vlm2_agent.cli.train_policy import train

    overrides = ["logger=none", "progress=false", "random_baseline_episodes=0", "policy.algo=recurrent_ppo",
                 "policy.extractor=none", "policy.vec_env=dummy", "policy.n_envs=1", "policy.total_timesteps=32",
                 "policy.checkpoint_every=1000", "policy.sim.resolution=[32,32]", "policy.env.num_scenes=1",
                 "policy.env.eval_num_scenes=1", "policy.env.max_episode_steps=10", "policy.env.sensors=[rgb]",
                 "policy.recurrent.lstm_hidden_size=8", "policy.net_arch=[8]", "policy.ppo.n_steps=32",
                 "policy.ppo.batch_size=16", "policy.ppo.n_epochs=1", "policy.eval.episodes=2"]
    with initialize_config_module(config_module="configs", version_base="1.3"):
        cfg = compose("train_policy", overrides=overrides)
        run = tmp_path / "run"
        s = train(cfg, run)
        zip_path = run / "checkpoints" / "last.zip"
        assert saved_algo(zip_path) == "recurrent_ppo" and s["eval"]["episodes"] == 2
        s2 = train(compose("train_policy", overrides=[*overrides, f"resume={zip_path}"]), tmp_path / "resumed")
        assert load_model(tmp_path / "resumed" / "checkpoints" / "last.zip").num_timesteps == 64
        assert s2["eval"]["episodes"] == 2
        with pytest.raises(ValueError, match="saved model is 'recurrent_ppo' but policy.algo is 'ppo'"):
            train(compose("train_policy", overrides=[*overrides, "policy.algo=ppo", f"resume={zip_path}"]),
                  tmp_path / "bad")
    path = Path(__file__).resolve().parents[1] / "experiments" / "eval_policy.py"
    spec = importlib.util.spec_from_file_location("eval_policy", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    out = tmp_path / "table"
    # Same seeds as the CLI's final evaluation (seed + 20000): the reloaded policy scores the same.
    res = script.main(["--run", f"lstm={run}", "--episodes", "2", "--seed", "20000", "--no-baselines",
                       "--out", str(out)])
    assert res["lstm"] == s["eval"]
    assert json.loads(out.with_suffix(".json").read_text())["results"]["lstm"] == res["lstm"]
