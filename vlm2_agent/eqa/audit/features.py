"""What a blind model may read: features parsed from a question's text and options, nothing else.

No field of ``Question.meta``, no evidence and no annotation is used here; only ``question``,
``options`` and ``question_type`` (which the template gives away anyway). Parsed features:

* the furniture categories the question names, in order ("role0=sofa", "role1=tv", ...), found by
  matching the catalogue's category words (longest first, so "coffee table" is not "table");
* the numbers it contains (frame indices, "frame k of T": ``num0``, ``num1``, ..., their gap and ratio);
* the template (the text with categories and numbers blanked), as a one-hot;
* per option: its items (the option text split at ", "), each with its position ("opt0=left",
  "opt1=Turn Right", "opt0=nightstand"), and its letter.

Example:
    >>> mentions("If I am standing by the coffee table and facing the tv, is the tv stand to my left?")
    ['coffee table', 'tv', 'tv stand']
    >>> sorted(question_features("How far did the camera move between frame 9 and frame 41 of 200?"))[:4]
    ['gap', 'num0', 'num1', 'num2']
"""

from __future__ import annotations

import re
from functools import lru_cache

from scenes.catalog import CATALOG

from ..question import Question


@lru_cache(maxsize=1)
def _category_pattern() -> re.Pattern:
    words = sorted((c.replace("_", " ") for c in CATALOG), key=len, reverse=True)
    return re.compile(r"\b(" + "|".join(re.escape(w) for w in words) + r")\b")


_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def mentions(text: str) -> list[str]:
    """Category words named in ``text``, in order of appearance (``coffee_table``, as v1 wrote
    categories, reads as ``coffee table``)."""
    return [m.group(1) for m in _category_pattern().finditer(text.replace("_", " "))]


def template(text: str) -> str:
    """The text with category words and numbers blanked: what stays the same across a template."""
    return _NUMBER.sub("#", _category_pattern().sub("<obj>", text.replace("_", " ")))


def question_features(text: str) -> dict[str, float]:
    feats: dict[str, float] = {f"template={template(text)}": 1.0}
    for i, cat in enumerate(mentions(text)[:8]):
        feats[f"role{i}={cat}"] = 1.0
        feats[f"mentions={cat}"] = 1.0
    nums = [float(x) for x in _NUMBER.findall(text)][:4]
    for i, v in enumerate(nums):
        feats[f"num{i}"] = v
    if len(nums) >= 2:
        feats["gap"] = nums[1] - nums[0]
        feats["ratio"] = nums[0] / nums[-1] if nums[-1] else 0.0
    return feats


def option_features(option: str) -> dict[str, float]:
    letter, _, text = option.partition(". ")
    feats = {f"letter={letter}": 1.0}
    for i, item in enumerate(text.replace("_", " ").split(", ")[:6]):
        feats[f"opt{i}={item}"] = 1.0
        feats[f"opt_has={item}"] = 1.0
    return feats


def option_text(option: str) -> str:
    return option.partition(". ")[2]


def question_text(q: Question) -> str:
    """The text a bag-of-words model reads (question and options)."""
    return " ".join([q.question, *(option_text(o) for o in q.options)])


__all__ = ["mentions", "option_features", "option_text", "question_features", "question_text", "template"]
