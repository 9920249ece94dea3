"""Question-answering demo output: a video of the frames a model streamed into its memory followed by
one card per question (question, options, the model's answer, the truth, baseline answers, score),
and the report with the scores, as JSON and as Markdown (:func:`qa_markdown`).

Example:
    >>> import numpy as np
    >>> card = qa_card(np.zeros((64, 64, 3), np.uint8), "How many chairs?", [], "2", "3", {"blind": "2"}, 0.0)
    >>> card.shape
    (360, 640, 3)
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from vlm2_agent.eqa.metrics import aggregate, format_table, make_record
from vlm2_agent.eqa.question import PRE_PROMPT, Question
from vlm2_base.io import atomic_write

CARD_SIZE = (360, 640)  # (H, W) of every output frame
GREEN, RED, WHITE, GREY = (90, 220, 110), (235, 90, 80), (240, 240, 240), (170, 170, 170)


def _font(size: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _panel(frame: np.ndarray, side: int) -> Image.Image:
    return Image.fromarray(np.asarray(frame, np.uint8)).resize((side, side), Image.NEAREST)


def stream_frame(frame: np.ndarray, k: int, total: int, step: int, title: str) -> np.ndarray:
    """A frame of the streaming section: the video frame large, with what the memory has seen so far."""
    h, w = CARD_SIZE
    img = Image.new("RGB", (w, h), (20, 20, 28))
    img.paste(_panel(frame, h - 40), (20, 20))
    d = ImageDraw.Draw(img)
    x = h + 10
    d.text((x, 24), title, fill=WHITE, font=_font(18))
    d.text((x, 64), "streaming into memory", fill=GREY, font=_font(15))
    d.text((x, 88), f"frame {k + 1} / {total}", fill=WHITE, font=_font(22))
    d.text((x, 120), f"video step {step} (t = {step / 4:.0f} s)", fill=GREY, font=_font(15))
    d.rectangle((x, 160, w - 20, 176), outline=GREY)
    d.rectangle((x, 160, x + int((w - 20 - x) * (k + 1) / total), 176), fill=GREEN)
    return np.asarray(img)


def qa_card(frame: np.ndarray, question: str, options: Sequence[str], answer: str, truth: str,
            baselines: Mapping[str, str], score: float, header: str = "") -> np.ndarray:
    """One question card: the last streamed frame, the question and options, and the answers."""
    h, w = CARD_SIZE
    img = Image.new("RGB", (w, h), (20, 20, 28))
    img.paste(_panel(frame, 200), (16, 16))
    d = ImageDraw.Draw(img)
    for i, line in enumerate(header.splitlines()[:2]):  # two short lines: they stay left of the answer column
        d.text((16, 222 + 16 * i), line, fill=GREY, font=_font(13))
    y = 16
    for line in textwrap.wrap(question, 44):
        d.text((232, y), line, fill=WHITE, font=_font(16))
        y += 20
    for opt in options:
        y += 2
        d.text((244, y), textwrap.shorten(opt, 52), fill=GREY, font=_font(14))
        y += 17
    y = max(y + 12, 230)
    colour = GREEN if score >= 0.5 else RED
    d.text((232, y), f"VLM2: {answer or '(empty)'}", fill=colour, font=_font(22))
    d.text((232, y + 30), f"truth: {truth}", fill=WHITE, font=_font(18))
    d.text((232, y + 54), f"score {score:.2f}", fill=colour, font=_font(14))
    d.text((16, 262), "baselines:", fill=GREY, font=_font(13))
    for i, (name, reply) in enumerate(baselines.items()):
        d.text((16, 280 + 17 * i), f"{name}: {reply}", fill=GREY, font=_font(13))
    return np.asarray(img)


def truth_text(q: Question) -> str:
    """The truth as shown on a card: ``B (cabinet)`` for multiple choice, ``2.4`` for numbers."""
    if q.is_numerical:
        return f"{round(float(q.ground_truth), 1):g}"
    return f"{q.ground_truth} ({q.answer})" if q.answer else str(q.ground_truth)


def qa_video_frames(frames: np.ndarray, steps: Sequence[int], questions: Sequence[Question], answers: Sequence[str],
                    baselines: Mapping[str, Sequence[str]], title: str, hold: int = 8) -> list[np.ndarray]:
    """Streaming section (one output frame per streamed frame) then ``hold`` output frames per question."""
    out = [stream_frame(f, k, len(frames), int(s), title) for k, (f, s) in enumerate(zip(frames, steps))]
    for i, (q, a) in enumerate(zip(questions, answers)):
        score = make_record(q, a)["score"]
        text = q.question if not q.question.startswith(PRE_PROMPT) else q.question[len(PRE_PROMPT):]
        card = qa_card(frames[-1], text, q.options, a, truth_text(q),
                       {n: r[i] for n, r in baselines.items()}, score,
                       header=f"Q{i + 1}/{len(questions)} ({q.horizon} video)\n{q.question_type}")
        out += [card] * hold
    return out


def qa_report(questions: Sequence[Question], answers: Sequence[str], baselines: Mapping[str, Sequence[str]],
              meta: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Scores of the model and of each baseline on the same questions, plus every answer."""
    systems = {"vlm2": list(answers), **{n: list(r) for n, r in baselines.items()}}
    tables = {n: aggregate([make_record(q, r) for q, r in zip(questions, rs)]) for n, rs in systems.items()}
    per_q = [{"id": q.id, "question_type": q.question_type, "question": q.question, "options": q.options,
              "truth": q.ground_truth, **{n: rs[i] for n, rs in systems.items()},
              "vlm2_score": make_record(q, answers[i])["score"]} for i, q in enumerate(questions)]
    overall = {n: {b: t[b]["overall"] for b in t} for n, t in tables.items()}
    return {"meta": dict(meta or {}), "num_questions": len(questions), "overall": overall, "tables": tables,
            "questions": per_q}


def qa_markdown(report: Mapping[str, Any], max_questions: int = 40) -> str:
    """The report as Markdown: overall scores of every system side by side, then the first
    ``max_questions`` questions with each system's answer and the truth."""
    systems = list(report["overall"])
    benches = sorted({b for t in report["overall"].values() for b in t})
    meta = report.get("meta", {})
    lines = [f"# QA report: {meta.get('scene_id', '')} {meta.get('episode_id', '')}".rstrip(), "",
             f"{report['num_questions']} questions; scores x100 (accuracy for multiple choice, mean relative "
             "accuracy for numbers), macro-averaged over tasks.", "",
             "| system | " + " | ".join(b.upper() for b in benches) + " |", "|---|" + "---|" * len(benches)]
    for name in systems:
        lines.append(f"| {name} | " + " | ".join(f"{100 * report['overall'][name].get(b, float('nan')):.1f}"
                                                  for b in benches) + " |")
    lines += ["", "## Per task (VLM2)", "", format_table(report["tables"]["vlm2"]), "## Questions", "",
              "| question | truth | " + " | ".join(systems) + " |", "|---|---|" + "---|" * len(systems)]
    for q in report["questions"][:max_questions]:
        text = q["question"].replace("|", "/").replace("\n", " ")
        opts = " ".join(q["options"] or [])
        answers = " | ".join(str(q[n]).replace("|", "/") for n in systems)
        lines.append(f"| {text} {opts} | {q['truth']} | {answers} |")
    if len(report["questions"]) > max_questions:
        lines.append(f"\n({len(report['questions']) - max_questions} more in the JSON report)")
    return "\n".join(lines) + "\n"


def save_json(doc: Mapping[str, Any], path: str | Path) -> Path:
    return atomic_write(path, json.dumps(doc, indent=1, default=str))


__all__ = ["qa_card", "qa_markdown", "qa_report", "qa_video_frames", "save_json", "stream_frame", "truth_text"]
