"""Reference baselines that never look at the video. Each returns a text reply scored like a model's.

* ``chance``: multiple choice -> a uniformly random option letter (VSI-Bench's "Chance Level (Random)");
  numerical -> a uniform sample in the range of that question type's answers in the train split.
* ``frequency``: VSI-Bench's "Chance Level (Frequency)": the most frequent train answer of each
  question type. Multiple choice: the most frequent correct option *text* (e.g. "left"), or, when that
  text is not among a question's options, the most frequent correct letter; numerical: the mode of the
  train answers (ties -> the smallest value).
* ``blind``: a question-only predictor. Numerical: the mean train answer for the same question type
  and the same subject (the categories the question text names), else the type's
  mean - e.g. size estimation predicts the mean size of that category in train. Multiple choice: the
  option whose text was most often correct, as a fraction of the train questions of that type that
  offered it.

Example:
    >>> from vlm2_agent.eqa.question import Question
    >>> train = [Question(id=str(i), scene_id="s", episode_id="e", question_type="object_size_estimation",
    ...                   question="?", ground_truth=g, frame_range=(0, 4), fps=4.0, meta={"category": "sofa"})
    ...          for i, g in enumerate([180.0, 200.0])]
    >>> make_baseline("blind", train).predict(train[0])
    '190.0'
"""

from __future__ import annotations

import zlib
from collections import Counter, defaultdict
from typing import Iterable, Protocol

import numpy as np

from .question import Question


class Baseline(Protocol):
    def fit(self, train: Iterable[Question]) -> "Baseline": ...

    def predict(self, question: Question) -> str: ...


def _option_text(q: Question) -> dict[str, str]:
    return {o.split(". ", 1)[1]: o.split(".", 1)[0] for o in q.options}


def _subject(q: Question) -> tuple:
    """The categories the question's text names (never its metadata: a baseline reads the text)."""
    from .audit.features import mentions

    return tuple(sorted(set(mentions(q.question))))


class _Fitted:
    def __init__(self) -> None:
        self.numbers: dict[str, list[float]] = defaultdict(list)
        self.answers: dict[str, Counter] = defaultdict(Counter)
        self.letters: dict[str, Counter] = defaultdict(Counter)
        self.offered: dict[str, Counter] = defaultdict(Counter)
        self.by_subject: dict[tuple, list[float]] = defaultdict(list)

    def fit(self, train: Iterable[Question]):
        for q in train:
            t = q.question_type
            if q.is_numerical:
                self.numbers[t].append(float(q.ground_truth))
                self.by_subject[(t,) + _subject(q)].append(float(q.ground_truth))
            else:
                self.answers[t][q.answer] += 1
                self.letters[t][q.ground_truth] += 1
                self.offered[t].update(list(_option_text(q)))
        return self

    def _need(self, q: Question, table: dict) -> None:
        if not table.get(q.question_type):
            raise ValueError(f"baseline has no train questions of type {q.question_type!r}; fit it on a train "
                             "split that covers every type it will predict")


class ChanceBaseline(_Fitted):
    def __init__(self, seed: int = 0):
        super().__init__()
        self.seed = seed

    def predict(self, q: Question) -> str:
        # seeded per question, so replies do not depend on the order questions are asked in
        rng = np.random.default_rng([self.seed, zlib.crc32(q.id.encode())])
        if not q.is_numerical:
            return q.options[int(rng.integers(len(q.options)))].split(".", 1)[0]
        self._need(q, self.numbers)
        lo, hi = min(self.numbers[q.question_type]), max(self.numbers[q.question_type])
        return f"{rng.uniform(lo, hi):.1f}"


class FrequencyBaseline(_Fitted):
    def predict(self, q: Question) -> str:
        t = q.question_type
        if q.is_numerical:
            self._need(q, self.numbers)
            counts = Counter(self.numbers[t])
            top = max(counts.values())
            return str(min(v for v, c in counts.items() if c == top))
        self._need(q, self.answers)
        texts = _option_text(q)
        for answer, _ in sorted(self.answers[t].items(), key=lambda kv: (-kv[1], kv[0])):
            if answer in texts:
                return texts[answer]
            break
        valid = [c for c in "ABCD"[: len(q.options)]]
        return max(valid, key=lambda c: (self.letters[t][c], -ord(c)))


class BlindBaseline(_Fitted):
    def predict(self, q: Question) -> str:
        t = q.question_type
        if q.is_numerical:
            self._need(q, self.numbers)
            values = self.by_subject.get((t,) + _subject(q)) or self.numbers[t]
            return f"{float(np.mean(values)):.1f}"
        priors = self.option_priors(q)
        return max(priors, key=lambda c: (priors[c], -ord(c)))

    def option_priors(self, q: Question) -> dict[str, float]:
        """Per option letter of a multiple-choice question: how often its text was right when a
        train question of the type offered it (0 for a text never offered)."""
        t = q.question_type
        self._need(q, self.answers)
        return {letter: self.answers[t][text] / self.offered[t][text] if self.offered[t][text] else 0.0
                for text, letter in _option_text(q).items()}

    def correct_probability(self, questions: Iterable[Question]) -> np.ndarray:
        """Per question: the prior of the right option over the sum of its options' priors (multiple
        choice), or the score of the reply (numerical): how sure and right this baseline is."""
        from .metrics import score_prediction

        out = []
        for q in questions:
            if q.is_numerical:
                out.append(score_prediction(q, self.predict(q)))
            else:
                priors = self.option_priors(q)
                total = sum(priors.values())
                out.append(priors[q.ground_truth] / total if total > 0 else 1.0 / len(priors))
        return np.asarray(out, dtype=float)


BASELINES = {"chance": ChanceBaseline, "frequency": FrequencyBaseline, "blind": BlindBaseline}


def make_baseline(name: str, train: Iterable[Question], seed: int = 0) -> Baseline:
    """A fitted baseline by name: ``chance``, ``frequency`` or ``blind``."""
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; expected one of {sorted(BASELINES)}")
    model = ChanceBaseline(seed) if name == "chance" else BASELINES[name]()
    return model.fit(list(train))
