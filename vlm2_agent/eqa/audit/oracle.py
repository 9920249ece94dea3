"""The annotation oracle: answers every question from its *text* and what the video shows.

It reads the question and its options (never ``meta``, ``answer`` or ``ground_truth``), resolves the
objects and frames they name against the scene's annotations and the episode log (which instances
the video shows, the camera poses), computes the answer and replies as a model would, so its
replies go through the same scoring. A score of ~100 proves that each answer follows from the text
plus what the video shows: names are unique, frames resolvable, options unambiguous.

Example:
    >>> parse_frames("between frame 9 and frame 41 of 200")
    [8, 40]
"""

from __future__ import annotations

import re
from typing import Callable, Sequence

import numpy as np

from envs.episode_log import EpisodeLog
from scenes.types import Scene

from ..question import Question
from ..questions.common import Context, GenConfig, box_distance, floor_angle, point_box_distance, world_to_camera
from ..questions.configuration import LEVELS
from ..questions.route import turn_label
from ..questions.vsti import movement_label, relpos_label
from .features import mentions, option_text

_FRAME = re.compile(r"frame (\d+)")


def parse_frames(text: str) -> list[int]:
    """0-based frame indices named as "frame k" (1-based) in ``text``."""
    return [int(k) - 1 for k in _FRAME.findall(text)]


def _category(w: str) -> str:
    return w.replace(" ", "_")


class _Resolver:
    def __init__(self, ctx: Context):
        self.ctx = ctx

    def unique(self, word: str):
        cat = _category(word)
        objs = [o for o in self.ctx.scene.objects if o.category == cat]
        if len(objs) != 1 or objs[0].instance_id not in self.ctx.seen_mask:
            raise ValueError(f"'{word}' does not name one seen object ({len(objs)} in the scene)")
        return objs[0]

    def seen(self, word: str):
        return self.ctx.seen_by_category().get(_category(word), [])


def _letter(q: Question, text: str) -> str:
    for o in q.options:
        if option_text(o) == text:
            return o.split(".", 1)[0]
    raise ValueError(f"the computed answer {text!r} is not among the options {q.options}")


def answer(q: Question, scene: Scene, log: EpisodeLog, gen: GenConfig | None = None,
           ctx: Context | None = None) -> str:
    """The oracle's reply to ``q`` (raises ValueError when the text does not determine an answer);
    ``ctx``, the episode's :class:`Context`, may be passed to share it across its questions."""
    ctx = ctx or Context(scene, log, gen or GenConfig())
    res, t, text = _Resolver(ctx), q.question_type, q.question
    names = mentions(text.split("?")[0] if t == "route_planning" else text)
    frames = parse_frames(text)
    cams = log.camera_positions
    if t == "object_counting":
        return str(len(res.seen(names[0])))
    if t == "object_abs_distance":
        return f"{round(box_distance(res.unique(names[0]).box, res.unique(names[1]).box), 1)}"
    if t == "object_size_estimation":
        return str(round(float(np.max(res.unique(names[0]).box.axis_lengths)) * 100))
    if t == "room_size_estimation":
        if frames:
            x, _, z = log.positions[frames[0]]
            room = scene.room_at(float(x), float(z))
        else:
            rooms = {getattr(scene.room_at(float(x), float(z)), "room_id", None) for x, _, z in log.positions}
            room = next(r for r in scene.rooms if r.room_id in rooms) if len(rooms) == 1 else None
        if room is None:
            raise ValueError("the camera is in no single room")
        return f"{round(room.area, 1)}"
    if t == "object_rel_distance":
        target = res.unique(mentions(text.split("closest to the ")[1])[0])
        d = {option_text(o): min(box_distance(target.box, x.box) for x in res.seen(option_text(o)))
             for o in q.options}
        return _letter(q, min(d, key=d.get))
    if t.startswith("object_rel_direction"):
        pos, ori, query = (res.unique(w) for w in names[:3])
        p = np.asarray(pos.box.center, float)
        a = floor_angle(np.asarray(ori.box.center) - p, np.asarray(query.box.center) - p)
        return _letter(q, LEVELS[t][1](a))
    if t == "route_planning":
        return _letter(q, _route_answer(q, res))
    if t == "obj_appearance_order":
        cats = option_text(q.options[0]).split(", ")
        first = {c: min(ctx.first_seen[o.instance_id] for o in res.seen(c)) for c in cats}
        return _letter(q, ", ".join(sorted(cats, key=first.get)))
    if t == "camera_obj_abs_dist":
        return f"{round(point_box_distance(cams[frames[0]], res.unique(names[0]).box), 1)}"
    if t == "camera_displacement":
        return f"{round(float(np.linalg.norm(cams[frames[1]] - cams[frames[0]])), 1)}"
    if t == "camera_movement_direction":
        c2w = log.camera_to_world.astype(np.float64)
        i, j = frames[:2]
        label = movement_label(c2w[i, :3, :3].T @ (c2w[j, :3, 3] - c2w[i, :3, 3]), 0.0, 1.0)
        return _letter(q, label)
    if t.startswith("obj_obj_relative_pos"):
        # "is the A [Near/Far] compared to the B" names A first; "relative to the B, is the A ..." B first
        a, b = (res.unique(w) for w in (names[:2] if t.endswith("_nf") else names[1::-1]))
        ca, cb = world_to_camera(log.camera_to_world[frames[0]], np.stack([a.box.center, b.box.center]))
        return _letter(q, relpos_label(t, ca, cb, 0.0))
    if t.startswith("camera_obj_rel_dist"):
        d = {option_text(o): point_box_distance(cams[frames[0]], res.unique(option_text(o)).box) for o in q.options}
        return _letter(q, min(d, key=d.get))
    raise ValueError(f"oracle: no rule for question type {t!r}")


def _route_answer(q: Question, res: _Resolver) -> str:
    head = q.question.split("You will perform")[0]
    start, facing, _dest = (res.unique(w) for w in mentions(head)[:3])
    steps = re.findall(r"\d+\. (\[please fill in\]|Go forward until the [^.]+\.)", q.question)
    heading = np.asarray(facing.box.center, float) - np.asarray(start.box.center, float)
    here, turns = start, []
    for step in steps:
        if step.startswith("Go forward"):
            nxt = res.unique(mentions(step)[0])
            leg = np.asarray(nxt.box.center, float) - np.asarray(here.box.center, float)
            label = turn_label(floor_angle(heading, leg), 0.0)
            if label != "forward":
                turns.append(label)
            heading, here = leg, nxt
    return ", ".join(turns)


def oracle_replies(questions: Sequence[Question], load: Callable[[Question], tuple[Scene, EpisodeLog]],
                   gen: GenConfig | None = None) -> tuple[list[str], list[str]]:
    """Replies for ``questions`` (``load(q)`` gives its scene and episode log) and, per question
    the oracle could not answer, a line saying why (its reply is then empty and scores 0)."""
    replies, problems, contexts = [], [], {}
    for q in questions:
        scene, log = load(q)
        if q.episode_id not in contexts:
            contexts = {q.episode_id: Context(scene, log, gen or GenConfig())}  # questions come by episode
        try:
            replies.append(answer(q, scene, log, gen, contexts[q.episode_id]))
        except (ValueError, IndexError, KeyError) as e:
            replies.append("")
            problems.append(f"{q.id}: {e}")
    return replies, problems


__all__ = ["answer", "oracle_replies", "parse_frames"]
