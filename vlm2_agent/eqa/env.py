"""``VLM2/EQA-v0``: watch a recorded exploration video, then answer a spatial question about it.

Each episode is one question of a built split (``vlm2-eqa-build``): the agent is shown the frames of
the question's video from the episode store, one per step, and answers when it is ready.

Observation (``Dict``): ``rgb`` (H, W, 3) uint8, the current frame (plus ``depth`` (H, W, 1) float32
with ``depth=True``); ``question`` (``Text``, the question sentence); ``options`` (``Tuple`` of 4
``Text``, ``"A. sofa"`` ... or ``""`` where a question has fewer options; all empty for numerical
questions); ``answer_type`` (0 multiple choice, 1 numerical); ``frame_index`` (frames shown so far
minus one, shape (1,)).

Answer protocol. Actions are ``Discrete(5)``: 0 ``continue`` (show the next frame), 1-4 answer the
letter A-D. A numerical question is answered with ``env.unwrapped.answer("3.5")`` (any reply text;
it also accepts a letter for multiple choice), which returns the same 5-tuple as ``step``. Answering
ends the episode (``terminated``); reward = score = :func:`~vlm2_agent.eqa.metrics.score_prediction`
(accuracy for multiple choice, mean relative accuracy for numbers; a letter on a numerical question,
or a letter beyond the options, scores 0). ``continue`` on the last frame ends the episode unanswered
(``truncated``, score 0). ``info`` always has ``question_id``, ``question_type``, ``horizon``,
``frame_index`` and ``num_frames``; at the end also ``score``, ``reply`` and ``ground_truth``.
``frame_stride`` shows every k-th frame of the video (a 1,000-frame video in 100 steps with 10).
This version plays recorded videos only; exploring the live scene is ``VLM2/Explore-v0``'s job.

Example:
    >>> import gymnasium as gym, envs  # doctest: +SKIP
    >>> env = gym.make("VLM2/EQA-v0", data_root="data/eqa", split="test")  # doctest: +SKIP
    >>> obs, info = env.reset(seed=0)  # doctest: +SKIP
    >>> obs, reward, terminated, truncated, info = env.step(1)  # answer "A"  # doctest: +SKIP
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any, Sequence

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from .metrics import score_prediction
from .question import LETTERS, Question, load_jsonl
from .store import EpisodeStore

ENV_ID = "VLM2/EQA-v0"
CONTINUE = 0
ACTIONS = ("continue", "answer_A", "answer_B", "answer_C", "answer_D")
CHARSET = "".join(sorted(set(string.printable) - set("\x0b\x0c\r")))


class EQAEnv(gym.Env):
    """Arguments: ``data_root`` + ``split`` (reads ``<data_root>/<split>/questions.jsonl`` and its
    ``episodes/`` store), or ``questions`` + ``store`` directly; ``frame_stride``; ``depth``;
    ``max_question_length`` / ``max_option_length`` (characters of the ``Text`` spaces)."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(self, data_root: str | Path = "data/eqa", split: str = "test",
                 questions: Sequence[Question] | None = None, store: EpisodeStore | str | Path | None = None,
                 frame_stride: int = 1, depth: bool = False, max_question_length: int = 1024,
                 max_option_length: int = 256, render_mode: str | None = None):
        root = Path(data_root) / split
        if questions is None:
            qpath = root / "questions.jsonl"
            if not qpath.is_file():
                raise FileNotFoundError(f"{ENV_ID}: no questions at {qpath}; build the split with "
                                        f"vlm2-eqa-build eqa.split={split} or pass questions=")
            questions = load_jsonl(qpath)
        self.questions = list(questions)
        if not self.questions:
            raise ValueError(f"{ENV_ID}: no questions to ask")
        self.store = store if isinstance(store, EpisodeStore) else EpisodeStore(store or root / "episodes")
        if not isinstance(frame_stride, int) or frame_stride < 1:
            raise ValueError(f"frame_stride: expected a positive int, got {frame_stride!r}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode: expected None or 'rgb_array', got {render_mode!r}")
        self.frame_stride, self.use_depth, self.render_mode = frame_stride, bool(depth), render_mode
        self._index = {q.id: i for i, q in enumerate(self.questions)}
        for q in self.questions:
            texts = [q.question, *q.options]
            bad = {c for t in texts for c in t if c not in CHARSET}
            if bad or len(q.question) > max_question_length or any(len(o) > max_option_length for o in q.options):
                raise ValueError(f"question {q.id}: text has characters {sorted(bad)} outside printable ASCII or is "
                                 f"longer than max_question_length={max_question_length} / max_option_length="
                                 f"{max_option_length}")
        H, W = self.store.rgb(self.questions[0].episode_id).shape[1:3]
        self.image_size = (int(H), int(W))
        obs = {"rgb": spaces.Box(0, 255, (H, W, 3), np.uint8)}
        if self.use_depth:
            # bounded by what the stored dtype can hold (float16 by default), not infinity
            top = float(np.finfo(self.store.depth(self.questions[0].episode_id).dtype).max)
            obs["depth"] = spaces.Box(0.0, top, (H, W, 1), np.float32)
        obs.update({
            "question": spaces.Text(max_question_length, min_length=1, charset=CHARSET),
            "options": spaces.Tuple([spaces.Text(max_option_length, min_length=0, charset=CHARSET)] * len(LETTERS)),
            "answer_type": spaces.Discrete(2),
            "frame_index": spaces.Box(0, np.iinfo(np.int64).max, (1,), np.int64),
        })
        self.observation_space = spaces.Dict(obs)
        self.action_space = spaces.Discrete(len(ACTIONS))
        self.question: Question | None = None
        self._frames: np.ndarray = np.zeros(0, int)
        self._k = 0
        self._done = True
        self._rgb = self._depth = None

    # ----- gymnasium API -------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """A random question (seeded), or ``options={"question_id": ...}``."""
        super().reset(seed=seed)
        options = dict(options or {})
        unknown = set(options) - {"question_id"}
        if unknown:
            raise ValueError(f"reset options: unknown keys {sorted(unknown)}, expected 'question_id'")
        if "question_id" in options:
            if options["question_id"] not in self._index:
                raise ValueError(f"reset: unknown question_id {options['question_id']!r}")
            self.question = self.questions[self._index[options["question_id"]]]
        else:
            self.question = self.questions[int(self.np_random.integers(len(self.questions)))]
        q = self.question
        self._rgb = self.store.rgb(q.episode_id)
        self._depth = self.store.depth(q.episode_id) if self.use_depth else None
        start, end = q.frame_range
        if end > len(self._rgb):
            raise ValueError(f"question {q.id}: frame_range {q.frame_range} exceeds the stored video's "
                             f"{len(self._rgb)} frames")
        self._frames = np.arange(start, end, self.frame_stride)
        self._k, self._done = 0, False
        return self._observation(), self._info()

    def step(self, action):
        self._check_running()
        a = int(np.asarray(action).item()) if not isinstance(action, (str, bytes)) else -1
        if not 0 <= a < len(ACTIONS) or a != np.asarray(action).item():
            raise ValueError(f"invalid action {action!r}: expected an int in [0, {len(ACTIONS)}) = {ACTIONS}")
        if a != CONTINUE:
            return self.answer(LETTERS[a - 1])
        if self._k + 1 >= len(self._frames):
            self._done = True
            info = {**self._info(), "score": 0.0, "reply": None, "ground_truth": self.question.ground_truth}
            return self._observation(), 0.0, False, True, info
        self._k += 1
        return self._observation(), 0.0, False, False, self._info()

    def answer(self, reply: str):
        """Answer with reply text (``"B"``, ``"3.5"``); ends the episode. Returns ``step``'s 5-tuple."""
        self._check_running()
        if not isinstance(reply, str):
            raise TypeError(f"answer(): reply must be a str, got {type(reply).__name__}")
        score = float(score_prediction(self.question, reply))
        self._done = True
        info = {**self._info(), "score": score, "reply": reply, "ground_truth": self.question.ground_truth}
        return self._observation(), score, True, False, info

    def render(self):
        if self.render_mode == "rgb_array" and self._rgb is not None:
            return np.array(self._rgb[self._frames[self._k]])
        return None

    def close(self):
        self._rgb = self._depth = None

    # ----- helpers -------------------------------------------------------------------------------
    def _check_running(self) -> None:
        if self.question is None or self._done:
            raise RuntimeError("the episode is over (answered or out of frames): call reset()")

    def _observation(self) -> dict[str, Any]:
        q, t = self.question, int(self._frames[self._k])
        obs: dict[str, Any] = {"rgb": np.array(self._rgb[t], np.uint8)}
        if self.use_depth:
            obs["depth"] = np.asarray(self._depth[t], np.float32)[..., None]
        opts = list(q.options) + [""] * (len(LETTERS) - len(q.options))
        obs.update({"question": q.question, "options": tuple(opts), "answer_type": int(q.is_numerical),
                    "frame_index": np.array([self._k], np.int64)})
        return obs

    def _info(self) -> dict[str, Any]:
        q = self.question
        return {"question_id": q.id, "question_type": q.question_type, "horizon": q.horizon,
                "frame_index": int(self._k), "num_frames": int(len(self._frames))}

__all__ = ["ACTIONS", "CONTINUE", "ENV_ID", "EQAEnv"]
