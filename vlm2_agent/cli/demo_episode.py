"""The question-answering stage of ``make demo``: record one EQA tour of a scene at the training
store's settings, answer its questions with a shipped VLM2 checkpoint, write the QA video and report.

The tour is recorded with :func:`vlm2_agent.eqa.build.record_episode` (the ``vlm2-eqa-build``
recorder: same renderer, resolution and hfov as the training store, questions from the EQA
generator), then read back through the training data pipeline (the same stride), so the model sees
exactly what it saw in training.

Example (Python)::

    paths = run_qa({"resolution": [64, 64], "hfov": 90.0, "horizon": "long", "budget": 1000, "stride": 8,
                    "max_questions": 24, "hold": 8, "seed": 0},
                   "data/demo/scenes/vlm2_apartments", "apt_test_110000", "data/demo/qa",
                   checkpoint="checkpoints/vlm2_cpu_small")
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from vlm2_agent.cli.demo_qa import qa_markdown, qa_report, qa_video_frames, save_json
from vlm2_agent.eqa.build import BuildConfig, make_explore_env, record_episode
from vlm2_agent.eqa.question import BENCHMARK_VERSION, load_jsonl
from vlm2_agent.eqa.selection import select_balanced
from vlm2_agent.eqa.store import EpisodeStore
from vlm2_base.io import atomic_write, write_video

TRAIN_QUESTIONS = "train_questions.jsonl.gz"


def load_train_questions(checkpoint: Path):
    """Training questions shipped next to the checkpoint (the baselines are fitted on them). They
    are read whatever benchmark version the checkpoint was trained on, since they describe that
    checkpoint; the report names the version."""
    import gzip
    import tempfile

    path = checkpoint / TRAIN_QUESTIONS
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the checkpoint folder should hold its training questions for the "
                                "blind/frequency baselines (written by the training export)")
    with tempfile.TemporaryDirectory() as d:
        plain = Path(d) / "q.jsonl"
        plain.write_bytes(gzip.decompress(path.read_bytes()))
        return load_jsonl(plain, accept_versions=("v1", BENCHMARK_VERSION))


def record_qa_episode(qa: Mapping[str, Any], dataset_dir: Path, scene_id: str, out_dir: Path) -> tuple[Path, str]:
    """Record (or reuse) the QA tour; returns (store root, episode id)."""
    import scenes

    bcfg = BuildConfig(split="test", out_root=str(out_dir), scenes_root=str(dataset_dir.parent),
                       dataset_name=dataset_dir.name, resolution=tuple(int(v) for v in qa["resolution"]),
                       hfov=float(qa["hfov"]), episodes={str(qa["horizon"]): {"count": 1, "budget": int(qa["budget"])}},
                       seed=int(qa["seed"]), write_maps=False)
    store = EpisodeStore(out_dir / "episodes")
    scene = scenes.load(dataset_dir, scene_id=scene_id)
    env = make_explore_env(scene, bcfg)
    try:
        qs = record_episode(env, store, bcfg, scene, str(qa["horizon"]), 0, int(qa["budget"]))
    finally:
        env.close()
    eid = qs[0].episode_id if qs else store.episode_ids()[0]
    # the benchmark's answer balancing over this one episode's candidates (a split adds bias pruning)
    store.write_questions(eid, select_balanced(qs))
    return out_dir, eid


def run_qa(qa: Mapping[str, Any], dataset_dir: str | Path, scene_id: str, out_dir: str | Path,
           checkpoint: str | Path) -> dict[str, Path]:
    """Record, answer, score; returns the paths of ``qa_video`` and ``qa_report``."""
    import torch

    from vlm2_agent.eqa.evaluate import baseline_predict_fn
    from vlm2_agent.model import VLM2Streamer
    from vlm2_agent.training.data import EpisodeVideoDataset
    from vlm2_agent.training.evaluation import answer_dataset

    torch.set_num_threads(1)  # tiny tensors: one thread is fastest on a busy 2-core machine
    out_dir, checkpoint = Path(out_dir), Path(checkpoint)
    t0 = time.perf_counter()
    root, eid = record_qa_episode(qa, Path(dataset_dir), scene_id, out_dir)
    t_record = time.perf_counter() - t0
    streamer = VLM2Streamer.from_pretrained(checkpoint, device="cpu")
    ds = EpisodeVideoDataset(root, stride=int(qa["stride"]))
    item = ds[ds.episode_ids.index(eid)]
    questions, answers = answer_dataset(streamer.model, streamer.tokenizer, ds, progress=False)
    train = load_train_questions(checkpoint)
    baselines = {b: baseline_predict_fn(b, train, int(qa["seed"]))(questions) for b in ("blind", "frequency")}
    report = qa_report(questions, answers, baselines, meta={
        "scene_id": scene_id, "episode_id": eid, "checkpoint": str(checkpoint), "stride": int(qa["stride"]),
        "checkpoint_benchmark": sorted({q.version for q in train}), "benchmark": BENCHMARK_VERSION,
        "frames_streamed": int(item.frames.shape[0]), "video_steps": int(item.frame_indices[-1] + 1),
        "record_seconds": round(t_record, 1), "answer_seconds": round(time.perf_counter() - t0 - t_record, 1)})
    paths = {"qa_report": save_json(report, out_dir / "qa_report.json"),
             "qa_report_md": atomic_write(out_dir / "qa_report.md", qa_markdown(report))}
    # cards for a spread of question types: every k-th question so that all types appear
    n = min(int(qa["max_questions"]), len(questions))
    pick = np.unique(np.linspace(0, len(questions) - 1, n).round().astype(int)).tolist() if n else []
    frames = item.frames.permute(0, 2, 3, 1).numpy()
    video = qa_video_frames(frames, item.frame_indices.tolist(), [questions[i] for i in pick],
                            [answers[i] for i in pick], {b: [r[i] for i in pick] for b, r in baselines.items()},
                            title=f"{scene_id} ({qa['horizon']})", hold=int(qa["hold"]))
    paths["qa_video"] = write_video(video, out_dir / "qa_video.mp4", fps=4.0, macro_block_size=8)
    ov = report["overall"]
    print("[demo] QA overall (x100): " + ", ".join(
        f"{name}: VSI {100 * t.get('vsi', float('nan')):.1f} VSTI {100 * t.get('vsti', float('nan')):.1f}"
        for name, t in ov.items()))
    return paths


__all__ = ["load_train_questions", "record_qa_episode", "run_qa"]
