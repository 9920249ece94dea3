"""Presence alignment: memory tokens pulled toward the words of what they show.

Trained from scratch, the language model meets the category word in a question ("chair") and the
memory tokens that show a chair as two unrelated vectors; it has to discover that they belong
together from a few answers per video, and in practice it learns the text priors instead (the
video-swap and grounding checks of ``results/eqa_v2/study`` show it). This auxiliary objective
states the link directly, in the language model's input space: for every category of the
catalogue, the best cosine match between the category's word embedding (the same embedding the
question uses) and any of the video's projected memory tokens must say whether the category was
seen in the kept frames (multiple-instance binary cross-entropy). Labels come from the episode
log, as for the grounding questions; the objective trains the memory, the projector and the word
embeddings, and leaves a question's attention to find matching tokens.

Example:
    >>> import torch
    >>> words = torch.eye(3)                                  # three categories' word embeddings
    >>> prefix = torch.tensor([[[0., 1, 0], [0, 0, 0]]])      # one video: a token showing category 1
    >>> mask = torch.tensor([[True, False]])
    >>> presence_logits(prefix, mask, words, temperature=1.0).tolist()
    [[0.0, 1.0, 0.0]]
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from vlm2_agent.eqa.questions.common import word


def category_token_ids(tokenizer, categories: Sequence[str]) -> list[list[int]]:
    """Token ids of each category as it appears inside a question (after a space)."""
    ids = [tokenizer(" " + word(c), add_special_tokens=False)["input_ids"] for c in categories]
    empty = [c for c, i in zip(categories, ids) if not i]
    if empty:
        raise ValueError(f"category_token_ids: categories {empty} encode to no tokens")
    return ids


def category_embeddings(embedding: torch.nn.Embedding, token_ids: Sequence[Sequence[int]]) -> torch.Tensor:
    """(C, H) mean input embedding of each category's tokens (differentiable)."""
    device = embedding.weight.device
    return torch.stack([embedding(torch.as_tensor(list(t), device=device)).mean(0) for t in token_ids])


def presence_logits(prefix: torch.Tensor, mask: torch.Tensor, words: torch.Tensor,
                    temperature: float = 0.1) -> torch.Tensor:
    """(B, C): per video and category, the largest cosine similarity between a valid prefix token
    (B, P, H; ``mask`` (B, P)) and the category's word embedding (C, H), divided by ``temperature``."""
    sim = torch.einsum("bph,ch->bpc", F.normalize(prefix.float(), dim=-1), F.normalize(words.float(), dim=-1))
    sim = sim.masked_fill(~mask.bool()[..., None], -1.0)
    return sim.amax(dim=1) / temperature


def presence_alignment_loss(prefix: torch.Tensor, mask: torch.Tensor, words: torch.Tensor,
                            targets: torch.Tensor, temperature: float = 0.1, margin: float = 0.5) -> torch.Tensor:
    """Binary cross-entropy of ``presence_logits - margin / temperature`` against ``targets`` (B, C) in {0, 1}:
    a category counts as shown where some token's cosine similarity to its word exceeds ``margin``."""
    logits = presence_logits(prefix, mask, words, temperature) - margin / temperature
    return F.binary_cross_entropy_with_logits(logits, targets.to(logits.dtype))


__all__ = ["category_embeddings", "category_token_ids", "presence_alignment_loss", "presence_logits"]
