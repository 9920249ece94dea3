"""Score EQA predictions per task and horizon and write the report (Markdown, JSON, bar chart).

Predictions come as a JSONL file of ``{"id": ..., "prediction": "..."}`` lines matched to
``questions.jsonl`` by id, or from a *predict function* ``predict_fn(questions) -> replies`` (one
reply string per question, in order): :func:`baseline_predict_fn` wraps the reference baselines,
:func:`streamer_predict_fn` the VLM2 streaming model (``reset / observe / answer``); any model
plugs in the same way. Scores follow :mod:`vlm2_agent.eqa.metrics` (the public VSI/VSTI code).

Example:
    >>> from vlm2_agent.eqa.question import Question
    >>> qs = [Question(id="q0", scene_id="s", episode_id="e", question_type="object_counting",
    ...                question="How many chair(s) are in this room?", ground_truth=4.0,
    ...                frame_range=(0, 8), fps=4.0)]
    >>> result = evaluate(qs, ["4"])
    >>> result["table"]["vsi"]["tasks"]["object_counting"]
    1.0
"""

from __future__ import annotations

import json
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from vlm2_base.io import atomic_savefig, atomic_write

from .metrics import aggregate, format_table, make_record
from .question import Question
from .tasks import HORIZONS

PredictFn = Callable[[Sequence[Question]], list[str]]


class PredictionsError(ValueError):
    """A predictions file or list does not match the questions; the message says which ids and where."""


def _ids_text(ids: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(repr(i) for i in list(ids)[:limit])
    return shown + (f", ... ({len(ids)} in all)" if len(ids) > limit else "")


def load_predictions(path: str | Path) -> dict[str, str]:
    """``{id: prediction}`` from a JSONL file of ``{"id": str, "prediction": str}`` objects, or from
    lmms-eval's ``--log_samples`` output for an exported task (:mod:`vlm2_agent.eqa.lmms_eval`)."""
    from .lmms_eval import is_lmms_samples, read_predictions

    out: dict[str, str] = {}
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"predictions file {path} does not exist")
    if is_lmms_samples(path):
        return read_predictions(path)
    with open(path) as f:
        for i, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise PredictionsError(f"{path}:{i}: not valid JSON ({e})") from e
            if not isinstance(rec, dict) or "id" not in rec or "prediction" not in rec:
                raise PredictionsError(f"{path}:{i}: expected an object with 'id' and 'prediction', got {line.strip()[:80]}")
            if not isinstance(rec["prediction"], str):
                raise PredictionsError(f"{path}:{i}: 'prediction' must be a string, got {type(rec['prediction']).__name__}")
            qid = str(rec["id"])
            if qid in out:
                raise PredictionsError(f"{path}:{i}: duplicate id {qid!r}")
            out[qid] = rec["prediction"]
    return out


def match_predictions(questions: Sequence[Question], predictions: Mapping[str, str], source: str = "predictions",
                      allow_missing: bool = False) -> tuple[list[str], list[str]]:
    """Replies in question order and the ids of unanswered questions.

    Ids not among the questions always raise :class:`PredictionsError` (a predictions file for
    another split or build); unanswered questions raise unless ``allow_missing``, in which case
    they get the empty reply, which scores 0."""
    known = {q.id for q in questions}
    unknown = [i for i in predictions if i not in known]
    if unknown:
        raise PredictionsError(f"{source}: {len(unknown)} id(s) are not in the questions: {_ids_text(unknown)}; "
                               "was it made for another split or build?")
    missing = [q.id for q in questions if q.id not in predictions]
    if missing and not allow_missing:
        raise PredictionsError(f"{source}: {len(missing)} of {len(questions)} questions have no prediction: "
                               f"{_ids_text(missing)} (pass allow_missing=true to score them as wrong)")
    return [predictions.get(q.id, "") for q in questions], missing


def evaluate(questions: Sequence[Question], replies: Sequence[str] | PredictFn) -> dict[str, Any]:
    """Score ``replies`` (or ``replies(questions)``); returns ``records`` and the ``table`` of
    :func:`~vlm2_agent.eqa.metrics.aggregate` (scores in [0, 1])."""
    questions = list(questions)
    if not questions:
        raise ValueError("evaluate: no questions to score")
    if callable(replies):
        replies = replies(questions)
    replies = list(replies)
    if len(replies) != len(questions):
        raise PredictionsError(f"got {len(replies)} replies for {len(questions)} questions")
    empty = sum(1 for r in replies if not str(r).strip())
    if empty == len(replies):
        warnings.warn(f"evaluate: all {empty} replies are empty, so every question scores 0; is the model "
                      "or the predictions file answering at all?", stacklevel=2)
    elif empty > len(replies) // 2:
        warnings.warn(f"evaluate: {empty} of {len(replies)} replies are empty (scored 0)", stacklevel=2)
    records = [make_record(q, r) for q, r in zip(questions, replies)]
    return {"records": records, "table": aggregate(records)}


def baseline_predict_fn(name: str, train: Iterable[Question], seed: int = 0) -> PredictFn:
    """The ``chance`` / ``frequency`` / ``blind`` baseline fitted on ``train`` as a predict function."""
    from .baselines import make_baseline

    model = make_baseline(name, train, seed)
    return lambda questions: [model.predict(q) for q in questions]


def streamer_predict_fn(streamer, store, max_frames: int = 32) -> PredictFn:
    """Answers from a :class:`vlm2_agent.model.VLM2Streamer`: for each episode, ``reset(1)``, then
    ``observe`` up to ``max_frames`` frames spread evenly over the question's video (rgb from the
    :class:`~vlm2_agent.eqa.store.EpisodeStore`, plus depth, intrinsics and pose when the model uses
    oracle geometry), then ``answer`` each of its questions with its benchmark prompt."""
    import torch

    def predict(questions: Sequence[Question]) -> list[str]:
        groups: dict[tuple, list[int]] = defaultdict(list)
        for i, q in enumerate(questions):
            groups[(q.episode_id, q.frame_range)].append(i)
        replies = [""] * len(questions)
        oracle = getattr(streamer.model.config, "geometry_source", None) == "oracle"
        for (eid, (start, end)), idx in groups.items():
            rgb, log = store.rgb(eid), store.log(eid)
            depth = store.depth(eid) if oracle else None
            H, W = rgb.shape[1:3]
            f = (W / 2) / np.tan(np.radians(log.hfov_deg) / 2)
            K = torch.tensor([[[f, 0, W / 2], [0, f, H / 2], [0, 0, 1]]], dtype=torch.float32)
            streamer.reset(1)
            for t in np.unique(np.linspace(start, end - 1, min(max_frames, end - start)).round().astype(int)):
                frame = torch.from_numpy(np.array(rgb[t])).permute(2, 0, 1)[None]  # a copy: the store is read-only
                geo = None
                if oracle:
                    geo = {"depth": torch.from_numpy(depth[t].astype(np.float32))[None], "intrinsics": K,
                           "cam_to_world": torch.from_numpy(log.camera_to_world[t])[None]}
                streamer.observe(frame, geo)
            for i in idx:
                replies[i] = streamer.answer([questions[i].prompt()])[0]
        return replies

    return predict




def plot_table(table: Mapping[str, Mapping[str, Any]], path: str | Path, title: str = "") -> Path:
    """A bar chart PNG: per benchmark, one group per task (and overall), bars for all/short/mid/long."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    benches = list(table)
    fig, axes = plt.subplots(len(benches), 1, figsize=(11, 3.6 * len(benches)), squeeze=False)
    cols = ("all", *HORIZONS)
    for ax, bench in zip(axes[:, 0], benches):
        t = table[bench]
        rows = [*t["tasks"], "overall"]
        x = np.arange(len(rows))
        for j, col in enumerate(cols):
            src = t if col == "all" else t["horizons"].get(col)
            vals = [np.nan if src is None else 100 * (src["overall"] if r == "overall" else src["tasks"].get(r, np.nan))
                    for r in rows]
            ax.bar(x + (j - 1.5) * 0.2, vals, 0.2, label=col)
        ax.set_xticks(x, [r.replace("_", "\n", 1) for r in rows], fontsize=7)
        ax.set_ylim(0, 100)
        ax.set_ylabel("score (x100)")
        ax.set_title(f"{title} {bench.upper()}".strip())
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=7, ncol=4, loc="upper right")
    fig.tight_layout()
    return atomic_savefig(fig, path, dpi=110)


def write_report(result: Mapping[str, Any], out_dir: str | Path, name: str = "results",
                 meta: Mapping[str, Any] | None = None) -> dict[str, Path]:
    """Write ``<name>.md``, ``<name>.json`` (table, counts, meta), ``<name>.png`` and
    ``<name>_scores.jsonl`` (one scored record per question) into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table, records = result["table"], result["records"]
    md = f"## {name}\n\n" + format_table(table)
    doc = {"name": name, "meta": dict(meta or {}), "num_questions": len(records), "table": table}
    paths = {"md": out / f"{name}.md", "json": out / f"{name}.json", "png": out / f"{name}.png",
             "scores": out / f"{name}_scores.jsonl"}
    atomic_write(paths["md"], md)
    atomic_write(paths["json"], json.dumps(doc, indent=1) + "\n")
    atomic_write(paths["scores"], "".join(json.dumps(r) + "\n" for r in records))
    plot_table(table, paths["png"], title=name)
    return paths


def compare_table(tables: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> str:
    """A Markdown table with one column per system (scores x100, all horizons) and task rows, then
    the overall score per horizon."""
    names = list(tables)
    lines = []
    for bench in ("vsi", "vsti"):
        if not any(bench in t for t in tables.values()):
            continue
        first = next(t[bench] for t in tables.values() if bench in t)
        lines += [f"### {bench.upper()}", "", "| task | " + " | ".join(names) + " |",
                  "|---" * (len(names) + 1) + "|"]
        for row in [*first["tasks"], "overall"]:
            cells = []
            for n in names:
                t = tables[n].get(bench)
                v = None if t is None else (t["overall"] if row == "overall" else t["tasks"].get(row))
                cells.append("-" if v is None else f"{100 * v:.1f}")
            lines.append(f"| {row} | " + " | ".join(cells) + " |")
        for h in HORIZONS:
            cells = []
            for n in names:
                t = tables[n].get(bench, {}).get("horizons", {}).get(h)
                cells.append("-" if t is None else f"{100 * t['overall']:.1f}")
            lines.append(f"| overall ({h}) | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


__all__ = ["PredictFn", "PredictionsError", "baseline_predict_fn", "compare_table", "evaluate", "load_predictions",
           "match_predictions", "plot_table", "streamer_predict_fn", "write_report"]
