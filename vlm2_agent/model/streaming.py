"""Streaming API of VLM2 for agents: fixed cost per observed frame, batched over episodes.

Example:
    >>> import torch
    >>> from vlm2_agent.model import VLM2Config, VLM2Model, VLM2Streamer, build_tokenizer
    >>> tok = build_tokenizer(["How many chairs?", "3"], vocab_size=300)
    >>> cfg = VLM2Config(geometry_source="none", use_a3pi=False, use_vaga=False,
    ...                  text_config={"model_type": "qwen2", "hidden_size": 32, "num_hidden_layers": 1,
    ...                               "num_attention_heads": 2, "num_key_value_heads": 1,
    ...                               "intermediate_size": 64, "vocab_size": 300})
    >>> agent = VLM2Streamer(VLM2Model(cfg), tok)
    >>> agent.reset(2)
    >>> agent.observe(torch.zeros(2, 3, 64, 64, dtype=torch.uint8))
    >>> len(agent.answer(["How many chairs?"] * 2)), agent.readout().shape
    (2, torch.Size([2, 128]))
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import torch
from transformers import PreTrainedTokenizerFast

from .device import autocast_context, select_device
from .memory import MemoryState
from .modeling_vlm2 import VLM2Model


class VLM2Streamer:
    """Wraps a `VLM2Model` and a tokenizer with per-episode memory state (inference only)."""

    def __init__(self, model: VLM2Model, tokenizer: PreTrainedTokenizerFast,
                 device: str | torch.device | None = None):
        self.device = select_device(device)
        self.model = model.to(self.device).eval()
        self.tokenizer = tokenizer
        self.state: MemoryState | None = None

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, device: str | torch.device | None = None) -> "VLM2Streamer":
        """Load a model and its tokenizer.json saved together by `save_pretrained`."""
        return cls(VLM2Model.from_pretrained(path), PreTrainedTokenizerFast.from_pretrained(path), device)

    def save_pretrained(self, path: str | os.PathLike) -> None:
        self.model.save_pretrained(path)
        self.tokenizer.save_pretrained(path)

    def reset(self, batch_size: int) -> None:
        """Start `batch_size` fresh episodes (empty memories)."""
        if batch_size < 1:
            raise ValueError(f"reset: batch_size={batch_size} must be >= 1")
        self.state = self.model.init_memory(batch_size)

    def reset_episodes(self, done: torch.Tensor | Sequence[bool]) -> None:
        """Clear only the episodes flagged in `done` (B,), e.g. from a vector env's terminations."""
        self._state().reset_episodes(torch.as_tensor(done, dtype=torch.bool))

    def _state(self) -> MemoryState:
        if self.state is None:
            raise RuntimeError("VLM2Streamer: call reset(batch_size) before observe/answer/readout")
        return self.state

    @torch.no_grad()
    def observe(self, frames: torch.Tensor, geometry: Mapping[str, torch.Tensor] | None = None) -> None:
        """Add one frame (B, 3, H, W) or a few (B, T, 3, H, W) per episode to the memory."""
        state = self._state()
        frames = torch.as_tensor(frames).to(self.device)
        geometry = None if geometry is None else {k: torch.as_tensor(v).to(self.device) for k, v in geometry.items()}
        with autocast_context(self.device):
            self.model.observe(state, frames, geometry)

    @torch.no_grad()
    def answer(self, questions: Sequence[str]) -> list[str]:
        """Greedy text answers (e.g. "B" or "3.2"), one question per episode."""
        with autocast_context(self.device):
            return self.model.generate_answers(self._state(), self.tokenizer, list(questions))

    @torch.no_grad()
    def readout(self) -> torch.Tensor:
        """(B, hidden_size) float32 memory summary for policies."""
        return self.model.readout(self._state()).float()


__all__ = ["VLM2Streamer"]
