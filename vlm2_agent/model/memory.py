"""Dual memory of VLM2 (working + episodic) and the baseline memories used for ablations.

Granularity: one memory entry per frame, made by average-pooling that frame's token grid (N
tokens) to `entry_grid x entry_grid` tokens (k tokens). Reads are cross-attention with all N
tokens of the current H_t as queries over the flattened entries, so a frame costs
O(N * L * k) whatever the episode length (except `full_context`, which is meant to grow).

Each entry also keeps where it was seen: the 3D centroid of its pooled patches in the geometry
frame (`x, y, z, w`, w = valid-pixel fraction; w = 0 where the frame had no geometry). The model
never reads these numbers; they let a goal-conditioned read turn attention over entries into a
position (`prefix_coords`, used by `vlm2_agent.policy.goal_locator`).

Modes: `none` (current frame only), `working` (FIFO W of L_w entries of H_t), `episodic` (E of
L_e entries of M_t, Algorithm 1 replacement), `dual` (VLM2: both + gate), `full_context` (every
frame so far; cost grows), `uniform` (k frames uniform over the video so far: frames 0, s, 2s, ...
kept; when the buffer is full every other entry is dropped and the stride s doubles, so the kept
frames stay evenly spaced over the whole video at fixed cost).

Example:
    >>> import torch
    >>> bank, count = torch.zeros(1, 2, 1, 1), torch.zeros(1, dtype=torch.long)
    >>> for v in (1., 2., 3.):
    ...     bank, count = fifo_push(bank, count, torch.full((1, 1, 1), v))
    >>> bank.flatten().tolist(), count.tolist()
    ([2.0, 3.0], [2])
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pad_sequence

from .fusion import CrossAttentionBlock, mlp


def pool_entry(tokens: torch.Tensor, grid: int, entry_grid: int) -> torch.Tensor:
    """(B, grid*grid, D) tokens -> (B, entry_grid**2, D) by average pooling over the patch grid."""
    b, n, d = tokens.shape
    x = tokens.transpose(1, 2).reshape(b, d, grid, grid)
    return F.adaptive_avg_pool2d(x, entry_grid).flatten(2).transpose(1, 2)


def pool_coords(coords: torch.Tensor, valid: torch.Tensor, grid: int, entry_grid: int) -> torch.Tensor:
    """Per-patch centroids (B, N, 3) and valid fractions (B, N, 1) -> (B, k, 4) entry centroids
    `[x, y, z, w]`: the valid-weighted mean position of each entry's patches and their mean valid
    fraction (w = 0: nothing valid; the position is then 0).

    >>> c = torch.tensor([[[0., 0, 0], [2, 0, 0], [4, 0, 0], [6, 0, 0]]]); v = torch.tensor([[[1.], [1], [0], [1]]])
    >>> pool_coords(c, v, 2, 1).tolist()
    [[[2.6666667461395264, 0.0, 0.0, 0.75]]]
    """
    weighted = pool_entry(torch.nan_to_num(coords) * valid, grid, entry_grid)
    w = pool_entry(valid, grid, entry_grid)
    return torch.cat([weighted / w.clamp_min(1e-6), w], dim=-1)


def fifo_push(bank: torch.Tensor, count: torch.Tensor, entry: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Working-memory update: append `entry` (B, k, D) at the newest end of `bank` (B, L, k, D),
    dropping the oldest. Entries are right-aligned: slots L-count .. L-1 hold valid entries."""
    bank = torch.cat([bank[:, 1:], entry.unsqueeze(1).to(bank.dtype)], dim=1)
    return bank, (count + 1).clamp(max=bank.shape[1])


def episodic_update(bank: torch.Tensor, count: torch.Tensor, entry: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Algorithm 1 update of E (B, L, k, D): append `entry` while not full, else replace the entry
    whose flattened (k*D) vector is most cosine-similar to it. Returns (bank, count, slot written)."""
    b, length = bank.shape[:2]
    sim = F.cosine_similarity(bank.flatten(2), entry.flatten(1).unsqueeze(1).to(bank.dtype), dim=-1)
    full = count >= length
    slot = torch.where(full, sim.argmax(dim=1), count.clamp(max=length - 1))
    onehot = F.one_hot(slot, length).bool().view(b, length, 1, 1)
    bank = torch.where(onehot, entry.unsqueeze(1).to(bank.dtype), bank)
    return bank, (count + 1).clamp(max=length), slot


@dataclass
class MemoryState:
    """Streaming memory of a batch of episodes (one row per episode)."""

    frame_index: torch.Tensor  # (B,) frames observed since the episode's reset
    working: torch.Tensor | None = None  # (B, L_w, k, D)
    working_count: torch.Tensor | None = None
    episodic: torch.Tensor | None = None  # (B, L_e, k, D)
    episodic_count: torch.Tensor | None = None
    frames: list[list[torch.Tensor]] = field(default_factory=list)  # full_context / uniform entries
    stride: list[int] = field(default_factory=list)  # uniform sampling stride per episode
    current: torch.Tensor | None = None  # (B, N, D) latest M_t
    working_coords: torch.Tensor | None = None  # (B, L_w, k, 4) [x, y, z, w] of each entry
    episodic_coords: torch.Tensor | None = None  # (B, L_e, k, 4)
    frame_coords: list[list[torch.Tensor]] = field(default_factory=list)  # beside `frames`
    current_coords: torch.Tensor | None = None  # (B, k, 4) of the latest frame
    ref_pose: torch.Tensor | None = None  # (B, 4, 4) first camera pose, for geometry_frame="first"

    @property
    def batch_size(self) -> int:
        return self.frame_index.shape[0]

    def reset_episodes(self, done: torch.Tensor) -> None:
        """Clear the memory of the episodes where `done` (B,) is True (the others keep theirs)."""
        done = done.to(self.frame_index.device).bool()
        self.frame_index = torch.where(done, 0, self.frame_index)
        for name in ("working", "episodic"):
            bank = getattr(self, name)
            if bank is not None:
                setattr(self, name, torch.where(done.view(-1, 1, 1, 1), 0.0, bank))
                count = getattr(self, name + "_count")
                setattr(self, name + "_count", torch.where(done, 0, count))
                coords = getattr(self, name + "_coords")
                setattr(self, name + "_coords", torch.where(done.view(-1, 1, 1, 1), 0.0, coords))
        if self.current_coords is not None:
            self.current_coords = torch.where(done.view(-1, 1, 1), 0.0, self.current_coords)
        for i in torch.nonzero(done).flatten().tolist():
            if self.frames:
                self.frames[i] = []
                self.frame_coords[i] = []
                self.stride[i] = 1


def _slot_mask(count: torch.Tensor, length: int, k: int, right_aligned: bool) -> torch.Tensor:
    slots = torch.arange(length, device=count.device)
    valid = slots >= (length - count[:, None]) if right_aligned else slots < count[:, None]
    return valid.repeat_interleave(k, dim=1)


class MemoryModule(nn.Module):
    """Reads and updates the memory of one frame; `mode` selects VLM2's dual memory or a baseline."""

    def __init__(self, dim: int, num_heads: int, mode: str, grid: int, entry_grid: int,
                 working_size: int, episodic_size: int, uniform_frames: int):
        super().__init__()
        self.mode, self.grid, self.entry_grid = mode, grid, entry_grid
        self.working_size, self.episodic_size, self.uniform_frames = working_size, episodic_size, uniform_frames
        if mode in ("working", "dual", "full_context", "uniform"):
            self.read_working = CrossAttentionBlock(dim, num_heads)
        if mode in ("episodic", "dual"):
            self.read_episodic = CrossAttentionBlock(dim, num_heads)
        if mode == "dual":
            self.gate = mlp(2 * dim, dim, dim)

    @property
    def entry_tokens(self) -> int:
        return self.entry_grid**2

    def init_state(self, batch_size: int, dim: int, device: torch.device | str = "cpu",
                   dtype: torch.dtype = torch.float32) -> MemoryState:
        k, zero = self.entry_tokens, torch.zeros(batch_size, dtype=torch.long, device=device)
        state = MemoryState(frame_index=zero.clone())
        if self.mode in ("working", "dual"):
            state.working = torch.zeros(batch_size, self.working_size, k, dim, device=device, dtype=dtype)
            state.working_count = zero.clone()
            state.working_coords = torch.zeros(batch_size, self.working_size, k, 4, device=device)
        if self.mode in ("episodic", "dual"):
            state.episodic = torch.zeros(batch_size, self.episodic_size, k, dim, device=device, dtype=dtype)
            state.episodic_count = zero.clone()
            state.episodic_coords = torch.zeros(batch_size, self.episodic_size, k, 4, device=device)
        if self.mode in ("full_context", "uniform"):
            state.frames = [[] for _ in range(batch_size)]
            state.frame_coords = [[] for _ in range(batch_size)]
            state.stride = [1] * batch_size
        return state

    def _frame_bank(self, state: MemoryState, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Pad the per-episode entry lists of full_context / uniform into (B, T*k, D) + mask."""
        k, d = self.entry_tokens, like.shape[-1]
        seqs = [torch.cat(f, dim=0) if f else like.new_zeros(0, d) for f in state.frames]
        lengths = torch.tensor([s.shape[0] for s in seqs], device=like.device)
        if int(lengths.max()) == 0:
            return like.new_zeros(len(seqs), k, d), torch.zeros(len(seqs), k, dtype=torch.bool, device=like.device)
        bank = pad_sequence(seqs, batch_first=True)
        mask = torch.arange(bank.shape[1], device=like.device)[None] < lengths[:, None]
        return bank, mask

    def read(self, h: torch.Tensor, state: MemoryState) -> torch.Tensor:
        """M_t from H_t (B, N, D) and the memory before this frame's update."""
        k, mode = self.entry_tokens, self.mode
        if mode == "none":
            return h
        if mode in ("full_context", "uniform"):
            bank, mask = self._frame_bank(state, h)
            return self.read_working(h, bank, mask)
        if mode in ("working", "dual"):
            m_w = self.read_working(h, state.working.flatten(1, 2),
                                    _slot_mask(state.working_count, self.working_size, k, True))
        if mode in ("episodic", "dual"):
            m_e = self.read_episodic(h, state.episodic.flatten(1, 2),
                                     _slot_mask(state.episodic_count, self.episodic_size, k, False))
        if mode == "working":
            return m_w
        if mode == "episodic":
            return m_e
        gamma = torch.sigmoid(self.gate(torch.cat([m_w, m_e], dim=-1)))
        return gamma * m_w + (1 - gamma) * m_e

    def update(self, h: torch.Tensor, m: torch.Tensor, state: MemoryState, coords: torch.Tensor | None = None) -> None:
        """Algorithm 1: W <- push(pool(H_t)); E <- append-or-replace-most-similar(pool(M_t)).
        `coords` (B, k, 4) are the new entry's centroids (`pool_coords`); None: no geometry (w = 0)."""
        if coords is None:
            coords = h.new_zeros(h.shape[0], self.entry_tokens, 4, dtype=torch.float32)
        coords = coords.float()
        if state.working is not None:
            state.working, state.working_count = fifo_push(
                state.working, state.working_count, pool_entry(h, self.grid, self.entry_grid))
            state.working_coords = torch.cat([state.working_coords[:, 1:], coords.unsqueeze(1)], dim=1)
        if state.episodic is not None:
            state.episodic, state.episodic_count, slot = episodic_update(
                state.episodic, state.episodic_count, pool_entry(m, self.grid, self.entry_grid))
            written = F.one_hot(slot, self.episodic_size).bool().view(-1, self.episodic_size, 1, 1)
            state.episodic_coords = torch.where(written, coords.unsqueeze(1), state.episodic_coords)
        if self.mode in ("full_context", "uniform"):
            entries = pool_entry(h, self.grid, self.entry_grid)
            for i, t in enumerate(state.frame_index.tolist()):
                self._add_frame(state, i, t, entries[i], coords[i])
        state.frame_index = state.frame_index + 1
        state.current = m
        state.current_coords = coords

    def _add_frame(self, state: MemoryState, i: int, t: int, entry: torch.Tensor, coords: torch.Tensor) -> None:
        if self.mode == "full_context":
            state.frames[i].append(entry)
            state.frame_coords[i].append(coords)
            return
        if t % state.stride[i]:
            return
        if len(state.frames[i]) == self.uniform_frames:
            state.frames[i] = state.frames[i][::2]
            state.frame_coords[i] = state.frame_coords[i][::2]
            state.stride[i] *= 2
        if t % state.stride[i] == 0:  # always true for even uniform_frames; kept as the invariant
            state.frames[i].append(entry)
            state.frame_coords[i].append(coords)

    def step(self, h: torch.Tensor, state: MemoryState, coords: torch.Tensor | None = None) -> torch.Tensor:
        """Read then update; returns M_t (B, N, D). `state` is updated in place; `coords` as in `update`."""
        m = self.read(h, state)
        self.update(h, m, state, coords)
        return m

    def prefix(self, state: MemoryState) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Memory tokens for the LM: (tokens (B, P, D), mask (B, P) bool, segment (P,) long:
        0 episodic, 1 working / frame buffer, 2 current M_t). P is fixed except for full_context."""
        if state.current is None:
            raise RuntimeError("memory is empty: observe at least one frame before reading the prefix")
        cur = pool_entry(state.current, self.grid, self.entry_grid)
        k, b = self.entry_tokens, cur.shape[0]
        parts = []
        if state.episodic is not None:
            parts.append((state.episodic.flatten(1, 2), _slot_mask(state.episodic_count, self.episodic_size, k, False), 0))
        if state.working is not None:
            parts.append((state.working.flatten(1, 2), _slot_mask(state.working_count, self.working_size, k, True), 1))
        if self.mode in ("full_context", "uniform"):
            bank, mask = self._frame_bank(state, cur)
            parts.append((bank, mask, 1))
        parts.append((cur, torch.ones(b, k, dtype=torch.bool, device=cur.device), 2))
        tokens = torch.cat([p[0].to(cur.dtype) for p in parts], dim=1)
        mask = torch.cat([p[1] for p in parts], dim=1)
        segment = torch.cat([torch.full((p[0].shape[1],), p[2], device=cur.device) for p in parts])
        return tokens, mask, segment

    def prefix_coords(self, state: MemoryState) -> torch.Tensor:
        """(B, P, 4) `[x, y, z, w]` of each token of `prefix(state)`, in the same order (w = 0:
        no position, including empty slots)."""
        if state.current_coords is None:
            raise RuntimeError("memory is empty: observe at least one frame before reading the prefix")
        cur = state.current_coords
        parts = []
        if state.episodic_coords is not None:
            parts.append(state.episodic_coords.flatten(1, 2))
        if state.working_coords is not None:
            parts.append(state.working_coords.flatten(1, 2))
        if self.mode in ("full_context", "uniform"):
            seqs = [torch.cat(f, dim=0) if f else cur.new_zeros(0, 4) for f in state.frame_coords]
            bank = pad_sequence(seqs, batch_first=True) if max(s.shape[0] for s in seqs) else cur.new_zeros(cur.shape[0], cur.shape[1], 4)
            parts.append(bank)
        parts.append(cur)
        return torch.cat(parts, dim=1)


__all__ = ["MemoryState", "MemoryModule", "fifo_push", "episodic_update", "pool_entry", "pool_coords"]
