"""VLM2 model: gradients, save/load, determinism, ablation switches, pretrained towers, geometry, overfit."""

import importlib.util
import math
from pathlib import Path

import pytest
import torch
from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM, SiglipVisionConfig, SiglipVisionModel

from vlm2_agent.model import VLM2Config, VLM2Model, VLM2Streamer, build_tokenizer, camera_points, training_batch
from vlm2_agent.model.geometry import OracleGeometry

ROOT = Path(__file__).resolve().parents[1]
VISION = {"model_type": "siglip_vision_model", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
          "num_attention_heads": 2, "image_size": 32, "patch_size": 8, "vision_use_head": False}
TEXT = {"model_type": "qwen2", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
        "num_attention_heads": 2, "num_key_value_heads": 1, "vocab_size": 300, "max_position_embeddings": 256}
QUESTIONS = ["How many chairs are in the room?", "Which is closer? A. bed B. sofa"]
ANSWERS = ["3.2", "B"]


pytestmark = pytest.mark.usefixtures("single_torch_thread")


def config(**kw) -> VLM2Config:
    base = dict(vision_config=dict(VISION), text_config=dict(TEXT), hidden_size=32, geometry_dim=16, num_heads=2,
                working_memory_size=2, episodic_memory_size=3, uniform_frames=2, entry_grid=2, max_new_tokens=4)
    base.update(kw)
    return VLM2Config(**base)


def build(seed=0, **kw) -> VLM2Model:
    torch.manual_seed(seed)
    return VLM2Model(config(**kw))


@pytest.fixture(scope="module")
def tok():
    return build_tokenizer(QUESTIONS + ANSWERS, vocab_size=300)


def video(b=2, t=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    frames = torch.randint(0, 256, (b, t, 3, 32, 32), dtype=torch.uint8, generator=g)
    k = torch.tensor([[16.0, 0, 16], [0, 16, 16], [0, 0, 1]]).expand(b, t, 3, 3).clone()
    pose = torch.eye(4).repeat(b, t, 1, 1)
    pose[..., :3, 3] = torch.randn(b, t, 3, generator=g)
    depth = 0.5 + 3 * torch.rand(b, t, 32, 32, generator=g)
    depth[:, :, :4, :4] = 0.0  # invalid pixels must be ignored
    return frames, {"depth": depth, "intrinsics": k, "cam_to_world": pose}


def loss_of(model, tok, seed=0):
    frames, geo = video(seed=seed)
    batch = training_batch(tok, QUESTIONS * 2, ANSWERS * 2)
    return model(frames, geometry=geo, video_index=torch.tensor([0, 0, 1, 1]), **batch)


@pytest.mark.parametrize("geometry_source", ["oracle", "learned"])
def test_gradients_reach_every_trainable_parameter(tok, geometry_source):
    model = build(geometry_source=geometry_source).train()
    out = loss_of(model, tok)
    assert (out.geometry_loss is not None) == (geometry_source == "learned")
    out.loss.backward()
    # Exceptions: none. Every parameter (vision tower, geometry, A3PI, VAGA, fusion, both memory reads,
    # gate, projector, LM) gets a non-zero gradient from one answer loss over a video longer than L_e.
    dead = [n for n, p in model.named_parameters() if p.requires_grad and (p.grad is None or not p.grad.abs().sum() > 0)]
    assert dead == []


@pytest.mark.parametrize("memory_mode", ["dual", "none"])
def test_shared_prefix_step_gives_the_reference_loss_and_gradients(tok, memory_mode):
    # the fast answer step (prefix encoded once per video, length buckets, logits at labels only)
    # must compute the loss of the reference step (a prefix copy per question), gradients included
    frames, geo = video(b=3, t=6)
    questions = [QUESTIONS[0], QUESTIONS[1], "How many?", QUESTIONS[1] + " C. lamp D. rug", "Which?"]
    answers = ["3.2", "B", "12", "D", "A"]
    batch = training_batch(tok, questions, answers)
    index = torch.tensor([0, 2, 2, 1, 0])
    grads, losses = [], []
    for share in (False, True):
        model = build(memory_mode=memory_mode, share_prefix=share, answer_buckets=3).train()
        out = model(frames, geometry=geo, video_index=index, **batch)
        out.loss.backward()
        losses.append(out.loss.item())
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    assert losses[0] == pytest.approx(losses[1], abs=1e-5)
    assert grads[0].keys() == grads[1].keys()
    for n in grads[0]:
        torch.testing.assert_close(grads[1][n], grads[0][n], rtol=1e-4, atol=1e-6, msg=n)


def test_save_load_round_trip_identical(tok, tmp_path):
    model = build().eval()
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists() and (tmp_path / "config.json").exists()
    streamer = VLM2Streamer.from_pretrained(tmp_path, device="cpu")
    assert isinstance(streamer.tokenizer, PreTrainedTokenizerFast)
    with torch.no_grad():
        torch.testing.assert_close(loss_of(streamer.model, tok).logits, loss_of(model, tok).logits, rtol=0, atol=0)
    frames, geo = video()
    a, b = VLM2Streamer(model, tok, "cpu"), streamer
    for s in (a, b):
        s.reset(2)
        s.observe(frames[:, :3], {k: v[:, :3] for k, v in geo.items()})
        s.observe(frames[:, 3], {k: v[:, 3] for k, v in geo.items()})
    assert a.answer(QUESTIONS) == b.answer(QUESTIONS)
    torch.testing.assert_close(a.readout(), b.readout(), rtol=0, atol=0)


def test_same_seed_same_outputs_different_seed_differs(tok):
    with torch.no_grad():
        l1, l2, l3 = (loss_of(build(seed=s).eval(), tok).loss for s in (0, 0, 1))
    assert l1.item() == l2.item() and l1.item() != l3.item()


def encodings(reference: VLM2Model, **switch):
    """Encode the same frames with `reference` and with a copy that differs only by `switch`."""
    other = build(**switch).eval()
    missing, _ = other.load_state_dict(reference.state_dict(), strict=False)
    frames, geo = video(b=2, t=1)
    geo = {k: v[:, 0] for k, v in geo.items()}
    with torch.no_grad():
        return (reference.encode_frames(frames[:, 0], geo, geo["cam_to_world"]),
                other.encode_frames(frames[:, 0], geo, geo["cam_to_world"]), missing)


def test_a3pi_switch_changes_only_position_injection():
    on, off, _ = encodings(build().eval(), use_a3pi=False)
    assert torch.equal(on.features, off.features) and torch.equal(on.geometry_tokens, off.geometry_tokens)
    assert torch.equal(off.positioned, off.features) and off.alpha is None
    assert not torch.allclose(on.positioned, off.positioned) and not torch.allclose(on.fused, off.fused)
    assert on.alpha.shape == (2, 16, 1) and bool(((on.alpha >= 0) & (on.alpha <= 1)).all())


def test_vaga_switch_changes_only_geometry_alignment():
    on, off, missing = encodings(build().eval(), use_vaga=False)
    assert missing == ["vaga.proj.weight", "vaga.proj.bias"]
    assert torch.equal(on.positioned, off.positioned) and torch.equal(on.alpha, off.alpha)
    assert on.geometry_tokens.shape == (2, 17, 32) and off.geometry_tokens.shape == (2, 16, 32)  # hw+1 vs hw
    assert not torch.allclose(on.fused, off.fused)


@pytest.mark.parametrize("fusion", ["concat", "add"])
def test_fusion_switch_changes_only_fusion(fusion):
    ref, alt, _ = encodings(build().eval(), fusion=fusion)
    assert torch.equal(ref.positioned, alt.positioned) and torch.equal(ref.geometry_tokens, alt.geometry_tokens)
    assert not torch.allclose(ref.fused, alt.fused)
    if fusion == "add":
        g = ref.geometry_tokens
        torch.testing.assert_close(alt.fused, ref.positioned + g[:, :16] + g[:, 16:])


def test_memory_mode_switch_keeps_frame_encoding():
    dual = build().eval()
    working = build(memory_mode="working").eval()
    working.load_state_dict(dual.state_dict(), strict=False)
    frames, geo = video()
    with torch.no_grad():
        s1, s2 = dual.init_memory(2), working.init_memory(2)
        m1, m2 = dual.observe(s1, frames, geo), working.observe(s2, frames, geo)
        e1 = dual.encode_frames(frames[:, 0], {k: v[:, 0] for k, v in geo.items()}, geo["cam_to_world"][:, 0])
        e2 = working.encode_frames(frames[:, 0], {k: v[:, 0] for k, v in geo.items()}, geo["cam_to_world"][:, 0])
    assert torch.equal(e1.fused, e2.fused) and not torch.allclose(m1, m2)
    assert s2.episodic is None and s1.episodic_count.tolist() == [3, 3]


def test_geometry_none_uses_vision_tokens_directly():
    ref, plain, _ = encodings(build().eval(), geometry_source="none", use_a3pi=False, use_vaga=False)
    assert torch.equal(plain.fused, ref.features) and plain.geometry is None


def test_loads_local_siglip_and_qwen2_checkpoints(tmp_path, tok):
    torch.manual_seed(3)
    vis = SiglipVisionModel(SiglipVisionConfig(**{k: v for k, v in VISION.items() if k != "model_type"}))
    lm = Qwen2ForCausalLM(Qwen2Config(**{k: v for k, v in TEXT.items() if k != "model_type"}))
    vis.save_pretrained(tmp_path / "siglip")
    lm.save_pretrained(tmp_path / "qwen2")
    model = VLM2Model.from_pretrained_towers(config(), tmp_path / "siglip", tmp_path / "qwen2")
    for mine, theirs in ((model.vision, vis), (model.lm, lm)):
        for (n, p), (_, q) in zip(mine.state_dict().items(), theirs.state_dict().items()):
            assert torch.equal(p, q), n
    model.save_pretrained(tmp_path / "vlm2")
    again = VLM2Model.from_pretrained(tmp_path / "vlm2")
    assert again.config.vision_model_path == str(tmp_path / "siglip")
    with torch.no_grad():
        torch.testing.assert_close(loss_of(again.eval(), tok).logits, loss_of(model.eval(), tok).logits, rtol=0, atol=0)


def test_camera_points_and_first_frame_relative_point_maps():
    k = torch.tensor([[[2.0, 0, 2], [0, 2.0, 2], [0, 0, 1]]])
    depth = torch.full((1, 4, 4), 2.0)
    depth[0, 3, 3] = float("inf")
    pts = camera_points(depth, k)
    torch.testing.assert_close(pts[0, :, 0, 0], torch.tensor([-1.5, 1.5, -2.0]))  # u=v=0.5: ((0.5-2)/2*2, ...)
    assert torch.isnan(pts[0, :, 3, 3]).all()
    geo = OracleGeometry(grid=2, dim=8, coord_scale=5.0, frame="first")
    first = torch.eye(4)[None]
    moved = first.clone()
    moved[0, 0, 3] = 1.0  # camera 1 m to the right of the first one, same orientation
    out0, out1 = geo(depth, k, first, first), geo(depth, k, moved, first)
    torch.testing.assert_close(out0.points, pts, equal_nan=True)
    torch.testing.assert_close(out1.points[:, 0], pts[:, 0] + 1.0, equal_nan=True)
    assert math.isclose(float(out0.patch_valid[0, 3, 0]), 0.75)  # the bottom-right patch lost one of 4 pixels


def test_config_errors_name_field_and_fix():
    with pytest.raises(ValueError, match="memory_mode='fifo'.*expected one of"):
        config(memory_mode="fifo")
    with pytest.raises(ValueError, match="set use_a3pi=False"):
        config(geometry_source="none")
    with pytest.raises(ValueError, match="image_size=30 must be a positive int multiple of patch_size=8"):
        config(vision_config={**VISION, "image_size": 30})
    with pytest.raises(ValueError, match="cam_to_world"):
        build().encode_frames(torch.zeros(1, 3, 32, 32))


def test_streaming_answers_per_episode_reset(tok):
    model = build()
    s = VLM2Streamer(model, tok, "cpu")
    frames, geo = video(b=2, t=3)
    s.reset(2)
    for t in range(3):
        s.observe(frames[:, t], {k: v[:, t] for k, v in geo.items()})
    answers = s.answer(QUESTIONS)
    assert len(answers) == 2 and all(isinstance(a, str) for a in answers)
    s.reset_episodes([False, True])
    assert s.state.frame_index.tolist() == [3, 0] and s.readout().shape == (2, 32)
    with pytest.raises(ValueError, match="2 questions for 2 episodes|one each"):
        s.answer(QUESTIONS[:1])


def test_tiny_model_overfits_four_questions():
    spec = importlib.util.spec_from_file_location("overfit_tiny", ROOT / "experiments" / "overfit_tiny.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    rows = mod.run_overfit(num_videos=2, frames=3, steps=200, lr=1e-3, eval_every=20, verbose=False)
    assert rows[-1][2] == 1.0, rows


def test_full_context_past_the_language_model_positions_is_refused(tok):
    model = build(memory_mode="full_context")  # 4 tokens per frame; the tiny LM has 256 positions
    s = VLM2Streamer(model, tok, "cpu")
    frames, geo = video(b=1, t=70)
    s.reset(1)
    for t in range(70):
        s.observe(frames[:, t], {k: v[:, t] for k, v in geo.items()})
    with pytest.raises(ValueError, match=r"memory prefix 28\d.*max_position_embeddings=256.*'full_context'"):
        s.answer(QUESTIONS[:1])
    batch = training_batch(tok, QUESTIONS[:1], ANSWERS[:1])
    with pytest.raises(ValueError, match=r"max_position_embeddings=256"):
        model(frames, geometry=geo, **batch)
    short, short_geo = video(b=1, t=5)
    assert torch.isfinite(model(short, geometry=short_geo, **batch).loss)  # within the limit: trains as before
