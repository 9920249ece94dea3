"""Navigation policies on the VLM2 backbone: memory wrapper, features extractor, save/load, ReturnNav."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import vlm2_agent.policy  # noqa: F401  (registers VLM2/ReturnNav-v0)
from envs.wrappers import visible_counts
from vlm2_agent.policy import SkipTour, VLM2FeaturesExtractor, VLM2MemoryWrapper

POINTNAV = {"config": {"sensors": ("rgb", "depth"), "num_scenes": 1, "sim": {"resolution": (32, 32)},
                       "max_episode_steps": 30}}
VLM2_TINY = {"geometry_source": "oracle"}
VLM2_SMALL = {"geometry_source": "oracle", "hidden_size": 32, "geometry_dim": 16, "num_heads": 2,
              "vision_config": {"model_type": "siglip_vision_model", "hidden_size": 32, "intermediate_size": 64,
                                "num_hidden_layers": 1, "num_attention_heads": 2, "image_size": 32,
                                "patch_size": 8, "vision_use_head": False}}


def _memory_env(seed: int = 0) -> VLM2MemoryWrapper:
    return VLM2MemoryWrapper(gym.make("VLM2/PointNav-v0", **POINTNAV), vlm2=VLM2_TINY, seed=seed)


def test_readout_fixed_size_and_reset_equals_fresh_wrapper():
    env = _memory_env()
    obs, _ = env.reset(seed=3)
    sizes = {obs["memory"].shape}
    first = obs["memory"].copy()
    for a in [1, 2, 1, 1, 3, 1, 2, 1, 1, 1]:
        obs, *_ = env.step(a)
        sizes.add(obs["memory"].shape)
    assert sizes == {(128,)} and env.observation_space["memory"].shape == (128,)
    assert not np.allclose(obs["memory"], first)  # the memory did move along the episode
    after, _ = env.reset(seed=5)
    fresh, _ = _memory_env().reset(seed=5)
    np.testing.assert_allclose(after["memory"], fresh["memory"], rtol=1e-5, atol=1e-6)
    assert env.frames_observed == 1
    # Different weight seeds give different readouts: the check above is not trivially true.
    assert not np.allclose(_memory_env(seed=1).reset(seed=5)[0]["memory"], fresh["memory"])


def test_vector_workers_have_own_memory_and_autoreset_clears_it():
    from stable_baselines3.common.vec_env import DummyVecEnv

    venv = DummyVecEnv([_memory_env, _memory_env])
    venv.seed(0)
    venv.reset()
    wrappers = [e for e in venv.envs]
    assert wrappers[0].streamer is not wrappers[1].streamer
    assert wrappers[0].streamer.model.vision_proj.weight.data_ptr() != wrappers[1].streamer.model.vision_proj.weight.data_ptr()
    for _ in range(4):
        venv.step(np.array([1, 2]))
    obs, _, dones, _ = venv.step(np.array([0, 1]))  # stop ends worker 0's episode; SB3 resets it
    assert dones.tolist() == [True, False]
    # A fresh memory fed only the frame worker 0 sees now gives the same readout.
    fresh = VLM2MemoryWrapper(wrappers[0].env, vlm2=VLM2_TINY, seed=0)
    fresh.on_reset()
    fresh.on_frame()
    np.testing.assert_allclose(obs["memory"][0], fresh.observation({})["memory"], rtol=1e-5, atol=1e-6)
    assert wrappers[0].frames_observed == 1 and wrappers[1].frames_observed == 6


def _space():
    return gym.spaces.Dict({
        "rgb": gym.spaces.Box(0, 255, (32, 32, 3), np.uint8),
        "depth": gym.spaces.Box(0.0, 10.0, (32, 32, 1), np.float32),
        "objectgoal": gym.spaces.Box(0, 9, (1,), np.int64),
        "gps": gym.spaces.Box(-100, 100, (2,), np.float32),
    })


@pytest.mark.parametrize("freeze", [True, False])
def test_extractor_shape_and_gradients(freeze):
    ext = VLM2FeaturesExtractor(_space(), vlm2=VLM2_TINY, freeze=freeze, embed_dim=8)
    assert ext.features_dim == 128 + 8 + 64
    g = torch.Generator().manual_seed(0)
    obs = {"rgb": torch.rand(3, 3, 32, 32, generator=g), "depth": 1 + 3 * torch.rand(3, 32, 32, 1, generator=g),
           "objectgoal": torch.tensor([[0.0], [4.0], [9.0]]), "gps": torch.randn(3, 2, generator=g)}
    out = ext.train()(obs)
    assert out.shape == (3, 200)
    torch.testing.assert_close(out[:, :128].mean(dim=1), torch.zeros(3), atol=1e-4, rtol=0)  # layer-normalised
    out.square().sum().backward()
    assert ext.vectors.embeds["objectgoal"].weight.grad.abs().sum() > 0
    assert ext.vectors.vector_net[0].weight.grad.abs().sum() > 0
    grads = [p.grad for p in ext.backbone.vision.parameters()]
    if freeze:
        assert all(g is None for g in grads) and not ext.backbone.training
        assert not any(p.requires_grad for p in ext.backbone.parameters())
    else:
        assert sum(float(g.abs().sum()) for g in grads if g is not None) > 0
        assert ext.backbone.geometry.encoder[0].weight.grad.abs().sum() > 0


def test_cnn_extractor_shape_gradients_and_legacy_vlm2_weights():
    from vlm2_agent.policy.extractor import RGBDCNNExtractor

    space = gym.spaces.Dict({**_space().spaces, "rgb": gym.spaces.Box(0, 255, (64, 64, 3), np.uint8),
                             "depth": gym.spaces.Box(0, 10, (64, 64, 1), np.float32)})
    ext = RGBDCNNExtractor(space, cnn_output_dim=32, embed_dim=8)
    g = torch.Generator().manual_seed(0)
    obs = {"rgb": torch.randint(0, 256, (3, 64, 64, 3), generator=g).float(), "depth": 5 * torch.rand(3, 64, 64, 1, generator=g),
           "objectgoal": torch.tensor([[0.0], [4.0], [9.0]]), "gps": torch.randn(3, 2, generator=g)}
    out = ext(obs)
    assert out.shape == (3, 32 + 8 + 64) == (3, ext.features_dim)
    out.square().sum().backward()
    assert ext.cnn[0].weight.grad.abs().sum() > 0 and ext.vectors.vector_net[0].weight.grad.abs().sum() > 0
    # a VLM2 extractor saved with the former flat key names (vector_net.*, embeds.*) still loads
    vlm2 = VLM2FeaturesExtractor(_space(), vlm2=VLM2_TINY, embed_dim=8)
    legacy = {k.replace("vectors.", ""): v + 1.0 for k, v in vlm2.state_dict().items()}
    vlm2.load_state_dict(legacy)
    torch.testing.assert_close(vlm2.vectors.vector_net[0].bias, legacy["vector_net.0.bias"])


def test_policy_save_load_is_bit_equal(tmp_path):
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv

    from vlm2_agent.policy.training import policy_kwargs

    venv = DummyVecEnv([lambda: gym.make("VLM2/PointNav-v0", **POINTNAV)])
    cfg = {"extractor": "vlm2", "vlm2": {"config": VLM2_SMALL, "freeze": False}, "net_arch": [16]}
    model = PPO("MultiInputPolicy", venv, n_steps=16, batch_size=8, n_epochs=1, seed=0, device="cpu",
                policy_kwargs=policy_kwargs(cfg))
    model.learn(16)
    model.save(tmp_path / "ppo.zip")
    loaded = PPO.load(tmp_path / "ppo.zip", device="cpu")
    env = gym.make("VLM2/PointNav-v0", **POINTNAV)
    obs, _ = env.reset(seed=7)
    batch = [obs] + [env.step(a)[0] for a in (1, 2, 2, 1, 3)]
    stacked = {k: np.stack([o[k] for o in batch]) for k in obs}
    a1, _ = model.predict(stacked, deterministic=True)
    a2, _ = loaded.predict(stacked, deterministic=True)
    np.testing.assert_array_equal(a1, a2)
    assert list(model.policy.state_dict()) == list(loaded.policy.state_dict())
    for (k, p1), p2 in zip(model.policy.state_dict().items(), loaded.policy.state_dict().values()):
        assert torch.equal(p1, p2), k  # bit for bit
    with torch.no_grad():  # and so are the action logits and values on the same observations
        outs = []
        for m in (model, loaded):
            m.policy.set_training_mode(False)
            t, _ = m.policy.obs_to_tensor(stacked)
            outs.append((m.policy.get_distribution(t).distribution.logits, m.policy.predict_values(t)))
    assert torch.equal(outs[0][0], outs[1][0]) and torch.equal(outs[0][1], outs[1][1])


def test_sb3_policy_keeps_backbone_weights():
    """SB3's orthogonal init must not overwrite the VLM2 weights (checkpoint or seed)."""
    from stable_baselines3.common.policies import MultiInputActorCriticPolicy

    from vlm2_agent.policy.backbone import build_backbone

    space = _space()
    policy = MultiInputActorCriticPolicy(space, gym.spaces.Discrete(4), lambda _: 1e-3,
                                         features_extractor_class=VLM2FeaturesExtractor,
                                         features_extractor_kwargs={"vlm2": VLM2_TINY, "seed": 3})
    ref = build_backbone(VLM2_TINY, seed=3).state_dict()
    for k, v in policy.features_extractor.backbone.state_dict().items():
        torch.testing.assert_close(v, ref[k], msg=k)


RETURNNAV = {"tour": 60, "min_pixels": 15,
             "config": {"sensors": ("rgb",), "num_scenes": 1, "sim": {"resolution": (32, 32)}, "max_episode_steps": 20}}


def test_returnnav_check_env_and_goal_seen_during_tour():
    from gymnasium.utils.env_checker import check_env

    env = gym.make("VLM2/ReturnNav-v0", **RETURNNAV).unwrapped
    check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=2)
    sem_uuid = next(s.uuid for s in env.sim_config.sensors if s.type == "semantic")
    counts = [visible_counts(env.sensor_observations()[sem_uuid])]
    positions = [env.position.copy()]
    while env.in_tour:
        assert obs["tour"][0] == 1.0
        obs, r, term, trunc, info = env.step(0)  # ignored: the expert acts
        counts.append(visible_counts(env.sensor_observations()[sem_uuid]))
        positions.append(env.position.copy())
        assert r == 0.0 and not term and not trunc
    assert len(counts) == 61 and obs["tour"][0] == 0.0
    assert len({tuple(np.round(p, 3)) for p in positions}) > 5  # the expert did walk
    cat = env.categories[int(obs["objectgoal"][0])]
    room = env.room_types[int(obs["roomgoal"][0])]
    assert (cat, room) == (info["goal_category"], info["goal_room_type"])
    rooms = {r.room_id: r.room_type for r in env.scene.rooms}
    goal_ids = {o.instance_id for o in env.scene.objects if o.category == cat and rooms.get(o.room_id) == room}
    best = max(c.get(i, 0) for c in counts for i in goal_ids)
    assert best >= RETURNNAV["min_pixels"]
    assert info["distance_to_goal"] > env.success_distance and info["nav_steps"] == 0
    # the oracle follower reaches it: the goal is a reachable view point set
    while True:
        obs, r, term, trunc, info = env.step(env.oracle_action())
        if term or trunc:
            break
    assert info["success"] == 1.0 or trunc


def test_skiptour_returns_first_navigation_observation():
    env = SkipTour(gym.make("VLM2/ReturnNav-v0", **RETURNNAV))
    obs, info = env.reset(seed=4)
    assert info["tour_steps"] == 60 and obs["tour"][0] == 0.0 and not env.unwrapped.in_tour


def test_training_penalties_charge_failed_stops_and_timeouts_only():
    from vlm2_agent.policy.training import FailedStopPenalty

    cfg = {"config": {"sensors": ("depth",), "num_scenes": 1, "sim": {"resolution": (16, 16)}, "max_episode_steps": 3}}
    plain, shaped = gym.make("VLM2/PointNav-v0", **cfg), FailedStopPenalty(gym.make("VLM2/PointNav-v0", **cfg), 1.0, 0.5)
    for actions, extra in (([0], -1.0), ([2, 3, 2], -0.5), ([2, 3], 0.0)):  # wrong stop; timeout; still running
        plain.reset(seed=4)
        shaped.reset(seed=4)
        for a in actions:
            r0, r1 = plain.step(a)[1], shaped.step(a)[1]
        assert r1 - r0 == pytest.approx(extra)
    cfg["config"]["max_episode_steps"] = 200
    plain, shaped = gym.make("VLM2/PointNav-v0", **cfg), FailedStopPenalty(gym.make("VLM2/PointNav-v0", **cfg), 1.0, 0.5)
    plain.reset(seed=4)
    shaped.reset(seed=4)
    while True:  # the oracle's successful stop is never charged
        a = plain.unwrapped.oracle_action()
        _, r0, term, trunc, info = plain.step(a)
        r1 = shaped.step(a)[1]
        if term or trunc:
            break
    assert info["success"] == 1.0 and r1 == pytest.approx(r0)


def test_a_bad_env_config_is_reported_by_the_parent_not_as_a_dead_worker():
    from vlm2_agent.policy.training import make_vec_env

    cfg = {"extractor": "none", "vec_env": "subproc", "n_envs": 2, "env": {"sensors": ["lidar"], "num_scenes": 1}}
    with pytest.raises(ValueError, match="EnvConfig.sensors: unknown sensor 'lidar'"):
        make_vec_env(cfg, seed=0)


def test_batched_sb3_vec_env_equals_dummy_vec_env_with_the_same_wrappers():
    """vec_env=batched (one process, one batched render) gives SB3 what DummyVecEnv over make_env's
    per-env wrappers gives: observations, shaped rewards, dones, last frames and episode statistics."""
    from stable_baselines3.common.vec_env import DummyVecEnv

    from vlm2_agent.policy.training import make_env, make_vec_env

    cfg = {"task": "pointnav", "extractor": "cnn", "n_envs": 3, "vec_env": "batched", "failed_stop_penalty": 1.0,
           "timeout_penalty": 0.5, "sim": {"resolution": [16, 24]},
           "env": {"num_scenes": 2, "max_episode_steps": 12, "task_kwargs": {"goal_distance": [0.5, 1.5]}}}
    batched = make_vec_env(cfg, seed=3)
    reference = DummyVecEnv([make_env(cfg, i, 3, initial_reset=False) for i in range(3)])
    reference.seed(3)
    assert batched.observation_space == reference.observation_space
    a, b = batched.reset(), reference.reset()
    rng = np.random.default_rng(0)
    finished = 0
    for t in range(40):
        assert a.keys() == b.keys() == {"rgb", "depth", "pointgoal_with_gps_compass"}
        for key in b:
            assert np.array_equal(a[key], b[key]), (t, key)
        actions = rng.integers(0, 4, 3)
        (a, ra, da, ia), (b, rb, db, ib) = batched.step(actions), reference.step(actions)
        assert np.array_equal(ra, rb) and np.array_equal(da, db), t
        for i in np.flatnonzero(db):
            finished += 1
            for key in ("success", "spl", "TimeLimit.truncated"):
                assert ia[i][key] == ib[i][key], (t, i, key)
            assert ia[i]["episode"]["r"] == pytest.approx(ib[i]["episode"]["r"])
            assert ia[i]["episode"]["l"] == ib[i]["episode"]["l"]
            for key in ib[i]["terminal_observation"]:
                assert np.array_equal(ia[i]["terminal_observation"][key], ib[i]["terminal_observation"][key])
    assert finished >= 3
    batched.close()
    reference.close()


def test_batched_vec_env_refuses_what_it_cannot_batch():
    from vlm2_agent.policy.training import make_vec_env

    with pytest.raises(ValueError, match="task 'returnnav'.*no batched env"):
        make_vec_env({"task": "returnnav", "vec_env": "batched", "extractor": "none"}, seed=0)
    with pytest.raises(ValueError, match="memory wrapper"):
        make_vec_env({"vec_env": "batched", "extractor": "none", "memory": {}}, seed=0)
