"""Does the model use its video? Diagnostics written beside every run's test scores.

* **video swap**: every episode's questions answered three ways: with its own video, with the
  video of an episode of *another scene* of the same horizon (the next one in id order), and with
  a blank video (black frames, no valid depth, the episode's length). A model that reads its video
  changes its replies and loses score on the swap; one that answers from the text does not.
* **distinct replies** per question type, and the share of the commonest reply (a type answered
  with a constant has one distinct reply and a share of 1).
* **evidence age**: accuracy against how long before the end of the video the evidence of a
  question was last seen (benchmark v2's ``evidence_age``, in frames of the 4 fps video), in bins,
  with the working-memory window (``working_memory_size`` x stride frames) marked: dual memory
  should hold up beyond it, working memory alone should fall toward chance.

Example:
    >>> other_scene_partner(["a-short-0", "b-short-0", "a-mid-0", "c-mid-0"], ["a", "b", "a", "c"], ["short", "short", "mid", "mid"])
    [1, 0, 3, 2]
"""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from envs.render.camera import intrinsics
from vlm2_agent.eqa.metrics import aggregate, make_record

from .data import FeatureItem, VideoItem
from .evaluation import answer_item

AGE_BINS = (0, 32, 64, 128, 256, 512, 10**9)  # frames of the 4 fps video: 8 s, 16 s, 32 s, 64 s, 128 s


def other_scene_partner(episode_ids: Sequence[str], scenes: Sequence[str], horizons: Sequence[str]) -> list[int]:
    """For each episode, the next episode (cyclic, id order) of the same horizon from another scene."""
    out = []
    for i in range(len(episode_ids)):
        n = len(episode_ids)
        j = next((k % n for k in range(i + 1, i + n) if horizons[k % n] == horizons[i] and scenes[k % n] != scenes[i]),
                 None)
        if j is None:
            raise ValueError(f"no episode of another scene with horizon {horizons[i]!r} for {episode_ids[i]}")
        out.append(j)
    return out


def blank_features(model) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The perception's H_t (1, N, D) and entry centroids (1, k, 4) or None of one blank frame:
    black, zero depth, identity pose. Frames are encoded one by one, so a blank video of any length
    is this frame repeated."""
    from .features import encode_episode

    size = model.config.vision_config.image_size
    geo = ({"depth": torch.zeros(1, size, size),
            "intrinsics": torch.from_numpy(intrinsics(90.0, size, size)).float()[None],
            "cam_to_world": torch.eye(4)[None]} if model.config.geometry_source == "oracle" else None)
    return encode_episode(model, torch.zeros(1, 3, size, size, dtype=torch.uint8), geo)


def blank_item(item: VideoItem | FeatureItem, blank: tuple[torch.Tensor, torch.Tensor | None] | None = None):
    """``item`` with a blank video of the same length: black frames, zero depth, identity poses
    (for a feature item, ``blank`` = :func:`blank_features` repeated)."""
    t = len(item.frame_indices)
    if isinstance(item, FeatureItem):
        fused, coords = blank
        return dataclasses.replace(item, fused=fused.expand(t, *fused.shape[1:]),
                                   coords=None if coords is None else coords.expand(t, *coords.shape[1:]))
    return dataclasses.replace(item, frames=torch.zeros_like(item.frames), depth=torch.zeros_like(item.depth),
                               cam_to_world=torch.eye(4).expand_as(item.cam_to_world).clone())


@torch.no_grad()
def video_swap(model, tokenizer, dataset, progress: bool = True) -> dict[str, list]:
    """Replies with the own, another scene's and a blank video, for every question of ``dataset``."""
    from tqdm.auto import tqdm

    was_training = model.training
    model.eval()
    items = [dataset[i] for i in range(len(dataset))]
    firsts = [it.questions[0] if it.questions else None for it in items]
    keep = [i for i, q in enumerate(firsts) if q is not None]
    partner = other_scene_partner([items[i].episode_id for i in keep], [firsts[i].scene_id for i in keep],
                                  [firsts[i].horizon for i in keep])
    blank = blank_features(model) if isinstance(items[0], FeatureItem) else None
    out: dict[str, list] = {"questions": [], "own": [], "other": [], "blank": []}
    for n, i in enumerate(tqdm(keep, desc="video swap", disable=not progress, leave=False)):
        item = items[i]
        other = dataclasses.replace(items[keep[partner[n]]], questions=item.questions)
        out["questions"] += item.questions
        out["own"] += answer_item(model, tokenizer, item)
        out["other"] += answer_item(model, tokenizer, other)
        out["blank"] += answer_item(model, tokenizer, blank_item(item, blank))
    model.train(was_training)
    return out


def diagnostics(swap: dict[str, list], working_frames: int) -> dict[str, Any]:
    """The tables of a :func:`video_swap` result: overall scores per video condition, identical
    replies, distinct replies per type, accuracy per evidence-age bin."""
    qs = swap["questions"]
    records = {c: [make_record(q, r) for q, r in zip(qs, swap[c])] for c in ("own", "other", "blank")}
    tables = {c: aggregate(r) for c, r in records.items()}
    overall = {c: {b: 100 * t[b]["overall"] for b in t} for c, t in tables.items()}
    same = {c: float(np.mean([a.strip() == b.strip() for a, b in zip(swap["own"], swap[c])])) for c in ("other", "blank")}
    by_type: dict[str, list[str]] = defaultdict(list)
    for q, r in zip(qs, swap["own"]):
        by_type[q.question_type].append(r.strip())
    distinct = {t: {"n": len(v), "distinct": len(set(v)), "top_share": Counter(v).most_common(1)[0][1] / len(v),
                    "top": Counter(v).most_common(1)[0][0]} for t, v in sorted(by_type.items())}
    ages: dict[str, list[float]] = defaultdict(list)
    for q, rec in zip(qs, records["own"]):
        if q.evidence_age is not None:
            ages[_age_bin(q.evidence_age)].append(rec["score"])
    age_table = {b: {"n": len(v), "score": 100 * float(np.mean(v))} for b, v in sorted(ages.items(), key=_bin_order)}
    return {"overall": overall, "identical_replies": same, "distinct_replies": distinct,
            "evidence_age": age_table, "working_frames": working_frames,
            "constant_types": [t for t, d in distinct.items() if d["distinct"] == 1]}


def _age_bin(age: int) -> str:
    for lo, hi in zip(AGE_BINS, AGE_BINS[1:]):
        if lo <= age < hi:
            return f"{lo}-{hi}" if hi < 10**9 else f"{lo}+"
    raise ValueError(f"evidence_age={age}: expected >= 0")


def _bin_order(kv) -> int:
    return int(kv[0].split("-")[0].rstrip("+"))


def markdown(diag: dict[str, Any]) -> str:
    o, same = diag["overall"], diag["identical_replies"]
    lines = ["| video | VSI overall | VSTI overall | replies identical to own video |", "|---|---|---|---|"]
    for c, label in (("own", "own video"), ("other", "another scene's video"), ("blank", "blank video")):
        ident = "-" if c == "own" else f"{100 * same[c]:.0f}%"
        lines.append(f"| {label} | {o[c].get('vsi', float('nan')):.1f} | {o[c].get('vsti', float('nan')):.1f} | {ident} |")
    lines += ["", "| question type | n | distinct replies | commonest reply (share) |", "|---|---|---|---|"]
    for t, d in diag["distinct_replies"].items():
        lines.append(f"| {t} | {d['n']} | {d['distinct']} | {d['top']} ({100 * d['top_share']:.0f}%) |")
    lines += ["", f"Accuracy by evidence age (frames of the 4 fps video; the working window is "
                  f"{diag['working_frames']} frames):", "", "| evidence age | n | score |", "|---|---|---|"]
    for b, d in diag["evidence_age"].items():
        lines.append(f"| {b} | {d['n']} | {d['score']:.1f} |")
    return "\n".join(lines) + "\n"


def plot_evidence_age(curves: dict[str, dict[str, Any]], path: str | Path, working_frames: int) -> Path:
    """Score against evidence age, one line per run (``{name: diagnostics["evidence_age"]}``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, table in curves.items():
        bins = list(table)
        ax.plot(range(len(bins)), [table[b]["score"] for b in bins], marker="o", label=name)
        ax.set_xticks(range(len(bins)), bins)
    first = next(iter(curves.values()))
    edges = [int(b.split("-")[0].rstrip("+")) for b in first]
    ax.axvline(sum(e < working_frames for e in edges) - 0.5, ls="--", c="grey", label="working window")
    ax.set_xlabel("evidence age (frames at 4 fps)")
    ax.set_ylabel("score (x100)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


__all__ = ["AGE_BINS", "blank_features", "blank_item", "diagnostics", "markdown", "other_scene_partner", "plot_evidence_age", "video_swap"]
