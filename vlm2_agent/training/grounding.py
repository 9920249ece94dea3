"""Grounding questions: dense, automatic questions about what a training video shows.

Benchmark questions give the language model a few dozen answers per video, most of which a prior
can half-guess, so a small LM trained from scratch learns the priors and ignores its memory (the
video-swap diagnostic shows it). Grounding questions are asked about every training video at every
step, from the episode log and the scene annotations, about the frames the model actually sees
(the strided ones): for object categories that appear and for ones that do not,

    "How many <category>(s) appear in this video?"  ->  distinct instances seen in the kept frames

Half of them are about categories of the scene that were seen, half about categories that were not
(answer 0), so that no category has a typical answer. They train only; the benchmark never asks
them and the test split never sees them.

Example:
    >>> visible = [{3: 40, 5: 2}, {3: 10, 7: 60}, {9: 80}]
    >>> seen_instances(visible, frames=[0, 1], min_pixels=20)
    [3, 7]
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from vlm2_agent.eqa.question import NA_POST_PROMPT, PRE_PROMPT
from vlm2_agent.eqa.questions.common import word

TEMPLATE = "How many {}(s) appear in this video?"


@dataclass(frozen=True)
class GroundingQuestion:
    """A training-only numerical question (0 allowed, unlike benchmark answers, whose score divides
    by the truth); prompted like the benchmark's numerical questions."""

    id: str
    episode_id: str
    question: str
    ground_truth: float
    is_numerical: bool = True

    def prompt(self) -> str:
        return "\n".join([PRE_PROMPT, self.question, NA_POST_PROMPT])


def seen_instances(visible: Sequence[dict[int, int]], frames: Iterable[int], min_pixels: int = 20) -> list[int]:
    """Instance ids covering at least ``min_pixels`` pixels in at least one of ``frames``."""
    seen = {i for f in frames for i, px in visible[int(f)].items() if px >= min_pixels}
    return sorted(seen)


def instance_categories(scene) -> dict[int, str]:
    """Instance id -> object category of a loaded scene."""
    return {int(o.instance_id): o.category for o in scene.objects}


def seen_counts(category_of: dict[int, str], visible: Sequence[dict[int, int]], frames: Iterable[int],
                min_pixels: int = 20) -> Counter:
    """Category -> distinct instances of it that :func:`seen_instances` finds in ``frames``."""
    return Counter(category_of[i] for i in seen_instances(visible, frames, min_pixels) if i in category_of)


def grounding_texts(categories: Iterable[str]) -> list[str]:
    """Every grounding question text (for the tokenizer's training corpus)."""
    return [TEMPLATE.format(word(c)) for c in categories]


def grounding_questions(episode_id: str, category_of: dict[int, str], visible: Sequence[dict[int, int]],
                        frames: Sequence[int], categories: Sequence[str], n: int, rng: np.random.Generator,
                        min_pixels: int = 20) -> list[GroundingQuestion]:
    """``n`` counting questions about the kept ``frames``: half about categories seen (their number
    of distinct instances), half about catalogue categories not seen (0)."""
    counts = seen_counts(category_of, visible, frames, min_pixels)
    seen = sorted(counts)
    unseen = sorted(set(categories) - set(seen))
    half = n // 2
    pick_seen = list(rng.choice(seen, min(half, len(seen)), replace=False)) if seen else []
    pick_unseen = list(rng.choice(unseen, min(n - len(pick_seen), len(unseen)), replace=False)) if unseen else []
    out = []
    for k, cat in enumerate([*pick_seen, *pick_unseen]):
        out.append(GroundingQuestion(f"{episode_id}/grounding/{k}", episode_id, TEMPLATE.format(word(str(cat))),
                                     float(counts.get(cat, 0))))
    return out


__all__ = ["TEMPLATE", "GroundingQuestion", "grounding_questions", "grounding_texts", "instance_categories",
           "seen_counts", "seen_instances"]
