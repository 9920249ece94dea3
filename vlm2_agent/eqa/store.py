"""The episode store: recorded exploration videos as memory-mappable ``.npy`` files plus their logs.

Layout of a store folder (one per split, e.g. ``data/eqa/test/episodes``)::

    <episode_id>/rgb.npy          (T, H, W, 3) uint8
    <episode_id>/depth.npy        (T, H, W) float16 (metric z-depth, metres)
    <episode_id>/arrays.npz       EpisodeLog poses      } EpisodeLog.load
    <episode_id>/episode.json     EpisodeLog metadata   }
    <episode_id>/candidates.jsonl the candidate questions the generators asked about this episode
    <episode_id>/questions.jsonl  the benchmark's questions of this episode, chosen from the candidates
                                  by the split's balanced selection and bias pruning (vlm2-eqa-build)
    .tmp-<episode_id>/            an episode being written (renamed to <episode_id>/ when complete)

An episode folder exists under its final name only once every file is written, so a folder with
that name is complete by construction; a left-over ``.tmp-*`` folder is an interrupted write and is
redone. Frames are plain ``.npy`` so ``np.load(path, mmap_mode="r")`` reads any frame without
loading the video.

Example:
    >>> import tempfile, numpy as np
    >>> from envs.episode_log import EpisodeLog
    >>> store = EpisodeStore(tempfile.mkdtemp())
    >>> log = EpisodeLog(scene_id="s", episode_id="e0", camera_to_world=np.repeat(np.eye(4)[None], 2, 0),
    ...                  positions=np.zeros((2, 3)), headings=np.zeros(2), visible=[{}, {}],
    ...                  image_size=(8, 8), hfov_deg=90.0)
    >>> with store.writer("e0", num_frames=2, image_size=(8, 8)) as w:
    ...     w.write(0, np.zeros((8, 8, 3), np.uint8), np.ones((8, 8), np.float32))
    ...     w.write(1, np.full((8, 8, 3), 9, np.uint8), np.ones((8, 8), np.float32))
    ...     _ = w.finish(log, questions=[])
    >>> store.write_questions("e0", [])
    >>> store.episode_ids(), store.rgb("e0").shape, int(store.rgb("e0")[1, 0, 0, 0]), store.questions("e0")
    (['e0'], (2, 8, 8, 3), 9, [])
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Iterable

import numpy as np

from envs.episode_log import EpisodeLog

from .question import Question, load_jsonl, save_jsonl

TMP_PREFIX = ".tmp-"
FILES = ("rgb.npy", "depth.npy", "arrays.npz", "episode.json", "candidates.jsonl")
QUESTIONS = "questions.jsonl"


class EpisodeStoreError(ValueError):
    """A missing or malformed episode in a store; the message names the path."""


class EpisodeStore:
    """Read and write recorded episodes under ``root`` (see the module docstring for the layout)."""

    FILES = FILES

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def episode_dir(self, episode_id: str) -> Path:
        if not episode_id or "/" in episode_id or episode_id.startswith("."):
            raise ValueError(f"episode_id {episode_id!r}: expected a non-empty name without '/' or a leading '.'")
        return self.root / episode_id

    def has(self, episode_id: str) -> bool:
        """True when the episode is complete on disk."""
        d = self.episode_dir(episode_id)
        return all((d / f).is_file() for f in FILES)

    def episode_ids(self) -> list[str]:
        """Complete episodes, sorted by id."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir()
                      if p.is_dir() and not p.name.startswith(".") and self.has(p.name))

    def _need(self, episode_id: str) -> Path:
        d = self.episode_dir(episode_id)
        if not self.has(episode_id):
            missing = [f for f in FILES if not (d / f).is_file()]
            raise EpisodeStoreError(f"{d}: episode {episode_id!r} is not complete in the store (missing {missing})")
        return d

    def rgb(self, episode_id: str, mmap: bool = True) -> np.ndarray:
        """(T, H, W, 3) uint8 frames, memory-mapped read-only by default."""
        return np.load(self._need(episode_id) / "rgb.npy", mmap_mode="r" if mmap else None)

    def depth(self, episode_id: str, mmap: bool = True) -> np.ndarray:
        """(T, H, W) float16 metric depth, memory-mapped read-only by default."""
        return np.load(self._need(episode_id) / "depth.npy", mmap_mode="r" if mmap else None)

    def log(self, episode_id: str) -> EpisodeLog:
        return EpisodeLog.load(self._need(episode_id))

    def candidates(self, episode_id: str) -> list[Question]:
        """Every candidate question generated for the episode (before selection)."""
        return load_jsonl(self._need(episode_id) / "candidates.jsonl")

    def questions(self, episode_id: str) -> list[Question]:
        """The benchmark's questions of the episode (written by :meth:`write_questions`)."""
        path = self._need(episode_id) / QUESTIONS
        if not path.is_file():
            raise EpisodeStoreError(f"{path}: missing; the episode is recorded but its split's question selection "
                                    "has not run (finish the build with vlm2-eqa-build)")
        return load_jsonl(path)

    def replace_candidates(self, episode_id: str, log: EpisodeLog, questions: Iterable[Question]) -> None:
        """Replace a recorded episode's log metadata and candidates (asked again); its selected
        questions are dropped until the split's selection runs again."""
        d = self._need(episode_id)
        (d / QUESTIONS).unlink(missing_ok=True)
        save_jsonl(questions, d / "candidates.jsonl")
        log.save(d)  # last: its question key marks the candidates as current

    def write_questions(self, episode_id: str, questions: Iterable[Question]) -> None:
        """Write the episode's selected questions (atomically)."""
        save_jsonl(questions, self._need(episode_id) / QUESTIONS)

    def meta(self, episode_id: str) -> dict:
        """The ``meta`` of the episode's log without loading its arrays."""
        doc = json.loads((self._need(episode_id) / "episode.json").read_text())
        return dict(doc.get("meta", {}))

    def remove(self, episode_id: str) -> None:
        shutil.rmtree(self.episode_dir(episode_id), ignore_errors=True)

    def writer(self, episode_id: str, num_frames: int, image_size: tuple[int, int],
               depth_dtype: str = "float16") -> "EpisodeWriter":
        return EpisodeWriter(self, episode_id, num_frames, image_size, depth_dtype)


class EpisodeWriter:
    """Writes one episode into ``.tmp-<id>/`` frame by frame (memory-mapped, so memory stays flat)
    and renames it to ``<id>/`` in :meth:`finish`. Used as a context manager: leaving the block
    without ``finish`` (an exception) deletes the temporary folder."""

    def __init__(self, store: EpisodeStore, episode_id: str, num_frames: int, image_size: tuple[int, int],
                 depth_dtype: str = "float16"):
        if num_frames < 1:
            raise ValueError(f"episode {episode_id}: num_frames must be >= 1, got {num_frames}")
        if np.dtype(depth_dtype) not in (np.float16, np.float32):
            raise ValueError(f"depth_dtype: expected 'float16' or 'float32', got {depth_dtype!r}")
        self.store, self.episode_id, self.num_frames = store, episode_id, int(num_frames)
        self.final = store.episode_dir(episode_id)
        self.tmp = store.root / f"{TMP_PREFIX}{episode_id}"
        H, W = int(image_size[0]), int(image_size[1])
        # an earlier run died mid-episode: its partial files are worthless
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.mkdir(parents=True)
        fmt = np.lib.format
        self._rgb = fmt.open_memmap(self.tmp / "rgb.npy", mode="w+", dtype=np.uint8, shape=(self.num_frames, H, W, 3))
        self._depth = fmt.open_memmap(self.tmp / "depth.npy", mode="w+", dtype=np.dtype(depth_dtype),
                                      shape=(self.num_frames, H, W))
        self._written = np.zeros(self.num_frames, bool)
        self.done = False

    def write(self, t: int, rgb: np.ndarray, depth: np.ndarray) -> None:
        self._rgb[t] = np.asarray(rgb)[..., :3]
        self._depth[t] = np.asarray(depth).reshape(self._depth.shape[1:])
        self._written[t] = True

    def finish(self, log: EpisodeLog, questions: Iterable[Question]) -> Path:
        """Close the episode with its log and candidate questions; rename it into place."""
        if not self._written.all():
            raise EpisodeStoreError(f"{self.tmp}: frames {np.flatnonzero(~self._written)[:5].tolist()} were never written")
        if log.num_frames != self.num_frames:
            raise EpisodeStoreError(f"episode {self.episode_id}: log has {log.num_frames} frames, video {self.num_frames}")
        self._rgb.flush()
        self._depth.flush()
        del self._rgb, self._depth
        log.save(self.tmp)
        save_jsonl(questions, self.tmp / "candidates.jsonl")
        if self.final.exists():  # a stale or differently configured copy being rebuilt
            shutil.rmtree(self.final)
        os.replace(self.tmp, self.final)
        self.done = True
        return self.final

    def __enter__(self) -> "EpisodeWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if not self.done:
            shutil.rmtree(self.tmp, ignore_errors=True)


__all__ = ["EpisodeStore", "EpisodeStoreError", "EpisodeWriter"]
