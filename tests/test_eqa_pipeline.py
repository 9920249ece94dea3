"""EQA pipeline: a tiny split build (scenes -> expert videos -> store + questions), resume, evaluation
reports, and the VLM2/EQA-v0 env."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from omegaconf import OmegaConf

os.environ.setdefault("EGL_PLATFORM", "surfaceless")

from vlm2_agent.eqa import EpisodeStore, PredictionsError, load_jsonl  # noqa: E402
from vlm2_agent.eqa.build import BuildConfig, build_split, episode_id  # noqa: E402
from vlm2_agent.eqa.question import LETTERS  # noqa: E402


def tiny_config(root: Path, out: str = "eqa") -> BuildConfig:
    return BuildConfig(split="test", num_scenes=1, out_root=str(root / out), scenes_root=str(root / "scenes"),
                       resolution=(32, 32), episodes={"short": {"count": 2, "budget": 40}}, num_rooms=2,
                       write_maps=False)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("eqa")
    cfg = tiny_config(root)
    manifest = build_split(cfg, progress=False)
    return root, cfg, manifest


def test_tiny_build_writes_questions_and_a_loadable_store(built):
    root, cfg, manifest = built
    split_dir = Path(cfg.out_root) / "test"
    questions = load_jsonl(split_dir / "questions.jsonl")
    assert len(questions) == manifest["num_questions"] > 20
    assert len({q.id for q in questions}) == len(questions)
    assert sum(c["all"] for c in manifest["counts"].values()) == len(questions)
    store = EpisodeStore(split_dir / "episodes")
    sid = manifest["scenes"][0]
    assert store.episode_ids() == [episode_id(sid, "short", 0), episode_id(sid, "short", 1)]
    for eid in store.episode_ids():
        rgb, depth, log = store.rgb(eid), store.depth(eid), store.log(eid)
        assert isinstance(rgb, np.memmap) and rgb.dtype == np.uint8 and depth.dtype == np.float16
        T = log.num_frames
        assert 2 <= T <= 41  # a tour of at most 40 steps gives at most 41 frames
        assert rgb.shape == (T, 32, 32, 3) and depth.shape == (T, 32, 32)
        assert rgb.std() > 5  # real rendered frames, not a blank buffer
        assert np.isfinite(depth.astype(np.float32)).all() and (depth > 0).mean() > 0.9
        assert log.image_size == (32, 32) and log.meta["tour_budget"] == 40
        # consecutive frames of a walking agent are not all the same view
        assert np.abs(np.diff(log.positions, axis=0)).sum() + np.abs(np.diff(log.headings)).sum() > 0
    for q in questions:
        assert q.episode_id in store.episode_ids() and q.horizon == "short"
        assert q.frame_range[1] == store.log(q.episode_id).num_frames


def test_same_seed_same_build(built, tmp_path):
    root, cfg, _ = built
    again = tiny_config(root)
    again.out_root = str(tmp_path / "again")
    build_split(again, progress=False)
    a, b = Path(cfg.out_root) / "test", Path(again.out_root) / "test"
    assert (a / "questions.jsonl").read_bytes() == (b / "questions.jsonl").read_bytes()
    # the manifest (versions, seeds, config, the sha256 of every file) is byte-identical too
    assert (a / "manifest.json").read_bytes() == (b / "manifest.json").read_bytes()
    manifest = json.loads((a / "manifest.json").read_text())
    assert manifest["benchmark_version"] == "v2" and manifest["versions"]["question_generator"] >= 2
    assert manifest["hashes"]["questions.jsonl"] and "bias_pruning" in manifest
    for eid in EpisodeStore(a / "episodes").episode_ids():
        for name in ("rgb.npy", "depth.npy", "arrays.npz", "episode.json", "candidates.jsonl", "questions.jsonl"):
            assert (a / "episodes" / eid / name).read_bytes() == (b / "episodes" / eid / name).read_bytes(), name


def test_resume_skips_complete_episodes_and_redoes_a_half_written_one(built, tmp_path):
    root, cfg, _ = built
    work = tiny_config(root)
    work.out_root = str(tmp_path / "resume")
    shutil.copytree(Path(cfg.out_root), work.out_root)
    store = EpisodeStore(Path(work.out_root) / "test" / "episodes")
    keep, broken = store.episode_ids()
    keep_mtime = (store.episode_dir(keep) / "rgb.npy").stat().st_mtime_ns
    reference = np.array(store.rgb(broken))
    # an interrupted write: the episode only exists as a temp folder with a truncated video
    tmp = store.root / f".tmp-{broken}"
    os.replace(store.episode_dir(broken), tmp)
    with open(tmp / "rgb.npy", "r+b") as f:
        f.truncate(100)
    m = build_split(work, progress=False)
    assert m["episodes_skipped"] == 1 and m["episodes_recorded"] == 1
    assert not tmp.exists()
    assert (store.episode_dir(keep) / "rgb.npy").stat().st_mtime_ns == keep_mtime
    assert np.array_equal(store.rgb(broken), reference)
    m = build_split(work, progress=False)
    assert m["episodes_skipped"] == 2 and m["episodes_recorded"] == 0


def test_a_changed_tour_budget_records_again(built, tmp_path):
    root, cfg, _ = built
    work = tiny_config(root)
    work.out_root = str(tmp_path / "budget")
    shutil.copytree(Path(cfg.out_root), work.out_root)
    work.episodes = {"short": {"count": 2, "budget": 12}}
    m = build_split(work, progress=False)
    assert m["episodes_recorded"] == 2 and m["episodes_skipped"] == 0
    store = EpisodeStore(Path(work.out_root) / "test" / "episodes")
    for eid in store.episode_ids():
        log = store.log(eid)
        assert log.meta["tour_budget"] == 12 and log.num_frames <= 13


def test_a_second_build_of_the_same_split_is_refused_while_one_runs(built):
    from vlm2_base.io import FolderLockedError

    root, cfg, _ = built
    code = ("import sys, time; from vlm2_base.io import folder_lock\n"
            f"with folder_lock({str(Path(cfg.out_root) / 'test')!r}):\n"
            "    print('held', flush=True); time.sleep(60)")
    import subprocess
    import sys

    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(FolderLockedError, match=f"pid {holder.pid}.*EQA split"):
            build_split(tiny_config(root), progress=False)
    finally:
        holder.kill()
        holder.wait()
    assert build_split(tiny_config(root), progress=False)["episodes_skipped"] == 2  # free again


def _eval_cfg(questions: Path, predictions: Path, allow_missing: bool = False, benchmark: str | None = None):
    return OmegaConf.create({"split": "test", "data_root": "unused", "questions": str(questions),
                             "predictions": str(predictions), "baseline": None, "train_questions": None, "seed": 0,
                             "allow_missing": allow_missing, "name": None, "out_dir": None, "benchmark": benchmark})


def _write_predictions(path: Path, pairs) -> Path:
    path.write_text("".join(json.dumps({"id": i, "prediction": p}) + "\n" for i, p in pairs))
    return path


def test_eval_reports_perfect_and_hand_made_scores(built, tmp_path):
    from vlm2_agent.cli.eqa_eval import run

    _, cfg, _ = built
    qpath = Path(cfg.out_root) / "test" / "questions.jsonl"
    questions = load_jsonl(qpath)
    perfect = _write_predictions(tmp_path / "perfect.jsonl",
                                 [(q.id, str(q.ground_truth) if q.is_numerical else f"{q.ground_truth}.") for q in questions])
    r = run(_eval_cfg(qpath, perfect), tmp_path / "out")
    for kind in ("md", "json", "png"):
        assert r["paths"][kind].is_file() and r["paths"][kind].stat().st_size > 0
    doc = json.loads(r["paths"]["json"].read_text())
    for bench in doc["table"].values():
        assert bench["overall"] == 1.0 and all(v == 1.0 for v in bench["tasks"].values())
    assert "| overall | 100.0 | 100.0 | - | - |" in r["paths"]["md"].read_text()
    # every multiple-choice reply wrong, every number 2x the truth (relative error 1 -> MRA 0),
    # except one VSI numerical task answered exactly: VSI = 1 of its tasks at 100, the rest 0
    exact = next(q.task for q in questions if q.is_numerical and q.benchmark == "vsi")
    wrong = []
    for q in questions:
        if q.is_numerical:
            wrong.append((q.id, str(q.ground_truth if q.task == exact else 2 * q.ground_truth)))
        else:
            letters = [o.split(".")[0] for o in q.options]
            wrong.append((q.id, next(c for c in letters if c != q.ground_truth)))
    r = run(_eval_cfg(qpath, _write_predictions(tmp_path / "wrong.jsonl", wrong)), tmp_path / "out2")
    vsi = json.loads(r["paths"]["json"].read_text())["table"]["vsi"]
    assert vsi["tasks"][exact] == 1.0
    assert all(v == 0.0 for t, v in vsi["tasks"].items() if t != exact)
    assert vsi["overall"] == pytest.approx(1.0 / len(vsi["tasks"]))


def test_eval_names_unknown_and_missing_ids(built, tmp_path):
    from vlm2_agent.cli.eqa_eval import run

    _, cfg, _ = built
    qpath = Path(cfg.out_root) / "test" / "questions.jsonl"
    questions = load_jsonl(qpath)
    pairs = [(q.id, "A") for q in questions] + [("apt_val_00001/ep/object_counting/0", "3")]
    with pytest.raises(PredictionsError, match=r"1 id\(s\) are not in the questions: 'apt_val_00001"):
        run(_eval_cfg(qpath, _write_predictions(tmp_path / "unknown.jsonl", pairs)), tmp_path / "o")
    some = _write_predictions(tmp_path / "some.jsonl", [(q.id, "A") for q in questions[:-2]])
    with pytest.raises(PredictionsError, match=f"2 of {len(questions)} questions have no prediction"):
        run(_eval_cfg(qpath, some), tmp_path / "o")
    r = run(_eval_cfg(qpath, some, allow_missing=True), tmp_path / "o")
    assert r["missing"] == [q.id for q in questions[-2:]]
    assert all(rec["score"] == 0.0 for rec in r["result"]["records"][-2:])
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x"}\n')
    with pytest.raises(PredictionsError, match=r"bad.jsonl:1: expected an object with 'id' and 'prediction'"):
        run(_eval_cfg(qpath, bad), tmp_path / "o")


def test_eqa_env_passes_check_env_and_scores_answers(built):
    from gymnasium.utils.env_checker import check_env

    from vlm2_agent.eqa.env import EQAEnv

    _, cfg, _ = built
    env = EQAEnv(data_root=cfg.out_root, split="test")
    check_env(env, skip_render_check=True)
    questions = load_jsonl(Path(cfg.out_root) / "test" / "questions.jsonl")
    mc = next(q for q in questions if not q.is_numerical)
    obs, info = env.reset(options={"question_id": mc.id})
    assert obs["question"] == mc.question and obs["options"][: len(mc.options)] == tuple(mc.options)
    assert obs["answer_type"] == 0 and info["num_frames"] == mc.frame_range[1]
    np.testing.assert_array_equal(obs["rgb"], env.store.rgb(mc.episode_id)[0])
    obs, _, _, _, _ = env.step(0)
    np.testing.assert_array_equal(obs["rgb"], env.store.rgb(mc.episode_id)[1])
    _, reward, terminated, truncated, info = env.step(1 + LETTERS.index(mc.ground_truth))
    assert (reward, terminated, truncated, info["score"]) == (1.0, True, False, 1.0)
    env.reset(options={"question_id": mc.id})
    wrong = next(i for i, c in enumerate(LETTERS) if c != mc.ground_truth)
    assert env.step(1 + wrong)[1] == 0.0
    num = next(q for q in questions if q.is_numerical)
    obs, _ = env.reset(options={"question_id": num.id})
    assert obs["answer_type"] == 1 and obs["options"] == ("", "", "", "")
    assert env.unwrapped.answer(f"{num.ground_truth}")[1] == 1.0
    env.reset(options={"question_id": num.id})
    for _ in range(num.frame_range[1] - 1):
        _, _, term, trunc, _ = env.step(0)
        assert not (term or trunc)
    _, reward, term, trunc, info = env.step(0)  # past the last frame: unanswered
    assert (reward, term, trunc, info["score"]) == (0.0, False, True, 0.0)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)
    made = gym.make("VLM2/EQA-v0", data_root=cfg.out_root, split="test", frame_stride=10)
    _, info = made.reset(seed=3)
    q = next(q for q in questions if q.id == info["question_id"])
    assert info["num_frames"] == -(-q.frame_range[1] // 10)  # every 10th frame, the first included
    made.close()


def test_streamer_predict_fn_answers_every_question_from_stored_frames(built):
    """The VLM2 streaming model plugs into evaluation (an untrained model: the wiring, not the score)."""
    from vlm2_agent.eqa.evaluate import evaluate, streamer_predict_fn
    from vlm2_agent.model import VLM2Config, VLM2Model, VLM2Streamer, build_tokenizer

    _, cfg, _ = built
    split_dir = Path(cfg.out_root) / "test"
    questions = load_jsonl(split_dir / "questions.jsonl")[:6]
    tok = build_tokenizer([q.prompt() for q in questions], vocab_size=300)
    model = VLM2Model(VLM2Config(geometry_source="oracle", text_config={
        "model_type": "qwen2", "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
        "num_key_value_heads": 1, "intermediate_size": 64, "vocab_size": 300}))
    seen = []
    streamer = VLM2Streamer(model, tok, device="cpu")
    observe = streamer.observe
    streamer.observe = lambda frames, geo=None: (seen.append((tuple(frames.shape), sorted(geo))), observe(frames, geo))
    result = evaluate(questions, streamer_predict_fn(streamer, EpisodeStore(split_dir / "episodes"), max_frames=4))
    assert len(result["records"]) == len(questions) and all(isinstance(r["reply"], str) for r in result["records"])
    assert seen and all(s == ((1, 3, 32, 32), ["cam_to_world", "depth", "intrinsics"]) for s in seen)


def test_a_new_generator_config_asks_again_without_rendering(built, tmp_path):
    """Changing only the question generator's config re-asks the stored episodes from their logs,
    and gives the same bytes as a fresh build with that config."""
    root, cfg, _ = built
    work = tiny_config(root)
    work.out_root = str(tmp_path / "ask")
    shutil.copytree(Path(cfg.out_root), work.out_root)
    work.gen = {"relpos_margin": 0.3}
    store = EpisodeStore(Path(work.out_root) / "test" / "episodes")
    rgb_mtime = {e: (store.episode_dir(e) / "rgb.npy").stat().st_mtime_ns for e in store.episode_ids()}
    m = build_split(work, progress=False)
    assert m["episodes_asked_again"] == 2 and m["episodes_recorded"] == 0
    assert all((store.episode_dir(e) / "rgb.npy").stat().st_mtime_ns == t for e, t in rgb_mtime.items())
    fresh = tiny_config(root, out="fresh")
    fresh.out_root, fresh.gen = str(tmp_path / "fresh"), dict(work.gen)
    build_split(fresh, progress=False)
    a, b = Path(work.out_root) / "test", Path(fresh.out_root) / "test"
    assert (a / "manifest.json").read_bytes() == (b / "manifest.json").read_bytes()


def _lmms_samples(path: Path, docs: list[dict], replies: dict[str, str]) -> Path:
    """What lmms-eval writes with --log_samples: one record per doc, the reply in filtered_resps."""
    path.write_text("".join(json.dumps({"doc_id": i, "doc": d, "target": d["ground_truth"], "arguments": [],
                                        "resps": [[replies[d["id"]]]], "filtered_resps": [replies[d["id"]]]}) + "\n"
                            for i, d in enumerate(docs)))
    return path


def test_lmms_eval_export_import_round_trip_scores_as_direct_evaluation(built, tmp_path):
    import imageio.v3 as iio

    from vlm2_agent.cli.eqa_eval import run
    from vlm2_agent.eqa.evaluate import baseline_predict_fn, evaluate
    from vlm2_agent.eqa.lmms_eval import export
    from vlm2_agent.eqa.store import EpisodeStore

    _, cfg, _ = built
    qpath = Path(cfg.out_root) / "test" / "questions.jsonl"
    questions = load_jsonl(qpath)
    result = export(questions, EpisodeStore(Path(cfg.out_root) / "test" / "episodes"), tmp_path / "lmms", progress=False)
    docs = {t: [json.loads(line) for line in (tmp_path / "lmms" / t / "test.jsonl").read_text().splitlines()]
            for t in ("vsibench", "vstibench")}
    assert sum(len(d) for d in docs.values()) == len(questions)
    first = docs["vsibench"][0]
    assert set(first) == {"id", "dataset", "scene_name", "question_type", "question", "options", "ground_truth"}
    assert "video_path" in docs["vstibench"][0]
    # lmms-eval's vsibench task opens <HF_HOME>/vsibench/<dataset>/<scene_name>.mp4, vstibench <task>/<video_path>
    video = tmp_path / "lmms" / "vsibench" / first["dataset"] / f"{first['scene_name']}.mp4"
    frames = np.stack(list(iio.imiter(video)))
    end = max(q.frame_range[1] for q in questions if q.episode_id == first["scene_name"])
    assert frames.shape[0] == end and frames.shape[-1] == 3
    assert (tmp_path / "lmms" / "vstibench" / docs["vstibench"][0]["video_path"]).is_file()
    assert result["videos"] == len({q.episode_id for q in questions})
    # an outside model's replies (here the frequency baseline's) through lmms-eval's sample files
    replies = dict(zip([q.id for q in questions], baseline_predict_fn("frequency", questions, 0)(questions)))
    direct = evaluate(questions, [replies[q.id] for q in questions])["table"]
    for task, bench in (("vsibench", "vsi"), ("vstibench", "vsti")):
        samples = _lmms_samples(tmp_path / f"samples_vlm2_{task}.jsonl", docs[task], replies)
        r = run(_eval_cfg(qpath, samples, benchmark=bench), tmp_path / f"out_{task}")
        assert r["missing"] == []
        assert r["result"]["table"][bench] == direct[bench]


def test_qa_report_markdown_shows_every_system_and_question(built):
    from vlm2_agent.cli.demo_qa import qa_markdown, qa_report

    _, cfg, _ = built
    questions = load_jsonl(Path(cfg.out_root) / "test" / "questions.jsonl")[:12]
    truth = [str(q.ground_truth) if q.is_numerical else q.ground_truth for q in questions]
    wrong = [str(2 * q.ground_truth) if q.is_numerical else next(c for c in LETTERS if c != q.ground_truth)
             for q in questions]
    md = qa_markdown(qa_report(questions, truth, {"blind": wrong}, meta={"scene_id": "s", "episode_id": "e"}),
                     max_questions=5)
    benches = sorted({q.benchmark for q in questions})
    assert "| system | " + " | ".join(b.upper() for b in benches) + " |" in md
    assert "| vlm2 | " + " | ".join(["100.0"] * len(benches)) + " |" in md
    assert "| blind | " + " | ".join(["0.0"] * len(benches)) + " |" in md
    assert md.count("\n| ") >= 5 and "(7 more in the JSON report)" in md
