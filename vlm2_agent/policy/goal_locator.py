"""Goal-conditioned memory read: where is "the <category> in the <room type>" in VLM2's memory?

``GoalLocator`` attends from a goal query (category and room-type embeddings) over the memory
tokens of a VLM2 state (``MemoryModule.prefix``: episodic + working entries + the current frame)
and returns the attention-weighted mean of the entries' 3D centroids (``prefix_coords``), in the
frame of the episode's first camera. So the head only has to recognise *which* entries show the
goal; where they are comes from the geometry each entry was seen with. Positions are returned in
the ``gps`` frame of ``VLM2/ReturnNav-v0`` (metres ``[forward, right]`` of the tour's start pose),
and :func:`polar_from_gps` turns them into PointNav's ``[rho, phi]`` for the current pose.

Example:
    >>> import torch
    >>> loc = GoalLocator(hidden_size=8, num_categories=3, num_room_types=2)
    >>> tokens, mask = torch.zeros(1, 5, 8), torch.ones(1, 5, dtype=torch.bool)
    >>> coords = torch.tensor([[[1.0, 0, -2, 1]] * 5])  # every entry 2 m ahead, 1 m right
    >>> loc(tokens, coords, mask, torch.tensor([0]), torch.tensor([1])).position.tolist()
    [[2.0, 1.0]]
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from vlm2_base.io import atomic_path, atomic_write

CONFIG_NAME = "goal_locator.json"
WEIGHTS_NAME = "goal_locator.safetensors"


@dataclass
class GoalLocatorConfig:
    """Sizes of a :class:`GoalLocator`.

    Args:
        hidden_size: width D of the VLM2 memory tokens (``VLM2Config.hidden_size``).
        num_categories: goal categories (``ObjectNavEnv.categories``).
        num_room_types: room types (``ReturnNavEnv.room_types``).
        query_size: width of the attention query and keys.
        min_valid: entries whose valid-pixel fraction is below this are never attended.
        semantic_classes: 0, or ``num_categories + 1``: a patch classifier over the tokens (class 0 =
            no object, class c + 1 = category c) whose log-probability of the goal category is
            added to each token's score; initialised from the perception's semantic head
            (``load_semantic_head``), so the read starts from what the backbone recognises.
    """

    hidden_size: int = 128
    num_categories: int = 30
    num_room_types: int = 8
    query_size: int = 64
    min_valid: float = 0.05
    semantic_classes: int = 0

    def __post_init__(self):
        for name in ("hidden_size", "num_categories", "num_room_types", "query_size"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"GoalLocatorConfig.{name}: expected a positive int, got {v!r}")
        if self.semantic_classes not in (0, self.num_categories + 1):
            raise ValueError(f"GoalLocatorConfig.semantic_classes: expected 0 or num_categories + 1 = "
                             f"{self.num_categories + 1}, got {self.semantic_classes!r}")
        if not 0.0 <= float(self.min_valid) < 1.0:
            raise ValueError(f"GoalLocatorConfig.min_valid: expected a fraction in [0, 1), got {self.min_valid!r}")


class GoalEstimate(NamedTuple):
    position: torch.Tensor  # (B, 2) [forward, right] metres in the first camera's ground frame
    weights: torch.Tensor  # (B, P) attention over the memory tokens
    logits: torch.Tensor  # (B, P) before the softmax (-inf where masked)


def gps_from_camera(coords: torch.Tensor) -> torch.Tensor:
    """(..., >=3) points in the first camera's frame (x right, y up, -z forward) -> (..., 2) ``[forward, right]``.

    >>> gps_from_camera(torch.tensor([1.0, 0.3, -2.0])).tolist()
    [2.0, 1.0]
    """
    return torch.stack([-coords[..., 2], coords[..., 0]], dim=-1)


def polar_from_gps(goal: np.ndarray, gps: np.ndarray, compass: float) -> np.ndarray:
    """PointNav's ``[rho, phi]`` (m, rad, phi > 0 to the left) of a goal given in the ``gps`` frame,
    for an agent at ``gps`` whose heading is ``compass`` (rad, > 0 = turned left of the start).

    >>> [round(float(v), 4) for v in polar_from_gps(np.array([0.0, -1.0]), np.zeros(2), 0.0)]  # 1 m left
    [1.0, 1.5708]
    """
    d = np.asarray(goal, np.float64) - np.asarray(gps, np.float64)
    c = float(np.asarray(compass).reshape(-1)[0])
    forward = d[0] * math.cos(c) - d[1] * math.sin(c)
    right = d[0] * math.sin(c) + d[1] * math.cos(c)
    return np.array([math.hypot(forward, right), math.atan2(-right, forward)], np.float32)


class GoalLocator(nn.Module):
    """Attention of a (category, room type) query over memory tokens -> goal position.

    ``forward(tokens (B, P, D), coords (B, P, 4), mask (B, P), category (B,), room (B,))`` returns a
    :class:`GoalEstimate`; entries without valid geometry (``coords[..., 3] < min_valid``) or masked
    out are never attended. ``save_pretrained`` / ``from_pretrained`` write and read a folder.
    """

    def __init__(self, config: GoalLocatorConfig | None = None, **kwargs):
        super().__init__()
        self.config = config if config is not None else GoalLocatorConfig(**kwargs)
        c = self.config
        self.norm = nn.LayerNorm(c.hidden_size)
        self.key = nn.Sequential(nn.Linear(c.hidden_size, c.query_size), nn.GELU(), nn.Linear(c.query_size, c.query_size))
        self.category = nn.Embedding(c.num_categories, c.query_size)
        self.room = nn.Embedding(c.num_room_types, c.query_size)
        self.semantic = nn.Linear(c.hidden_size, c.semantic_classes) if c.semantic_classes else None

    def load_semantic_head(self, path: str | os.PathLike) -> "GoalLocator":
        """Initialise the semantic scorer from a perception head (``semantic_head.safetensors``
        written by ``experiments/train_perception.py``: ``weight`` (C + 1, D), ``bias``)."""
        if self.semantic is None:
            raise ValueError("load_semantic_head: this locator has semantic_classes=0")
        state = load_file(str(path))
        if tuple(state.get("weight", torch.empty(0)).shape) != tuple(self.semantic.weight.shape):
            raise ValueError(f"{path}: expected a head with weight {tuple(self.semantic.weight.shape)}, "
                             f"got {tuple(state['weight'].shape) if 'weight' in state else 'no weight'}")
        self.semantic.load_state_dict(state)
        return self

    def forward(self, tokens: torch.Tensor, coords: torch.Tensor, mask: torch.Tensor, category: torch.Tensor,
                room: torch.Tensor) -> GoalEstimate:
        if tokens.dim() != 3 or coords.shape[:2] != tokens.shape[:2] or coords.shape[-1] != 4:
            raise ValueError(f"GoalLocator: expected tokens (B, P, D) and coords (B, P, 4), got "
                             f"{tuple(tokens.shape)} and {tuple(coords.shape)}")
        query = self.category(category.long().view(-1)) + self.room(room.long().view(-1))
        keys = self.key(self.norm(tokens.float()))
        logits = torch.einsum("bpd,bd->bp", keys, query) / math.sqrt(self.config.query_size)
        if self.semantic is not None:
            log_p = torch.log_softmax(self.semantic(tokens.float()), dim=-1)
            goal = (category.long().view(-1, 1, 1) + 1).expand(-1, tokens.shape[1], 1)
            logits = logits + log_p.gather(-1, goal).squeeze(-1)
        usable = mask.bool() & (coords[..., 3] >= self.config.min_valid)
        if not bool(usable.any(dim=1).all()):
            raise ValueError("GoalLocator: an episode has no memory entry with geometry (observe frames with depth first)")
        logits = logits.masked_fill(~usable, float("-inf"))
        weights = torch.softmax(logits, dim=1)
        position = torch.einsum("bp,bpc->bc", weights, gps_from_camera(coords.float()))
        return GoalEstimate(position, weights, logits)

    def save_pretrained(self, path: str | os.PathLike) -> None:
        """Write ``goal_locator.json`` and ``goal_locator.safetensors`` to the folder (atomically)."""
        path = Path(path)
        with atomic_path(path / WEIGHTS_NAME) as tmp:
            save_file({k: v.detach().contiguous() for k, v in self.state_dict().items()}, str(tmp))
        atomic_write(path / CONFIG_NAME, json.dumps(asdict(self.config), indent=2))

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike) -> "GoalLocator":
        path = Path(path)
        for name in (CONFIG_NAME, WEIGHTS_NAME):
            if not (path / name).is_file():
                raise FileNotFoundError(f"GoalLocator folder {str(path)!r}: missing {name} (write it with save_pretrained)")
        try:
            config = GoalLocatorConfig(**json.loads((path / CONFIG_NAME).read_text()))
        except (TypeError, ValueError) as e:
            raise ValueError(f"{path / CONFIG_NAME}: not a GoalLocatorConfig ({e})") from e
        model = cls(config)
        model.load_state_dict(load_file(str(path / WEIGHTS_NAME)))
        return model.eval()


def nearest_target_loss(position: torch.Tensor, targets: torch.Tensor, target_mask: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of the distance (m) from each prediction (B, 2) to the nearest of its
    targets (B, T, 2) (``target_mask`` (B, T): which are real): a goal "the chair in the kitchen"
    is reached at any such chair.

    >>> nearest_target_loss(torch.zeros(1, 2), torch.tensor([[[3.0, 4.0], [0.0, 1.0]]]), torch.tensor([[True, False]]))
    tensor(5.)
    """
    dist = torch.linalg.norm(position[:, None] - targets, dim=-1).masked_fill(~target_mask, float("inf"))
    return dist.min(dim=1).values.mean()


__all__ = ["GoalLocator", "GoalLocatorConfig", "GoalEstimate", "gps_from_camera", "polar_from_gps",
           "nearest_target_loss"]
