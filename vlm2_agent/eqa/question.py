"""The :class:`Question` record, its JSONL form and the benchmark prompts.

Multiple-choice questions carry ``options`` as ``"A. chair"`` strings (VSI-Bench's form) and the
correct letter as ``ground_truth``; numerical ones carry a float ``ground_truth`` and no options.

Example:
    >>> q = Question(id="s/e/object_counting/0", scene_id="s", episode_id="e",
    ...              question_type="object_counting", question="How many chair(s) are in this room?",
    ...              ground_truth=3.0, frame_range=(0, 100), fps=4.0)
    >>> q.horizon, q.task
    ('short', 'object_counting')
    >>> print(q.prompt())
    These are frames of a video.
    How many chair(s) are in this room?
    Please answer the question using a single word or phrase.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

from vlm2_base.io import atomic_write

from .tasks import benchmark_of, check_type, horizon_bucket, is_numerical, task_of

#: The benchmark version every question record carries. v1 (records without ``version``) came from
#: the generator before answer balancing and the blind audit; it is refused, never mixed in.
BENCHMARK_VERSION = "v2"
PRE_PROMPT = "These are frames of a video."
MC_POST_PROMPT = "Answer with the option's letter from the given choices directly."
NA_POST_PROMPT = "Please answer the question using a single word or phrase."
LETTERS = "ABCD"


@dataclass
class Question:
    """One benchmark question about one episode's video.

    ``frame_range`` is ``(start, end)`` in steps, end exclusive: the video the question is about.
    ``answer`` is the correct option's text for multiple choice (handy for priors), else ``None``.
    ``meta`` holds what the generator used (categories, instance ids, frames) for analysis.
    ``evidence`` names the instances and frames the answer depends on and ``evidence_age`` is how
    many frames before the end of the video the oldest of them was last seen (memory age).
    """

    id: str
    scene_id: str
    episode_id: str
    question_type: str
    question: str
    ground_truth: str | float
    frame_range: tuple[int, int]
    fps: float
    options: list[str] = field(default_factory=list)
    answer: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    evidence: dict[str, list[int]] = field(default_factory=dict)
    evidence_age: int | None = None
    version: str = BENCHMARK_VERSION

    def __post_init__(self) -> None:
        check_type(self.question_type)
        self.frame_range = (int(self.frame_range[0]), int(self.frame_range[1]))
        if not 0 <= self.frame_range[0] < self.frame_range[1]:
            raise ValueError(f"question {self.id}: frame_range must be 0 <= start < end, got {self.frame_range}")
        if not self.fps > 0:
            raise ValueError(f"question {self.id}: fps must be > 0, got {self.fps}")
        if self.is_numerical:
            if self.options:
                raise ValueError(f"question {self.id}: numerical type {self.question_type} takes no options")
            self.ground_truth = float(self.ground_truth)
            if not self.ground_truth > 0:
                # MRA divides by the ground truth: a zero answer cannot be scored.
                raise ValueError(f"question {self.id}: numerical ground_truth must be > 0, got {self.ground_truth}")
        else:
            letters = [o.split(".", 1)[0] for o in self.options]
            if len(self.options) < 2 or letters != list(LETTERS[: len(self.options)]):
                raise ValueError(f"question {self.id}: options must be 2-4 strings 'A. ...', 'B. ...', got {self.options}")
            if self.ground_truth not in letters:
                raise ValueError(f"question {self.id}: ground_truth {self.ground_truth!r} is not one of {letters}")

    @property
    def task(self) -> str:
        return task_of(self.question_type)

    @property
    def benchmark(self) -> str:
        return benchmark_of(self.question_type)

    @property
    def is_numerical(self) -> bool:
        return is_numerical(self.question_type)

    @property
    def duration_s(self) -> float:
        """Length of the question's video in seconds."""
        return (self.frame_range[1] - self.frame_range[0]) / self.fps

    @property
    def horizon(self) -> str:
        return horizon_bucket(self.duration_s)

    def prompt(self) -> str:
        """The evaluation prompt of VSI-Bench / VSTI-Bench's public lmms-eval tasks."""
        if self.is_numerical:
            return "\n".join([PRE_PROMPT, self.question, NA_POST_PROMPT])
        return "\n".join([PRE_PROMPT, self.question, "Options:\n" + "\n".join(self.options), MC_POST_PROMPT])

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["frame_range"] = list(self.frame_range)
        d["task"], d["horizon"] = self.task, self.horizon
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], accept_versions: Iterable[str] = (BENCHMARK_VERSION,)) -> "Question":
        """A question from its JSON record. Records of another benchmark version raise
        :class:`BenchmarkVersionError` unless their version is in ``accept_versions``."""
        known = {f for f in cls.__dataclass_fields__}
        missing = [k for k in ("id", "scene_id", "episode_id", "question_type", "question",
                               "ground_truth", "frame_range", "fps") if k not in d]
        if missing:
            raise ValueError(f"question record {d.get('id', '?')}: missing fields {missing}")
        version = d.get("version", "v1")
        if version not in tuple(accept_versions):
            raise BenchmarkVersionError(
                f"question record {d.get('id', '?')} is from benchmark {version}, expected "
                f"{' or '.join(accept_versions)}: v1 data (built before answer balancing and the blind audit) "
                f"can be answered without the video; rebuild the split with vlm2-eqa-build")
        return cls(**{k: v for k, v in {**d, "version": version}.items() if k in known})


class BenchmarkVersionError(ValueError):
    """A question record (or split) of another benchmark version than the one asked for."""


def save_jsonl(questions: Iterable[Question], path: str | Path) -> None:
    """Write questions one JSON object per line, atomically."""
    atomic_write(path, "".join(json.dumps(q.to_dict()) + "\n" for q in questions))


def load_jsonl(path: str | Path, accept_versions: Iterable[str] = (BENCHMARK_VERSION,)) -> list[Question]:
    """Questions of a JSONL file; records of a benchmark version not in ``accept_versions`` raise
    :class:`BenchmarkVersionError` naming the file and line."""
    out = []
    accept = tuple(accept_versions)
    with open(path) as f:
        for i, line in enumerate(f, 1):
            if line.strip():
                try:
                    out.append(Question.from_dict(json.loads(line), accept))
                except BenchmarkVersionError as e:
                    raise BenchmarkVersionError(f"{path}:{i}: {e}") from e
                except (ValueError, TypeError) as e:
                    raise ValueError(f"{path}:{i}: {e}") from e
    return out
