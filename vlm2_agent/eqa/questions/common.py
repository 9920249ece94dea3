"""Shared machinery of the question generators: what the video shows, box geometry, option letters.

Visibility rule: an object instance counts as *seen* when, in at least one frame, at least
``min_visible_pixels`` of its pixels are visible (default 0.3 % of the frame: 49 px at 128x128,
197 px at 256x256). Counts are of seen instances and appearance order follows first sighting.

Referring rule: a question names an object by its category alone, written as words ("the coffee
table"), so the category must be *unique in the scene's annotations* (VSI-Bench's
``object_counts[category] == 1``) and seen. Frames are named only on the ``frame_grid`` (every 8th
frame and the last), so a model given the video at that stride has the frame it is asked about.

Evidence: every question records the instances and frames it depends on and their *age*, the frames
between the end of the video and the last sighting of its oldest piece of evidence.

Example:
    >>> import numpy as np
    >>> from scenes.types import OrientedBox
    >>> a = OrientedBox(np.zeros(3), np.ones(3)); b = OrientedBox(np.array([3.0, 0, 0]), np.ones(3))
    >>> round(box_distance(a, b), 6)
    2.0
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
from scipy.optimize import nnls

from envs.episode_log import EpisodeLog
from scenes.types import OrientedBox, Scene, SceneObject

from ..question import LETTERS, Question

PathFn = Callable[[np.ndarray, np.ndarray], Sequence[Sequence[float]]]


@dataclass(frozen=True)
class GenConfig:
    """Generator thresholds (all documented in the generator modules that use them)."""

    min_visible_pixels: int | None = None  # None: 0.3 % of the frame
    min_visible_fraction: float = 0.003
    min_pair_distance: float = 0.2  # m; abs-distance pairs closer than this are skipped (VSI)
    direction_margin_deg: float = 10.0  # skip rel-direction answers this close to a boundary
    direction_dist_range: tuple[float, float] = (0.3, 5.0)  # m, between any two of the triple
    rel_distance_margin: float = 0.15  # m; any two option distances at least this far apart (VSI)
    rel_distance_margin_large_room: float = 0.30  # m; the same in rooms over large_room_area (VSI)
    large_room_area: float = 40.0  # m^2
    appearance_min_gap_s: float = 1.0  # first sightings of the 4 categories at least this apart
    route_turn_margin_deg: float = 15.0  # turns this close to 45/135 degrees are ambiguous
    route_min_leg: float = 0.5  # m
    route_moves: tuple[int, int] = (2, 5)  # actions (turns + forward legs) of a route (VSI)
    camera_dist_range: tuple[float, float] = (0.5, 10.0)  # m; objects at least 0.5 m from the camera (VLM-3R)
    displacement_frames: tuple[int, int] = (16, 160)  # steps between the two frames (4-40 s at 4 fps)
    movement_min: float = 1.0  # m along the dominant axis (VLM-3R's threshold for the 4-option form)
    movement_dominance: float = 1.5  # dominant axis must exceed the other by this factor
    relpos_margin: float = 0.15  # m of separation for near/far, left/right, up/down (VLM-3R)
    frame_grid: int = 8  # frames named in questions are multiples of this (the training stride) or the last
    max_candidates: int = 2000  # candidates examined per type (keeps large scenes fast)


class LetterBalancer:
    """Puts the correct answer on the least-used letter so far (ties broken by the rng), as the public
    generators do; the wrong options fill the other letters in random order."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.counts = {c: 0 for c in LETTERS}

    def arrange(self, correct: str, wrong: Sequence[str]) -> tuple[list[str], str]:
        n = len(wrong) + 1
        if not 2 <= n <= 4 or correct in wrong or len(set(wrong)) != len(wrong):
            raise ValueError(f"need 1-3 distinct wrong options different from {correct!r}, got {list(wrong)}")
        letters = LETTERS[:n]
        least = min(self.counts[c] for c in letters)
        pick = [c for c in letters if self.counts[c] == least]
        letter = pick[int(self.rng.integers(len(pick)))]
        self.counts[letter] += 1
        others = [wrong[i] for i in self.rng.permutation(len(wrong))]
        idx = letters.index(letter)
        texts = others[:idx] + [correct] + others[idx:]
        return [f"{c}. {t}" for c, t in zip(letters, texts)], letter


def point_box_distance(p: np.ndarray, box: OrientedBox) -> float:
    """Distance from point ``p`` to the nearest point of the solid box (0 inside)."""
    R = np.asarray(box.rotation, float)
    local = R.T @ (np.asarray(p, float) - np.asarray(box.center, float))
    half = np.asarray(box.axis_lengths, float) / 2
    return float(np.linalg.norm(local - np.clip(local, -half, half)))


def box_distance(a: OrientedBox, b: OrientedBox) -> float:
    """Distance between the closest points of two solid oriented boxes (0 when they overlap).

    Solved as the nearest pair of points of the two corner hulls: min |Ca wa - Cb wb| over convex
    weights, a non-negative least-squares problem with the two sum-to-one rows weighted heavily.
    """
    ca, cb = a.corners(), b.corners()
    scale = 1e3 * (1.0 + float(np.abs(np.concatenate([ca, cb])).max()))
    A = np.zeros((5, 16))
    A[:3, :8], A[:3, 8:] = ca.T, -cb.T
    A[3, :8] = A[4, 8:] = scale
    w, _ = nnls(A, np.array([0, 0, 0, scale, scale]), maxiter=500)
    wa, wb = w[:8] / w[:8].sum(), w[8:] / w[8:].sum()
    d = float(np.linalg.norm(ca.T @ wa - cb.T @ wb))
    return d if d > 1e-6 else 0.0


def floor_angle(v_from: np.ndarray, v_to: np.ndarray) -> float:
    """Signed angle in degrees, in (-180, 180], turning from floor vector ``v_from`` to ``v_to``
    (3-D world vectors, Y up); positive = counter-clockwise seen from above = a left turn."""
    # Seen from above (looking down -Y) the plane (x, -z) is right-handed.
    a = math.atan2(-v_from[2], v_from[0])
    b = math.atan2(-v_to[2], v_to[0])
    d = math.degrees(b - a)
    d = (d + 180.0) % 360.0 - 180.0
    return 180.0 if d == -180.0 else d


def world_to_camera(c2w: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """World points (N, 3) in OpenGL camera coordinates (x right, y up, -z forward)."""
    w2c = np.linalg.inv(np.asarray(c2w, float))
    pts = np.asarray(pts, float)
    return pts @ w2c[:3, :3].T + w2c[:3, 3]


@dataclass
class Context:
    """A scene, an episode log and what the video shows of the scene's objects."""

    scene: Scene
    log: EpisodeLog
    cfg: GenConfig
    path_fn: PathFn | None = None
    min_pixels: int = field(init=False)
    seen_mask: dict[int, np.ndarray] = field(init=False)  # instance id -> (T,) bool
    first_seen: dict[int, int] = field(init=False)

    def __post_init__(self) -> None:
        H, W = self.log.image_size
        self.min_pixels = (self.cfg.min_visible_pixels if self.cfg.min_visible_pixels is not None
                           else max(1, round(self.cfg.min_visible_fraction * H * W)))
        ids = {o.instance_id for o in self.scene.objects}
        T = self.log.num_frames
        self.seen_mask = {}
        for t, vis in enumerate(self.log.visible):
            for iid, n in vis.items():
                if iid in ids and n >= self.min_pixels:
                    self.seen_mask.setdefault(iid, np.zeros(T, bool))[t] = True
        self.first_seen = {i: int(np.argmax(m)) for i, m in self.seen_mask.items()}
        self.last_seen = {i: int(T - 1 - np.argmax(m[::-1])) for i, m in self.seen_mask.items()}
        self._scene_counts: dict[str, int] = {}
        for o in self.scene.objects:
            self._scene_counts[o.category] = self._scene_counts.get(o.category, 0) + 1

    @property
    def frame_range(self) -> tuple[int, int]:
        return (0, self.log.num_frames)

    def seen_objects(self) -> list[SceneObject]:
        return sorted((o for o in self.scene.objects if o.instance_id in self.seen_mask),
                      key=lambda o: o.instance_id)

    def seen_by_category(self) -> dict[str, list[SceneObject]]:
        out: dict[str, list[SceneObject]] = {}
        for o in self.seen_objects():
            out.setdefault(o.category, []).append(o)
        return dict(sorted(out.items()))

    def unique_seen(self) -> list[SceneObject]:
        """Seen objects whose category occurs once in the whole scene, sorted by category."""
        return sorted((o for o in self.seen_objects() if self._scene_counts[o.category] == 1),
                      key=lambda o: o.category)

    def scene_count(self, category: str) -> int:
        return self._scene_counts.get(category, 0)

    def visible_in_frame(self, t: int) -> list[SceneObject]:
        return [o for o in self.seen_objects() if self.seen_mask[o.instance_id][t]]

    def on_grid(self, t: int) -> bool:
        """True for frames a question may name: multiples of ``frame_grid`` and the last frame, the
        frames that a model reading the video at that stride (the training default) is given."""
        return t % self.cfg.frame_grid == 0 or t == self.log.num_frames - 1

    def grid_frames(self) -> list[int]:
        T, g = self.log.num_frames, self.cfg.frame_grid
        return sorted(set(range(0, T, g)) | {T - 1})

    def age_of(self, instance_ids: Sequence[int] = (), frames: Sequence[int] = ()) -> int:
        """Frames between the end of the video and the oldest piece of evidence: the last sighting of
        the instance seen longest ago, or the earliest frame named."""
        last = [self.last_seen[i] for i in instance_ids] + [int(t) for t in frames]
        if not last:
            raise ValueError("age_of: a question needs at least one instance or frame as evidence")
        return int(self.log.num_frames - 1 - min(last))

    def question(self, qtype: str, k: int, text: str, gt: Any, options: list[str] | None = None,
                 answer: str | None = None, evidence_ids: Sequence[int] = (), evidence_frames: Sequence[int] = (),
                 **meta: Any) -> Question:
        """A question with its evidence: the instances (seen in the video) and frames it depends on,
        and the evidence's age in frames at the end of the video."""
        evidence = {"instance_ids": [int(i) for i in evidence_ids], "frames": [int(t) for t in evidence_frames]}
        return Question(
            id=f"{self.log.scene_id}/{self.log.episode_id}/{qtype}/{k}",
            scene_id=self.log.scene_id, episode_id=self.log.episode_id, question_type=qtype,
            question=text, ground_truth=gt, frame_range=self.frame_range, fps=self.log.fps,
            options=options or [], answer=answer, meta=meta, evidence=evidence,
            evidence_age=self.age_of(evidence_ids, evidence_frames),
        )


def word(category: str) -> str:
    """A category as the words a question uses: ``coffee_table`` -> ``coffee table``."""
    return category.replace("_", " ")


def shuffled(items: Sequence[Any], rng: np.random.Generator, limit: int) -> list[Any]:
    """A deterministic random order of (at most ``limit`` of) ``items``."""
    order = rng.permutation(len(items))[:limit]
    return [items[i] for i in order]


def frame_desc(t: int, T: int, with_total: bool = True) -> str:
    """VLM-3R's 1-based frame reference, e.g. ``frame 5 of 320``."""
    return f"frame {t + 1} of {T}" if with_total else f"frame {t + 1}"
