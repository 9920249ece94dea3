"""The blind audit of a split: every blind model and reference, per task, with bootstrap intervals.

Rows are tasks (sub-types averaged as the public code does), then VSI overall (8 tasks), VSTI
overall over its 5 tasks and VSTI overall over all 9 question types (VLM-3R's code), each labelled.
Columns are the references (chance as the expected multiple-choice score / the best constant from
train for numbers), VSI-Bench's frequency baseline, the project's per-subject prior, the two text
models fit on train and cross-validated on the split itself (TsT), the best of those blind models
with its 95% bootstrap interval, its gap to the reference, and the annotation oracle.

Example:
    >>> import numpy as np
    >>> task_scores(["object_counting", "object_counting"], np.array([1.0, 0.0]))["object_counting"]
    0.5
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..baselines import make_baseline
from ..metrics import aggregate, score_prediction
from ..question import Question
from ..tasks import HORIZONS, VSI_TASKS, VSTI_SUBTYPES, VSTI_TASKS, task_of
from .baselines import reference_scores
from .blind import BLIND_MODELS, cross_validate

BLIND_COLUMNS = ("frequency", "prior", "forest", "bow", "forest_tst", "bow_tst")
LABELS = {"reference": "chance / constant", "frequency": "frequency", "prior": "per-subject prior",
          "forest": "RF (train)", "bow": "BoW (train)", "forest_tst": "RF (TsT)", "bow_tst": "BoW (TsT)",
          "oracle": "oracle"}
OVERALL_ROWS = ("VSI overall (8 tasks)", "VSTI overall (5 tasks)", "VSTI overall (9 question types)")


def task_scores(types: Sequence[str], scores: np.ndarray) -> dict[str, float]:
    """Task and overall scores from per-question scores, aggregated as the public code does
    (:func:`~vlm2_agent.eqa.metrics.aggregate`), plus VSTI over its question types."""
    table = aggregate({"question_type": t, "score": float(s)} for t, s in zip(types, scores))
    out: dict[str, float] = {}
    for bench in ("vsi", "vsti"):
        if bench in table:
            out.update(table[bench]["tasks"])
    if "vsi" in table:
        out[OVERALL_ROWS[0]] = table["vsi"]["overall"]
    if "vsti" in table:
        out[OVERALL_ROWS[1]] = table["vsti"]["overall"]
        out[OVERALL_ROWS[2]] = float(np.mean(list(table["vsti"]["subtypes"].values())))
    return out


def bootstrap(types: Sequence[str], scores: np.ndarray, reps: int = 1000, seed: int = 0) -> dict[str, tuple]:
    """95% percentile intervals of every row of :func:`task_scores`, resampling questions within
    each question type."""
    rng = np.random.default_rng(seed)
    idx_by_type: dict[str, np.ndarray] = defaultdict(list)
    for i, t in enumerate(types):
        idx_by_type[t].append(i)
    draws: dict[str, np.ndarray] = {}
    for t, idx in idx_by_type.items():
        idx = np.asarray(idx)
        draws[t] = scores[idx][rng.integers(0, len(idx), (reps, len(idx)))].mean(1)
    by_task: dict[str, list[np.ndarray]] = defaultdict(list)
    for t, d in draws.items():
        by_task[task_of(t)].append(d)
    rows = {t: np.mean(v, 0) for t, v in by_task.items()}
    vsi = [rows[t] for t in VSI_TASKS if t in rows]
    vsti = [rows[t] for t in VSTI_TASKS if t in rows]
    vsti_types = [draws[t] for t in VSTI_SUBTYPES if t in draws]
    for name, vals in zip(OVERALL_ROWS, (vsi, vsti, vsti_types)):
        if vals:
            rows[name] = np.mean(vals, 0)
    return {k: (float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))) for k, v in rows.items()}


def audit(test: Sequence[Question], train: Sequence[Question], oracle: Callable | None = None,
          folds: int = 5, reps: int = 1000, seed: int = 0, progress: bool = False) -> dict[str, Any]:
    """Score every blind model and reference on ``test`` (fit on ``train`` or TsT on ``test``);
    ``oracle(questions) -> replies`` adds the oracle column. Returns per-question scores, rows,
    intervals and counts."""
    test, train = list(test), list(train)
    types = [q.question_type for q in test]
    scores: dict[str, np.ndarray] = {"reference": reference_scores(train, test)}

    def scored(replies: Sequence[str]) -> np.ndarray:
        return np.array([score_prediction(q, r) for q, r in zip(test, replies)])

    for name in ("frequency", "prior"):
        model = make_baseline("frequency" if name == "frequency" else "blind", train, seed)
        scores[name] = scored([model.predict(q) for q in test])
    for name in BLIND_MODELS:
        if progress:
            print(f"[audit] {name}: fit on train, then TsT ({folds} folds by scene)", flush=True)
        scores[name] = scored(BLIND_MODELS[name](seed).fit(train).predict(test))
        scores[f"{name}_tst"] = scored(cross_validate(name, test, folds, seed))
    problems: list[str] = []
    if oracle is not None:
        replies, problems = oracle(test)
        scores["oracle"] = scored(replies)
    rows = {name: task_scores(types, s) for name, s in scores.items()}
    best = {}
    for row in rows["reference"]:
        name = max(BLIND_COLUMNS, key=lambda c: rows[c].get(row, -1.0))
        best[row] = name
    ci = {name: bootstrap(types, scores[name], reps, seed) for name in set(best.values())}
    counts: dict[str, dict[str, int]] = defaultdict(lambda: {h: 0 for h in (*HORIZONS, "all")})
    for q in test:
        counts[q.task][q.horizon] += 1
        counts[q.task]["all"] += 1
    return {"rows": rows, "best": best, "best_ci": {row: ci[name][row] for row, name in best.items()},
            "counts": dict(counts), "oracle_problems": problems, "n": len(test), "n_train": len(train),
            "scores": {k: v.tolist() for k, v in scores.items()}, "ids": [q.id for q in test]}


def row_order(rows: Mapping[str, Any]) -> list[str]:
    return [t for t in (*VSI_TASKS, OVERALL_ROWS[0], *VSTI_TASKS, *OVERALL_ROWS[1:]) if t in rows]


def markdown(result: Mapping[str, Any], title: str) -> str:
    """The audit table (scores x100)."""
    rows, cols = result["rows"], [c for c in ("reference", *BLIND_COLUMNS, "oracle") if c in result["rows"]]
    head = ["task", "n", *(LABELS[c] for c in cols), "best blind [95% CI]", "best - ref"]
    lines = [f"### {title}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in row_order(rows["reference"]):
        n = result["counts"].get(row, {}).get("all", "")
        best = result["best"][row]
        lo, hi = result["best_ci"][row]
        b, ref = rows[best][row], rows["reference"][row]
        cells = [row if row in result["counts"] else f"**{row}**", str(n)]
        cells += [f"{100 * rows[c][row]:.1f}" for c in cols]
        cells += [f"{100 * b:.1f} {LABELS[best]} [{100 * lo:.1f}, {100 * hi:.1f}]",
                  f"{100 * (b - ref):+.1f} (upper {100 * (hi - ref):+.1f})"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def counts_markdown(result: Mapping[str, Any]) -> str:
    lines = ["| task | short | mid | long | all |", "|---|---|---|---|---|"]
    for task in row_order(result["counts"]):
        c = result["counts"][task]
        lines.append(f"| {task} | " + " | ".join(str(c[h]) for h in (*HORIZONS, "all")) + " |")
    return "\n".join(lines) + "\n"


def plot_audit(results: Mapping[str, Mapping[str, Any]], path: str | Path) -> Path:
    """Per task: reference, best blind model (with its interval) and oracle, one panel per split."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from vlm2_base.io import atomic_savefig

    fig, axes = plt.subplots(len(results), 1, figsize=(13, 3.6 * len(results)), squeeze=False)
    for ax, (name, res) in zip(axes[:, 0], results.items()):
        rows = row_order(res["rows"]["reference"])
        x = np.arange(len(rows))
        ref = [100 * res["rows"]["reference"][r] for r in rows]
        best = [100 * res["rows"][res["best"][r]][r] for r in rows]
        err = np.array([[b - 100 * res["best_ci"][r][0], 100 * res["best_ci"][r][1] - b] for r, b in zip(rows, best)]).T
        ax.bar(x - 0.27, ref, 0.27, label="chance / constant", color="#999999")
        ax.bar(x, best, 0.27, yerr=err, capsize=2, label="best blind model (95% CI)", color="#d62728")
        if "oracle" in res["rows"]:
            ax.bar(x + 0.27, [100 * res["rows"]["oracle"][r] for r in rows], 0.27, label="oracle", color="#2ca02c")
        ax.set_xticks(x, [r.replace("_", " ").replace(" overall", "\noverall") for r in rows], rotation=60,
                      ha="right", fontsize=7)
        ax.set_ylabel("score x100")
        ax.set_ylim(0, 105)
        ax.set_title(name, fontsize=10)
        ax.legend(fontsize=7, ncol=3, loc="upper left")
    fig.tight_layout()
    return atomic_savefig(fig, path, dpi=110)


def plot_answer_histograms(questions: Sequence[Question], path: str | Path, title: str = "") -> Path:
    """Answer content per question type: value histograms (numbers), answer-text bars (choices)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from vlm2_base.io import atomic_savefig

    by_type: dict[str, list[Question]] = defaultdict(list)
    for q in questions:
        by_type[q.question_type].append(q)
    types = list(by_type)
    cols = 5
    nrows = int(np.ceil(len(types) / cols))
    fig, axes = plt.subplots(nrows, cols, figsize=(4 * cols, 2.9 * nrows), squeeze=False)
    for ax in axes.ravel()[len(types):]:
        ax.axis("off")
    for ax, t in zip(axes.ravel(), types):
        qs = by_type[t]
        if qs[0].is_numerical:
            v = np.array([float(q.ground_truth) for q in qs])
            if t == "object_counting":
                vals, cnt = np.unique(v, return_counts=True)
                ax.bar(vals, cnt / len(v), color="#1f77b4")
                ax.axhline(0.2, color="k", lw=0.8, ls="--")
            else:
                ax.hist(v, bins=30, color="#1f77b4")
        else:
            c: dict[str, int] = defaultdict(int)
            for q in qs:
                c[q.answer] += 1
            top = sorted(c.items(), key=lambda kv: -kv[1])[:12]
            ax.barh([k[:22] for k, _ in top][::-1], [v / len(qs) for _, v in top][::-1], color="#ff7f0e")
            ax.tick_params(axis="y", labelsize=6)
        ax.set_title(f"{t} (n={len(qs)})", fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return atomic_savefig(fig, path, dpi=100)


def save_json(obj: Any, path: str | Path) -> Path:
    from vlm2_base.io import atomic_write

    atomic_write(Path(path), json.dumps(obj, indent=1) + "\n")
    return Path(path)


__all__ = ["audit", "bootstrap", "counts_markdown", "markdown", "plot_answer_histograms", "plot_audit",
           "save_json", "task_scores"]
