"""VLM2 training: the episode-store data pipeline (strided frames, shapes, per-video question
grouping) and exact resume of the trainer (a run stopped mid-way and resumed ends with the same
weights as an uninterrupted one), plus a one-process gloo DDP run."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from envs.episode_log import EpisodeLog
from envs.render.camera import intrinsics
from vlm2_agent.eqa.question import Question
from vlm2_agent.eqa.store import EpisodeStore
from vlm2_agent.model import build_tokenizer
from vlm2_agent.training import EpisodeVideoDataset, TrainConfig, Trainer, collate, subsample_indices
from vlm2_agent.training.data import FeatureItem, answer_text

LENGTHS = {"ep_a": 17, "ep_b": 17, "ep_c": 9}  # frames per episode


def _questions(eid: str, T: int) -> list[Question]:
    qs = []
    for k in range(3):
        qs.append(Question(id=f"{eid}/count/{k}", scene_id="s", episode_id=eid, question_type="object_counting",
                           question=f"How many chair(s) are in room {k}?", ground_truth=float(k + 1),
                           frame_range=(0, T), fps=4.0))
    qs.append(Question(id=f"{eid}/reldist", scene_id="s", episode_id=eid, question_type="object_rel_distance",
                       question="Which object is closest to the sofa?", ground_truth="B",
                       options=["A. bed", "B. table", "C. lamp"], frame_range=(0, T), fps=4.0))
    return qs


def make_store(root: Path, size: int = 16) -> Path:
    """Episodes whose frame t is filled with the value 10*t + episode number (known by construction)."""
    store = EpisodeStore(root / "train" / "episodes")
    for n, (eid, T) in enumerate(LENGTHS.items()):
        c2w = np.repeat(np.eye(4, dtype=np.float32)[None], T, 0)
        c2w[:, 0, 3] = np.arange(T) * 0.25
        log = EpisodeLog(scene_id="s", episode_id=eid, camera_to_world=c2w, positions=c2w[:, :3, 3].copy(),
                         headings=np.zeros(T, np.float32), visible=[{} for _ in range(T)],
                         image_size=(size, size), hfov_deg=90.0)
        with store.writer(eid, num_frames=T, image_size=(size, size)) as w:
            for t in range(T):
                w.write(t, np.full((size, size, 3), 10 * t + n, np.uint8), np.full((size, size), 1.0 + t, np.float32))
            w.finish(log, questions=_questions(eid, T))
        store.write_questions(eid, _questions(eid, T))
    return root


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    return make_store(tmp_path_factory.mktemp("train_store"))


def test_subsample_keeps_stride_and_last_frame():
    assert subsample_indices(0, 17, 8).tolist() == [0, 8, 16]
    assert subsample_indices(0, 9, 4).tolist() == [0, 4, 8]
    assert subsample_indices(0, 10, 4).tolist() == [0, 4, 8, 9]
    with pytest.raises(ValueError, match="stride"):
        subsample_indices(0, 10, 0)


def test_dataset_loads_strided_uint8_frames_and_geometry(data_root):
    ds = EpisodeVideoDataset(data_root / "train", stride=4)
    assert ds.episode_ids == ["ep_a", "ep_b", "ep_c"]
    a, c = ds[0], ds[2]
    assert a.frames.shape == (5, 3, 16, 16) and a.frames.dtype == torch.uint8  # frames 0, 4, 8, 12, 16
    assert a.frame_indices.tolist() == [0, 4, 8, 12, 16]
    assert a.frames[:, 0, 0, 0].tolist() == [0, 40, 80, 120, 160]
    assert c.frames[:, 0, 0, 0].tolist() == [2, 42, 82]  # episode 2: value 10*t + 2 at t = 0, 4, 8
    assert a.depth.shape == (5, 16, 16) and a.depth[:, 0, 0].tolist() == [1.0, 5.0, 9.0, 13.0, 17.0]
    assert a.cam_to_world[:, 0, 3].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    f = a.intrinsics[0, 0, 0].item()
    assert a.intrinsics.shape == (5, 3, 3) and f == pytest.approx(8.0)  # 90 deg hfov, 16 px: f = W/2
    assert len(a.questions) == 4 and ds[0] is a  # cached after the first read


def test_collate_groups_questions_per_video(data_root):
    ds = EpisodeVideoDataset(data_root / "train", stride=4)
    texts = [t for i in range(len(ds)) for q in ds[i].questions for t in (q.prompt(), answer_text(q))]
    tok = build_tokenizer(texts, vocab_size=300)
    batch = collate([ds[0], ds[1]], tok)
    assert batch["pixel_values"].shape == (2, 5, 3, 16, 16)
    assert batch["geometry"]["depth"].shape == (2, 5, 16, 16)
    assert batch["video_index"].tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    assert batch["input_ids"].shape[0] == 8
    # the loss sees the answer tokens and EOS only: "1" + EOS for the first question, "B" + EOS for the 4th
    labels = batch["labels"]
    assert tok.decode([t for t in labels[0].tolist() if t >= 0], skip_special_tokens=True) == "1"
    assert tok.decode([t for t in labels[3].tolist() if t >= 0], skip_special_tokens=True) == "B"
    sub = collate([ds[0]], tok, questions_per_video=2, rng=np.random.default_rng(0))
    assert sub["video_index"].tolist() == [0, 0] and sub["input_ids"].shape[0] == 2
    with pytest.raises(ValueError, match="different frame counts"):
        collate([ds[0], ds[2]], tok)


TINY_MODEL = {
    "vision_config": {"model_type": "siglip_vision_model", "hidden_size": 32, "intermediate_size": 64,
                      "num_hidden_layers": 1, "num_attention_heads": 2, "image_size": 16, "patch_size": 8,
                      "vision_use_head": False},
    "text_config": {"model_type": "qwen2", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
                    "num_attention_heads": 2, "num_key_value_heads": 1, "vocab_size": 300,
                    "max_position_embeddings": 256, "tie_word_embeddings": False},
    "hidden_size": 32, "geometry_dim": 16, "num_heads": 2, "geometry_source": "oracle",
}
MEMORY = {"memory_mode": "dual", "working_memory_size": 2, "episodic_memory_size": 2, "entry_grid": 1}


def _trainer(data_root: Path, run_dir: Path, **overrides) -> Trainer:
    kwargs = {"data_root": str(data_root), "val_split": None, "test_split": None, "stride": 4, "max_steps": 6,
              "questions_per_video": 2, "warmup_steps": 2, "lr": 3e-3, "tokenizer_vocab_size": 300, "log_every": 1,
              "checkpoint_every": 100, "device": "cpu", "progress": False, "num_threads": 1}
    cfg = TrainConfig(**{**kwargs, **overrides})
    return Trainer(cfg, OmegaConf.create(TINY_MODEL), OmegaConf.create(MEMORY), run_dir=run_dir)


def test_stopped_and_resumed_run_ends_with_the_same_weights(data_root, tmp_path):
    full = _trainer(data_root, tmp_path / "full")
    assert full.fit()["finished"]

    first = _trainer(data_root, tmp_path / "split", stop_after=3)
    s1 = first.fit()
    assert s1["step"] == 3 and not s1["finished"] and (tmp_path / "split/checkpoints/last.pt").is_file()
    torch.manual_seed(1234)  # a different process state before resuming must not matter
    np.random.seed(99)
    second = _trainer(data_root, tmp_path / "split")
    assert second.fit()["step"] == 6

    a, b = full.model.state_dict(), second.model.state_dict()
    assert a.keys() == b.keys()
    changed = [k for k in a if not torch.equal(a[k], first.model.state_dict()[k])]
    assert changed  # training moved the weights between step 3 and 6
    for k in a:
        assert torch.equal(a[k], b[k]), k
    rows = [r["step"] for r in second._read_rows() if "loss" in r]
    assert rows == [1, 2, 3, 4, 5, 6]  # the metrics log continues without gaps or repeats
    for name in ("model.safetensors", "config.json", "tokenizer.json", "train_questions.jsonl.gz"):
        assert (tmp_path / "full/model" / name).is_file(), name


def test_one_process_gloo_ddp_matches_a_plain_run(data_root, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    torch.distributed.init_process_group("gloo", rank=0, world_size=1)
    try:
        ddp = _trainer(data_root, tmp_path / "ddp", max_steps=3)
        assert isinstance(ddp.ddp_model, torch.nn.parallel.DistributedDataParallel)
        ddp.fit()
    finally:
        torch.distributed.destroy_process_group()
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    plain = _trainer(data_root, tmp_path / "plain", max_steps=3)
    plain.fit()
    for k, v in plain.model.state_dict().items():
        torch.testing.assert_close(ddp.model.state_dict()[k], v, rtol=1e-5, atol=1e-6)


def _stage1_model(tmp_path: Path) -> Path:
    """A 'stage-1' perception: a VLM2 of the tiny settings with its perception weights moved off
    their initial values (so that copying it into a fresh model is visible)."""
    from vlm2_agent.model import VLM2Model
    from vlm2_agent.model.configuration_vlm2 import config_from_hydra
    from vlm2_agent.training.features import perception_state

    torch.manual_seed(7)
    model = VLM2Model(config_from_hydra(OmegaConf.create(TINY_MODEL), OmegaConf.create(MEMORY)))
    with torch.no_grad():
        for t in perception_state(model).values():
            t.add_(0.01 * torch.randn_like(t) if t.is_floating_point() else 0)
    model.save_pretrained(tmp_path / "stage1")
    return tmp_path / "stage1"


def test_feature_cache_is_bit_identical_to_a_direct_forward_pass(data_root, tmp_path):
    from vlm2_agent.training.features import FeatureCache, build_feature_cache, perception_key

    tr = _trainer(data_root, tmp_path / "run", perception=str(_stage1_model(tmp_path)),
                  feature_cache=str(tmp_path / "features"))
    model, videos = tr.model, tr.train_ds.videos
    cache = FeatureCache.open(tmp_path / "features" / "train" / perception_key(model, 4))
    assert set(cache.meta["episodes"]) == set(LENGTHS) and cache.coords is not None
    model.eval()
    with torch.no_grad():
        for i, eid in enumerate(videos.episode_ids):
            item = videos[i]
            state = model.init_memory(1)
            fused, coords = model.encode_for_memory(state, item.frames[None], {k: v[None] for k, v in item.geometry.items()})
            cached, cached_coords = cache.episode(eid)
            assert torch.equal(cached, fused[0]) and torch.equal(cached_coords, coords[0]), eid
    # an existing cache is reopened, not rebuilt; the stage-1 perception is frozen
    assert build_feature_cache(model, videos, tmp_path / "features" / "train").root == cache.root
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert frozen and all(n.split(".")[0] in ("vision", "vision_proj", "geometry", "a3pi", "vaga", "fusion")
                          for n in frozen)
    batch = tr.batch_at(0)
    assert "features" in batch and "pixel_values" not in batch


def test_stage3_run_resumed_mid_way_ends_with_the_same_weights(data_root, tmp_path):
    stage1 = str(_stage1_model(tmp_path))
    kw = {"perception": stage1, "feature_cache": str(tmp_path / "features")}
    full = _trainer(data_root, tmp_path / "full", **kw)
    full.fit()
    first = _trainer(data_root, tmp_path / "split", stop_after=3, **kw)
    first.fit()
    second = _trainer(data_root, tmp_path / "split", **kw)
    assert second.fit()["step"] == 6
    a, b, mid = full.model.state_dict(), second.model.state_dict(), first.model.state_dict()
    assert [k for k in a if not torch.equal(a[k], mid[k])]
    for k in a:
        assert torch.equal(a[k], b[k]), k
    # the perception never moves in stage 3
    from vlm2_agent.model import VLM2Model
    from vlm2_agent.training.features import perception_state

    for k, v in perception_state(VLM2Model.from_pretrained(stage1)).items():
        assert torch.equal(a[k], v), k


def test_resume_under_a_changed_config_is_refused_naming_the_fields(data_root, tmp_path):
    stage1 = str(_stage1_model(tmp_path))
    kw = {"perception": stage1, "feature_cache": str(tmp_path / "features")}
    _trainer(data_root, tmp_path / "run", stop_after=2, **kw).fit()
    with pytest.raises(ValueError, match=r"resuming last.pt with a changed config: train.lr differ"):
        _trainer(data_root, tmp_path / "run", lr=0.5, **kw).fit()
    # stopping later, logging or evaluating differently is a resume, not a new run
    assert _trainer(data_root, tmp_path / "run", stop_after=4, log_every=1, **kw).fit()["step"] == 4
    # train.resume=false starts anew under the changed config, overwriting the checkpoint
    assert _trainer(data_root, tmp_path / "run", lr=0.5, stop_after=1, resume=False, **kw).fit()["step"] == 1
    saved = json.loads((tmp_path / "run" / "train_config.json").read_text())
    assert saved["train"]["lr"] == 0.5 and torch.load(tmp_path / "run" / "checkpoints" / "last.pt")["step"] == 1


def test_a_corrupt_checkpoint_is_refused_naming_it(tmp_path):
    from vlm2_agent.training.checkpoint import load_checkpoint, save_checkpoint

    m = torch.nn.Linear(2, 2)
    opt = torch.optim.AdamW(m.parameters())
    sch = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    path = save_checkpoint(tmp_path / "last.pt", m, opt, sch, step=3)
    path.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(ValueError, match=r"last.pt: cannot be read .*train.resume=false"):
        load_checkpoint(path, m, opt, sch)
    save_checkpoint(path, torch.nn.Linear(3, 2), opt, sch, step=3)
    with pytest.raises(ValueError, match=r"last.pt: does not fit this run \(RuntimeError"):
        load_checkpoint(path, m, opt, sch)
    save_checkpoint(path, m, opt, sch, step=3)
    doc = torch.load(path, weights_only=True)
    doc["model"]["weight"][0, 0] += 1e-3  # a changed value the file format itself would not notice
    torch.save(doc, path)
    with pytest.raises(ValueError, match=r"last.pt: its contents do not match the digest"):
        load_checkpoint(path, m, opt, sch)


def test_diagnostics_flag_a_model_that_ignores_its_video():
    import dataclasses

    from vlm2_agent.training.diagnostics import diagnostics, other_scene_partner

    qs = [dataclasses.replace(_questions(f"ep{i}", 40)[i % 4], id=f"q{i}", evidence_age=10 * i) for i in range(12)]
    truth = [answer_text(q) if q.is_numerical else q.ground_truth for q in qs]
    blind = ["2" if q.is_numerical else "A" for q in qs]  # one reply per type whatever the video
    diag = diagnostics({"questions": qs, "own": blind, "other": blind, "blank": blind}, working_frames=64)
    assert diag["identical_replies"] == {"other": 1.0, "blank": 1.0}
    assert diag["constant_types"] == ["object_counting", "object_rel_distance"]
    assert sum(d["n"] for d in diag["evidence_age"].values()) == 12 and "64-128" in diag["evidence_age"]
    seeing = diagnostics({"questions": qs, "own": truth, "other": blind, "blank": blind}, working_frames=64)
    assert seeing["overall"]["own"]["vsi"] == 100.0 and seeing["overall"]["other"]["vsi"] < 100.0
    assert seeing["identical_replies"]["other"] < 1.0
    assert other_scene_partner(["a0", "a1", "b0"], ["a", "a", "b"], ["short"] * 3) == [2, 2, 0]


def test_grounding_questions_count_what_the_kept_frames_show():
    from vlm2_agent.training.grounding import grounding_questions

    category_of = {1: "chair", 2: "chair", 3: "sofa", 4: "lamp"}
    # frame 0: chairs 1 and 2 (2 is too small to count there), frame 1: chair 2, frame 2 (not kept): the lamp
    visible = [{1: 50, 2: 5, 3: 30}, {2: 40}, {4: 90}]
    qs = grounding_questions("e", category_of, visible, frames=[0, 1], categories=["chair", "sofa", "lamp", "bed"],
                             n=4, rng=np.random.default_rng(0))
    got = {q.question: q.ground_truth for q in qs}
    assert got == {"How many chair(s) appear in this video?": 2.0, "How many sofa(s) appear in this video?": 1.0,
                   "How many lamp(s) appear in this video?": 0.0, "How many bed(s) appear in this video?": 0.0}
    assert all(answer_text(q) == f"{int(q.ground_truth)}" for q in qs)


def test_stage3_without_a_stage1_model_says_how_to_make_one(data_root, tmp_path):
    with pytest.raises(FileNotFoundError, match="no stage-1 model there.*train_stage1.py"):
        _trainer(data_root, tmp_path / "run", perception=str(tmp_path / "missing" / "model"))


def test_a_blank_feature_video_is_one_encoded_blank_frame_repeated(tmp_path):
    from vlm2_agent.model import VLM2Model
    from vlm2_agent.training.diagnostics import blank_features, blank_item
    from vlm2_agent.training.features import encode_episode

    model = VLM2Model.from_pretrained(str(_stage1_model(tmp_path))).eval()
    size, t = model.config.vision_config.image_size, 5
    k = torch.from_numpy(intrinsics(90.0, size, size)).float()
    direct = encode_episode(model, torch.zeros(t, 3, size, size, dtype=torch.uint8),
                            {"depth": torch.zeros(t, size, size), "intrinsics": k.expand(t, 3, 3),
                             "cam_to_world": torch.eye(4).expand(t, 4, 4)})
    item = FeatureItem("e", torch.ones(t, 4, 32), None, [], np.arange(t))
    blank = blank_item(item, blank_features(model))
    torch.testing.assert_close(blank.fused, direct[0])
    torch.testing.assert_close(blank.coords, direct[1])


def test_checkpoint_restores_every_rng_and_loads_without_running_code(tmp_path):
    import random

    from vlm2_agent.training import load_checkpoint, save_checkpoint

    m = torch.nn.Linear(2, 2)
    opt = torch.optim.AdamW(m.parameters())
    sch = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    np.random.seed(5), random.seed(5), torch.manual_seed(5)
    path = save_checkpoint(tmp_path / "last.pt", m, opt, sch, step=2)
    first = (np.random.rand(3).tolist(), random.random(), torch.rand(3).tolist())
    assert load_checkpoint(path, m, opt, sch) == 2
    assert (np.random.rand(3).tolist(), random.random(), torch.rand(3).tolist()) == first
    torch.load(path, weights_only=True)  # only tensors and plain values: nothing in it can run


def test_presence_alignment_loss_learns_which_words_a_video_shows():
    from vlm2_agent.training.alignment import presence_alignment_loss, presence_logits

    g = torch.Generator().manual_seed(0)
    categories, dim, videos = 6, 16, 32
    shown = torch.rand(videos, categories, generator=g) < 0.4
    # each video: 5 tokens, one per shown category (its one-hot feature plus noise), padding masked
    tokens = torch.zeros(videos, 5, categories)
    mask = torch.zeros(videos, 5, dtype=torch.bool)
    for v in range(videos):
        for k, c in enumerate(torch.nonzero(shown[v]).flatten()[:5].tolist()):
            tokens[v, k, c], mask[v, k] = 1.0, True
        shown[v, torch.nonzero(shown[v]).flatten()[5:]] = False  # at most 5 tokens: a sixth is not shown
    tokens = tokens + 0.05 * torch.randn(tokens.shape, generator=g)
    projector = torch.nn.Linear(categories, dim)
    words = torch.nn.Parameter(torch.randn(categories, dim, generator=g))
    opt = torch.optim.Adam([*projector.parameters(), words], lr=0.05)
    first = None
    for _ in range(150):
        loss = presence_alignment_loss(projector(tokens), mask, words, shown.float())
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.3 * first
    logits = presence_logits(projector(tokens), mask, words)
    assert ((logits > 5.0) == shown).float().mean() > 0.95  # cosine above the 0.5 margin where shown
