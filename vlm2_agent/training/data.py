"""EQA training data: episodes of an :class:`~vlm2_agent.eqa.store.EpisodeStore` as (video, questions) items.

One item is one recorded episode: its frames subsampled with a fixed ``stride`` from the 4 fps video
(stride 8 gives one frame every 2 s: Short ~25, Mid ~50, Long ~125 frames, so Long videos hold
more frames than the dual memory's L_w + L_e = 40 entries and the memory design matters), the
matching oracle geometry (depth, intrinsics, camera pose) and every question asked about it.
Frames stay uint8 and are read from the memory-mapped ``rgb.npy`` (only the strided frames are
touched); with ``cache=True`` the strided uint8 frames and float16 depth of each episode are kept
in RAM after the first read (≈ 12 KB per 64x64 frame).

:func:`collate` turns a list of items into one model batch: videos stacked (B, T, 3, H, W), the
questions of all videos concatenated, and ``video_index`` mapping each question to its video so
the model encodes each video once and shares its memory prefix across its questions.

Example:
    >>> subsample_indices(0, 201, 8)[:4].tolist(), len(subsample_indices(0, 201, 8))
    ([0, 8, 16, 24], 26)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from envs.render.camera import intrinsics
from vlm2_agent.eqa.question import Question
from vlm2_agent.eqa.store import EpisodeStore, EpisodeStoreError
from vlm2_agent.model.tokenizer import training_batch


def subsample_indices(start: int, end: int, stride: int) -> np.ndarray:
    """Frame indices ``start, start+stride, ...`` below ``end``; the last frame is always kept so the
    memory has seen the whole video the questions are about."""
    if stride < 1 or not 0 <= start < end:
        raise ValueError(f"subsample_indices: need stride >= 1 and 0 <= start < end, got {start}, {end}, {stride}")
    idx = np.arange(start, end, stride)
    if idx[-1] != end - 1:
        idx = np.append(idx, end - 1)
    return idx


def answer_text(q: Question) -> str:
    """The target text of a question: the option letter, or the number with at most one decimal."""
    if not q.is_numerical:
        return str(q.ground_truth)
    return f"{round(float(q.ground_truth), 1):g}"


@dataclass
class VideoItem:
    """One episode's strided video and its questions (tensors on CPU)."""

    episode_id: str
    frames: torch.Tensor  # (T, 3, H, W) uint8
    depth: torch.Tensor  # (T, H, W) float32 metres
    intrinsics: torch.Tensor  # (T, 3, 3)
    cam_to_world: torch.Tensor  # (T, 4, 4)
    questions: list[Question]
    frame_indices: np.ndarray  # (T,) indices into the 4 fps video

    @property
    def geometry(self) -> dict[str, torch.Tensor]:
        return {"depth": self.depth, "intrinsics": self.intrinsics, "cam_to_world": self.cam_to_world}


@dataclass
class FeatureItem:
    """One episode's cached perception output (stage 3): H_t (T, N, D), entry centroids (T, k, 4)
    or None, and its questions (see :mod:`vlm2_agent.training.features`)."""

    episode_id: str
    fused: torch.Tensor
    coords: torch.Tensor | None
    questions: list[Question]
    frame_indices: np.ndarray


class EpisodeVideoDataset(Dataset):
    """Episodes of one split (one store folder) as :class:`VideoItem` s, sorted by episode id.

    Questions of an episode may cover different frame ranges; every stored build asks them about
    the whole episode, and a question whose range differs from the episode's raises (it would need
    its own video).
    """

    def __init__(self, root: str | Path, stride: int = 8, cache: bool = True, with_depth: bool = True):
        root = Path(root)
        self.store = EpisodeStore(root / "episodes" if (root / "episodes").is_dir() else root)
        self.episode_ids = self.store.episode_ids()
        if not self.episode_ids:
            raise EpisodeStoreError(f"{self.store.root}: no complete episodes (build the split with vlm2-eqa-build)")
        if stride < 1:
            raise ValueError(f"stride={stride}: expected a positive int (frames of the 4 fps video per kept frame)")
        self.stride, self.cache, self.with_depth = int(stride), cache, with_depth
        self._cache: dict[int, VideoItem] = {}

    def __len__(self) -> int:
        return len(self.episode_ids)

    def questions(self, i: int) -> list[Question]:
        return self.store.questions(self.episode_ids[i])

    def frame_indices(self, i: int, questions: Sequence[Question] | None = None) -> np.ndarray:
        """Indices of episode ``i``'s kept frames in its 4 fps video (no frame is read); ``questions``:
        the episode's, when the caller has read them already."""
        eid = self.episode_ids[i]
        questions = self.store.questions(eid) if questions is None else questions
        stored = self.store.rgb(eid).shape[0]
        ranges = {tuple(q.frame_range) for q in questions} or {(0, stored)}
        if len(ranges) != 1:
            raise EpisodeStoreError(f"{self.store.root / eid}: questions cover several frame ranges {sorted(ranges)}; "
                                    "expected one video per episode")
        start, end = ranges.pop()
        if end > stored:
            raise EpisodeStoreError(f"{self.store.root / eid}: frame_range end {end} > {stored} stored frames")
        return subsample_indices(start, end, self.stride)

    def __getitem__(self, i: int) -> VideoItem:
        if i in self._cache:
            return self._cache[i]
        item = self.load(i)
        if self.cache:
            self._cache[i] = item
        return item

    def load(self, i: int) -> VideoItem:
        """Episode ``i`` read from the store, never kept in the in-memory cache (one pass over a split)."""
        eid = self.episode_ids[i]
        questions = self.store.questions(eid)
        idx = self.frame_indices(i, questions)
        rgb = self.store.rgb(eid)
        log = self.store.log(eid)
        h, w = rgb.shape[1:3]
        frames = torch.from_numpy(np.ascontiguousarray(rgb[idx])).permute(0, 3, 1, 2).contiguous()
        depth = (torch.from_numpy(np.asarray(self.store.depth(eid)[idx], dtype=np.float32)) if self.with_depth
                 else torch.zeros(len(idx), h, w))
        k = torch.from_numpy(intrinsics(log.hfov_deg, w, h)).float().expand(len(idx), 3, 3).contiguous()
        c2w = torch.from_numpy(np.asarray(log.camera_to_world[idx], dtype=np.float32))
        return VideoItem(eid, frames, depth, k, c2w, questions, idx)


def collate(items: Sequence[VideoItem | FeatureItem], tokenizer, questions_per_video: int | None = None,
            rng: np.random.Generator | None = None) -> dict:
    """One model batch: videos (B, T, ...) stacked, questions of all videos concatenated with
    ``video_index`` (Q,) naming each one's video. With ``questions_per_video`` set, that many
    questions per video are drawn without replacement by ``rng`` (all of them when fewer).
    :class:`FeatureItem` s give ``features`` and ``coords`` in place of ``pixel_values`` and
    ``geometry``.

    Videos of one batch must have the same number of frames (the model streams them in lockstep);
    use one video per step (the default) or batch by horizon.
    """
    lengths = {len(it.frame_indices) for it in items}
    if len(lengths) != 1:
        raise ValueError(f"collate: videos have different frame counts {sorted(lengths)}; "
                         "use videos_per_step=1 or group videos by length")
    questions, video_index = [], []
    for v, it in enumerate(items):
        qs = it.questions
        if questions_per_video is not None and len(qs) > questions_per_video:
            pick = (rng or np.random.default_rng(0)).choice(len(qs), questions_per_video, replace=False)
            qs = [qs[j] for j in sorted(pick)]
        questions += qs
        video_index += [v] * len(qs)
    if not questions:
        raise ValueError(f"collate: episodes {[it.episode_id for it in items]} have no questions")
    batch = training_batch(tokenizer, [q.prompt() for q in questions], [answer_text(q) for q in questions])
    batch["video_index"] = torch.tensor(video_index)
    if isinstance(items[0], FeatureItem):
        batch["features"] = torch.stack([it.fused for it in items])
        if items[0].coords is not None:
            batch["coords"] = torch.stack([it.coords for it in items])
        return batch
    batch.update(
        pixel_values=torch.stack([it.frames for it in items]),
        geometry={k: torch.stack([it.geometry[k] for it in items]) for k in ("depth", "intrinsics", "cam_to_world")},
    )
    return batch


def tokenizer_texts(datasets: Sequence[EpisodeVideoDataset]) -> list[str]:
    """Prompts and answer texts of every question (the tokenizer's training corpus)."""
    texts = []
    for ds in datasets:
        for i in range(len(ds)):
            for q in ds.questions(i):
                texts += [q.prompt(), answer_text(q)]
    return texts


__all__ = ["EpisodeVideoDataset", "FeatureItem", "VideoItem", "answer_text", "collate",
           "subsample_indices", "tokenizer_texts"]
