"""Batched EQA answering with a VLM2 model: each video is streamed once, then all of its
questions are answered together from copies of the one memory state.

Example:
    >>> import torch
    >>> from vlm2_agent.model.memory import MemoryState
    >>> s = MemoryState(frame_index=torch.tensor([3]), current=torch.zeros(1, 4, 8))
    >>> repeat_state(s, 5).current.shape
    torch.Size([5, 4, 8])
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import torch
from tqdm import tqdm

from vlm2_agent.eqa.question import Question
from vlm2_agent.model.device import autocast_context
from vlm2_agent.model.memory import MemoryState

from .data import EpisodeVideoDataset, FeatureItem, VideoItem


def repeat_state(state: MemoryState, n: int) -> MemoryState:
    """A batch of ``n`` copies of a one-episode memory state (tensors expanded, lists shared)."""
    if state.batch_size != 1:
        raise ValueError(f"repeat_state: expected a one-episode state, got batch_size={state.batch_size}")
    out = {}
    for f in dataclasses.fields(state):
        v = getattr(state, f.name)
        if isinstance(v, torch.Tensor):
            v = v.expand(n, *v.shape[1:])
        elif isinstance(v, list):
            v = v * n
        out[f.name] = v
    return MemoryState(**out)


@torch.no_grad()
def answer_item(model, tokenizer, item: VideoItem | FeatureItem, question_batch: int = 128) -> list[str]:
    """Stream one video into a fresh memory, then answer all of its questions from copies of it."""
    device = next(model.parameters()).device
    replies: list[str] = []
    with autocast_context(device):
        state = model.init_memory(1)
        if isinstance(item, FeatureItem):
            model.observe_encoded(state, item.fused[None].to(device),
                                  None if item.coords is None else item.coords[None].to(device))
        else:
            use_geometry = getattr(model.config, "geometry_source", "none") == "oracle"
            geo = {k: v[None].to(device) for k, v in item.geometry.items()} if use_geometry else None
            model.observe(state, item.frames[None].to(device), geo)
        for s in range(0, len(item.questions), question_batch):
            chunk = item.questions[s:s + question_batch]
            replies += model.generate_answers(repeat_state(state, len(chunk)), tokenizer, [q.prompt() for q in chunk])
    return replies


@torch.no_grad()
def answer_dataset(model, tokenizer, dataset: EpisodeVideoDataset, max_episodes: int | None = None,
                   question_batch: int = 128, progress: bool = True) -> tuple[list[Question], list[str]]:
    """Questions of the first ``max_episodes`` episodes (all by default) and the model's replies."""
    was_training = model.training
    model.eval()
    n = len(dataset) if max_episodes is None else min(max_episodes, len(dataset))
    questions: list[Question] = []
    replies: list[str] = []
    for i in tqdm(range(n), desc="answer", unit="video", disable=not progress, leave=False):
        item = dataset[i]
        if item.questions:
            replies += answer_item(model, tokenizer, item, question_batch)
            questions += item.questions
    model.train(was_training)
    return questions, replies


def dataset_predict_fn(model, tokenizer, dataset: EpisodeVideoDataset):
    """A ``predict_fn(questions) -> replies`` for :func:`vlm2_agent.eqa.evaluate` over ``dataset``'s
    episodes (the questions must come from them)."""

    def predict(questions: Sequence[Question]) -> list[str]:
        qs, rs = answer_dataset(model, tokenizer, dataset)
        by_id = dict(zip((q.id for q in qs), rs))
        return [by_id.get(q.id, "") for q in questions]

    return predict


__all__ = ["answer_dataset", "answer_item", "dataset_predict_fn", "repeat_state"]
