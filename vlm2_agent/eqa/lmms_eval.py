"""The benchmark in lmms-eval's layout, so any outside video model can be scored on it, and back.

:func:`export` writes the questions and their videos the way lmms-eval's ``vsibench`` task (from
the VSI-Bench authors' code) and ``vstibench`` task (VLM-3R's) read them, one folder per task
under ``out`` (which then serves as ``HF_HOME``, where those tasks look for their videos)::

    out/vsibench/test.jsonl          docs: id, dataset, scene_name, question_type, question, options, ground_truth
    out/vsibench/vlm2/<episode>.mp4  the video of doc ``scene_name`` (lmms-eval: <dataset>/<scene_name>.mp4)
    out/vsibench/vlm2_vsibench.yaml  a task that includes lmms-eval's vsibench.yaml and reads test.jsonl
    out/vstibench/test.jsonl         docs as above plus video_path (relative to out/vstibench)
    out/vstibench/vlm2/<episode>.mp4 the same videos (hard links where the file system allows)
    out/vstibench/vlm2_vstibench.yaml
    out/README.md                    the lmms-eval command

Videos are the recorded RGB frames of each episode (``frame_range`` of its questions) at the
recording's frame rate (``fps``, 4 by default). :func:`read_predictions` reads what lmms-eval
writes with ``--log_samples`` (``samples_*.jsonl``, or the older ``*.json`` with a ``logs`` list)
into ``{question id: reply}``, the form :func:`vlm2_agent.eqa.evaluate.match_predictions` takes;
``vlm2-eqa-eval predictions=<that file>`` detects the format itself.

Example:
    >>> import tempfile, json
    >>> from vlm2_agent.eqa.question import Question
    >>> q = Question(id="s/e/object_counting/0", scene_id="s", episode_id="e", question_type="object_counting",
    ...              question="How many chair(s) are in this room?", ground_truth=3.0, frame_range=(0, 8), fps=4.0)
    >>> doc = lmms_doc(q)
    >>> doc["dataset"], doc["scene_name"], doc["ground_truth"]
    ('vlm2', 'e', '3')
    >>> path = tempfile.mktemp(suffix=".jsonl")
    >>> _ = open(path, "w").write(json.dumps({"doc_id": 0, "doc": doc, "filtered_resps": ["3"]}) + "\\n")
    >>> read_predictions(path)
    {'s/e/object_counting/0': '3'}
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Iterable, Sequence

from vlm2_base.io import atomic_write, write_video

from .question import Question

DATASET = "vlm2"
TASK_DIRS = {"vsi": "vsibench", "vsti": "vstibench"}
_TASK_YAML = """\
# lmms-eval task: this project's benchmark ({benchmark}) through lmms-eval's own {task} task code.
# Copy this file into lmms_eval/tasks/{task}/ (beside {task}.yaml) and run, with HF_HOME={home}:
#   lmms-eval --model <your model> --tasks vlm2_{task} --log_samples --output_path <dir>
include: {task}.yaml
task: vlm2_{task}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {docs}
test_split: test
"""


def _number_text(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def lmms_doc(q: Question) -> dict[str, Any]:
    """The lmms-eval doc of one question (VSI-Bench's fields; VSTI docs add ``video_path``)."""
    doc = {"id": q.id, "dataset": DATASET, "scene_name": q.episode_id, "question_type": q.question_type,
           "question": q.question, "options": list(q.options) if q.options else None,
           "ground_truth": _number_text(q.ground_truth) if q.is_numerical else str(q.ground_truth)}
    if q.benchmark == "vsti":
        doc["video_path"] = f"{DATASET}/{q.episode_id}.mp4"
    return doc


def _link_or_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists():
        dst.unlink()
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def export(questions: Sequence[Question], store, out: str | Path, progress: bool = True) -> dict[str, Any]:
    """Write ``questions`` and the videos of ``store`` (:class:`~vlm2_agent.eqa.store.EpisodeStore`)
    in lmms-eval's layout under ``out``; returns counts and paths. An episode's video covers the
    longest ``frame_range`` of its questions."""
    from tqdm.auto import tqdm

    out = Path(out).resolve()
    clips: dict[str, tuple[int, float]] = {}
    for q in questions:
        end, _ = clips.get(q.episode_id, (0, q.fps))
        if q.frame_range[0] != 0:
            raise ValueError(f"question {q.id}: frame_range {q.frame_range} does not start at frame 0; "
                             "lmms-eval's tasks show one whole video per scene_name")
        clips[q.episode_id] = (max(end, q.frame_range[1]), q.fps)
    benches = sorted({q.benchmark for q in questions})
    first = TASK_DIRS[benches[0]]
    for episode_id, (end, fps) in tqdm(sorted(clips.items()), desc="videos", disable=not progress):
        video = out / first / DATASET / f"{episode_id}.mp4"
        video.parent.mkdir(parents=True, exist_ok=True)
        write_video(store.rgb(episode_id)[:end], video, fps, quality=8, macro_block_size=1,
                    ffmpeg_log_level="error")
        for bench in benches[1:]:
            _link_or_copy(video, out / TASK_DIRS[bench] / DATASET / f"{episode_id}.mp4")
    counts = {}
    for bench in benches:
        task = TASK_DIRS[bench]
        docs = [lmms_doc(q) for q in questions if q.benchmark == bench]
        docs_path = out / task / "test.jsonl"
        atomic_write(docs_path, "".join(json.dumps(d) + "\n" for d in docs))
        atomic_write(out / task / f"vlm2_{task}.yaml",
                     _TASK_YAML.format(benchmark=bench.upper(), task=task, home=out, docs=docs_path))
        counts[task] = len(docs)
    atomic_write(out / "README.md", _readme(out, counts))
    return {"out": out, "videos": len(clips), "docs": counts}


def _readme(out: Path, counts: dict[str, int]) -> str:
    rows = "\n".join(f"| `vlm2_{t}` | {n} | `{t}/test.jsonl` |" for t, n in counts.items())
    return f"""# This benchmark in lmms-eval's layout

| task | questions | docs |
|---|---|---|
{rows}

The docs have the fields of lmms-eval's VSI-Bench task (`id`, `dataset`, `scene_name`,
`question_type`, `question`, `options`, `ground_truth`; VSTI docs add `video_path`). Each task's
videos are under `<task>/{DATASET}/<scene_name>.mp4`, where lmms-eval's task code looks for them
relative to `$HF_HOME`.

1. Copy `vsibench/vlm2_vsibench.yaml` into `lmms_eval/tasks/vsibench/` and
   `vstibench/vlm2_vstibench.yaml` into `lmms_eval/tasks/vstibench/` (VLM-3R's task).
2. Run `HF_HOME={out} lmms-eval --model <model> --tasks vlm2_vsibench,vlm2_vstibench --log_samples --output_path results/`.
3. Score the samples here, per task and horizon, beside every other model:
   `vlm2-eqa-eval predictions=results/<model>/<...>_samples_vlm2_vsibench.jsonl allow_missing=true`
   (each task's file scores its own questions; `allow_missing` leaves the other task's unscored).
"""


def _reply(rec: dict[str, Any], where: str) -> str:
    for key in ("filtered_resps", "resps"):
        value = rec.get(key)
        while isinstance(value, list) and value:
            value = value[0]
        if isinstance(value, str):
            return value
    raise ValueError(f"{where}: no reply in 'filtered_resps' or 'resps'")


def _records(path: Path) -> Iterable[tuple[str, Any]]:
    """``(where, record)`` of a samples file, read lazily: a JSON-lines file line by line (so telling
    its format reads one line), the older ``.json`` with a ``logs`` list as a whole."""
    if path.suffix == ".json":
        with open(path) as f:
            head = f.read(4096).lstrip()[:2000]
        if head.startswith("{") and '"logs"' in head:
            doc = json.loads(path.read_text())
            for i, rec in enumerate(doc.get("logs") or []):
                yield f"{path}: logs[{i}]", rec
            return
    with open(path) as f:
        for i, line in enumerate(f, 1):
            if line.strip():
                yield f"{path}:{i}", json.loads(line)


def is_lmms_samples(path: str | Path) -> bool:
    """True when ``path`` looks like lmms-eval's ``--log_samples`` output (records with a ``doc``)."""
    try:
        where, rec = next(iter(_records(Path(path))))
    except (StopIteration, json.JSONDecodeError, OSError, UnicodeDecodeError):
        return False
    return isinstance(rec, dict) and isinstance(rec.get("doc"), dict)


def read_predictions(path: str | Path) -> dict[str, str]:
    """``{question id: reply}`` from lmms-eval's ``--log_samples`` file of an exported task."""
    from .evaluate import PredictionsError

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"lmms-eval samples file {path} does not exist")
    out: dict[str, str] = {}
    try:
        for where, rec in _records(path):
            doc = rec.get("doc") if isinstance(rec, dict) else None
            if not isinstance(doc, dict) or "id" not in doc:
                raise PredictionsError(f"{where}: expected an lmms-eval sample with doc.id "
                                       "(a doc of vlm2-eqa-export)")
            qid = str(doc["id"])
            if qid in out:
                raise PredictionsError(f"{where}: duplicate doc id {qid!r}")
            try:
                out[qid] = _reply(rec, where)
            except ValueError as e:
                raise PredictionsError(str(e)) from None
    except json.JSONDecodeError as e:
        raise PredictionsError(f"{path}: not valid JSON lines ({e})") from e
    return out


__all__ = ["export", "is_lmms_samples", "lmms_doc", "read_predictions"]
