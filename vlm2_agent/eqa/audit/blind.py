"""Blind models: answer from the question text and options alone, one model per question type.

* :class:`TextForest`: a random forest on the parsed text features of :mod:`.features`. Numerical
  types regress the log of the answer; multiple-choice types score each option (question features,
  option features and their crossings) as right or wrong and answer with the most likely letter.
* :class:`BagOfWords`: a linear model on hashed words: ridge regression on the log answer for
  numbers; for options, logistic regression on the option's items and the crossings of every
  question word with every option item.

Both are scored like any model (:func:`~vlm2_agent.eqa.metrics.score_prediction`): fit on train and
predict test, or, as in the test-set stress-test (TsT) of Brown et al. 2025, cross-validated on the
test split itself with folds grouped by scene (:func:`cross_validate`).

Example:
    >>> from vlm2_agent.eqa.question import Question
    >>> qs = [Question(id=str(i), scene_id=f"s{i % 5}", episode_id="e", question_type="object_size_estimation",
    ...                question=f"What is the length of the longest dimension of the {c}?",
    ...                ground_truth=g, frame_range=(0, 8), fps=4.0)
    ...       for i, (c, g) in enumerate([("sofa", 200.0), ("lamp", 160.0)] * 10)]
    >>> [round(float(r)) for r in TextForest().fit(qs).predict(qs[:2])]
    [200, 160]
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Sequence

import numpy as np

from ..question import Question
from .features import mentions, option_features, option_text, question_features

FOREST_TREES = 100


def _mc_rows(q: Question) -> list[dict[str, float]]:
    qf = question_features(q.question)
    roles = [k for k in qf if k.startswith("role")]
    rows = []
    for o in q.options:
        of = option_features(o)
        row = {**qf, **{f"o:{k}": v for k, v in of.items()}}
        for r in roles:  # crossings let a tree see "role0=bed" together with "opt0=nightstand" in one split
            for k in of:
                if k.startswith("opt"):
                    row[f"x:{r}|{k}"] = 1.0
        rows.append(row)
    return rows


class _PerType:
    """Fits one model per question type; subclasses say how to fit numbers and options."""

    def __init__(self, seed: int = 0, trees: int = FOREST_TREES):
        self.seed, self.trees = seed, trees
        self.models: dict[str, object] = {}

    def fit(self, train: Sequence[Question]) -> "_PerType":
        by_type: dict[str, list[Question]] = defaultdict(list)
        for q in train:
            by_type[q.question_type].append(q)
        self.models = {t: (self._fit_numeric(qs) if qs[0].is_numerical else self._fit_choice(qs))
                       for t, qs in sorted(by_type.items())}
        return self

    def _need(self, q: Question):
        if q.question_type not in self.models:
            raise ValueError(f"{type(self).__name__}: no train questions of type {q.question_type!r}; fit it on "
                             "questions that cover every type it will predict")
        return self.models[q.question_type]

    def correct_probability(self, questions: Sequence[Question]) -> np.ndarray:
        """Per question: the model's probability of the right option (multiple choice) or the score
        of its prediction (numerical): how sure and right the blind model is."""
        return self.predict_with_confidence(questions)[1]

    def predict(self, questions: Sequence[Question]) -> list[str]:
        return self.predict_with_confidence(questions)[0]

    def predict_with_confidence(self, questions: Sequence[Question]) -> tuple[list[str], np.ndarray]:
        """Replies and :meth:`correct_probability` in one pass (each type's options scored in one batch)."""
        from ..metrics import score_prediction

        by_type: dict[str, list[int]] = defaultdict(list)
        for i, q in enumerate(questions):
            by_type[q.question_type].append(i)
        replies, conf = [""] * len(questions), np.zeros(len(questions))
        for t, idx in by_type.items():
            qs = [questions[i] for i in idx]
            model = self._need(qs[0])
            if qs[0].is_numerical:
                values = np.exp(self._predict_numeric(model, qs))
                for i, q, v in zip(idx, qs, values):
                    replies[i] = f"{float(v):.1f}"
                    conf[i] = score_prediction(q, replies[i])
                continue
            probs = self._option_probs(model, qs)
            bounds = np.cumsum([0] + [len(q.options) for q in qs])
            for i, q, a, b in zip(idx, qs, bounds[:-1], bounds[1:]):
                p = probs[a:b]
                replies[i] = "ABCD"[int(np.argmax(p))]
                conf[i] = p["ABCD".index(q.ground_truth)] / max(p.sum(), 1e-9)
        return replies, conf


class TextForest(_PerType):
    """Random forests on parsed text features (see the module docstring)."""

    def _fit_numeric(self, qs):
        from sklearn.ensemble import RandomForestRegressor
        from sklearn.feature_extraction import DictVectorizer

        vec = DictVectorizer()
        X = vec.fit_transform([question_features(q.question) for q in qs])
        y = np.log([float(q.ground_truth) for q in qs])
        rf = RandomForestRegressor(self.trees, min_samples_leaf=3, max_features=0.5, random_state=self.seed,
                                   n_jobs=1).fit(X, y)
        return vec, rf

    def _predict_numeric(self, model, qs):
        vec, rf = model
        return rf.predict(vec.transform([question_features(q.question) for q in qs]))

    def _fit_choice(self, qs):
        from sklearn.ensemble import RandomForestClassifier
        from sklearn.feature_extraction import DictVectorizer

        rows, labels = [], []
        for q in qs:
            for o, row in zip(q.options, _mc_rows(q)):
                rows.append(row)
                labels.append(int(o.split(".", 1)[0] == q.ground_truth))
        vec = DictVectorizer()
        rf = RandomForestClassifier(self.trees, min_samples_leaf=2, max_features="sqrt", random_state=self.seed,
                                    n_jobs=1).fit(vec.fit_transform(rows), labels)
        return vec, rf

    def _option_probs(self, model, qs: Sequence[Question]) -> np.ndarray:
        vec, rf = model
        proba = rf.predict_proba(vec.transform([row for q in qs for row in _mc_rows(q)]))
        col = list(rf.classes_).index(1) if 1 in rf.classes_ else None
        return proba[:, col] if col is not None else np.zeros(len(proba))


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z]+|\d+", text.lower())


def _bow_numeric_features(q: Question) -> list[str]:
    w = _words(q.question)
    return w + [f"{a}_{b}" for a, b in zip(w, w[1:])]


def _bow_option_features(q: Question, option: str) -> list[str]:
    items = option_text(option).split(", ")
    qwords = set(_words(q.question)) | {m.replace(" ", "_") for m in mentions(q.question)}
    feats = [f"item{i}={it}" for i, it in enumerate(items)] + [f"has={it}" for it in items]
    feats += [f"{w}|{it}" for w in qwords for it in items]
    return feats


class BagOfWords(_PerType):
    """Linear models on hashed words (see the module docstring)."""

    N_FEATURES = 2 ** 18

    def _hasher(self):
        from sklearn.feature_extraction import FeatureHasher

        return FeatureHasher(self.N_FEATURES, input_type="string", alternate_sign=False)

    def _fit_numeric(self, qs):
        from sklearn.linear_model import Ridge

        h = self._hasher()
        X = h.transform([_bow_numeric_features(q) for q in qs])
        return h, Ridge(alpha=1.0).fit(X, np.log([float(q.ground_truth) for q in qs]))

    def _predict_numeric(self, model, qs):
        h, ridge = model
        return ridge.predict(h.transform([_bow_numeric_features(q) for q in qs]))

    def _fit_choice(self, qs):
        from sklearn.linear_model import LogisticRegression

        h = self._hasher()
        rows, labels = [], []
        for q in qs:
            for o in q.options:
                rows.append(_bow_option_features(q, o))
                labels.append(int(o.split(".", 1)[0] == q.ground_truth))
        if len(set(labels)) < 2:
            return h, None
        return h, LogisticRegression(C=1.0, solver="liblinear").fit(h.transform(rows), labels)

    def _option_probs(self, model, qs: Sequence[Question]) -> np.ndarray:
        h, lr = model
        rows = [_bow_option_features(q, o) for q in qs for o in q.options]
        return np.ones(len(rows)) if lr is None else lr.predict_proba(h.transform(rows))[:, 1]


BLIND_MODELS = {"forest": TextForest, "bow": BagOfWords}


def cross_validate(model_name: str, questions: Sequence[Question], folds: int = 5, seed: int = 0,
                   with_confidence: bool = False, trees: int = FOREST_TREES):
    """TsT: replies for ``questions`` from models fit on the other folds, with folds grouped by
    scene and drawn per question type (GroupKFold); with ``with_confidence`` also
    :meth:`correct_probability` of every question. A type's replies depend only on that type's
    questions, so re-running a subset of types gives the same replies for them."""
    from sklearn.model_selection import GroupKFold

    questions = list(questions)
    replies, conf = [""] * len(questions), np.zeros(len(questions))
    by_type: dict[str, list[int]] = defaultdict(list)
    for i, q in enumerate(questions):
        by_type[q.question_type].append(i)
    for qtype, idx in sorted(by_type.items()):
        scenes = [questions[i].scene_id for i in idx]
        if len(set(scenes)) < folds:
            raise ValueError(f"cross_validate: {qtype} has questions from {len(set(scenes))} scenes, need at least "
                             f"{folds} for {folds} folds grouped by scene")
        for train_part, test_part in GroupKFold(folds).split(idx, groups=scenes):
            model = BLIND_MODELS[model_name](seed, trees).fit([questions[idx[j]] for j in train_part])
            held = [questions[idx[j]] for j in test_part]
            held_replies, held_conf = model.predict_with_confidence(held)
            for j, r, c in zip(test_part, held_replies, held_conf):
                replies[idx[j]], conf[idx[j]] = r, c
    return (replies, conf) if with_confidence else replies


__all__ = ["BLIND_MODELS", "BagOfWords", "TextForest", "cross_validate"]
