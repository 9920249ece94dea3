"""Stage 2 of VLM2 training: the frozen perception's H_t of every strided frame, cached on disk.

Memory and language-model training (stage 3) then reads features instead of running the vision
tower at every step. A cache belongs to one split, one stride and one perception: its key is a
hash of the perception's weights and settings (geometry source included), so a cache built for
another perception is never read. Layout of ``<root>/<key>/``::

    meta.json     key, perception settings, stride, shapes, {episode id: [offset, frames]}
    fused.npy     (F, N, D) float32  H_t of every kept frame of every episode, episode after episode
    coords.npy    (F, k, 4) float32  memory-entry centroids [x, y, z, w] (only with geometry)

Arrays are opened memory-mapped (``np.load(mmap_mode="r")``); a cache is written to a temporary
folder and renamed when complete, so a half-written cache is never read. Each episode is encoded
exactly as :meth:`~vlm2_agent.model.VLM2Model.encode_for_memory` encodes its video in one call, so
the cached features are bit-identical to a direct forward pass on the same machine and threads.

Example:
    >>> from vlm2_agent.model import VLM2Config, VLM2Model
    >>> model = VLM2Model(VLM2Config(geometry_source="none", use_a3pi=False, use_vaga=False))
    >>> len(perception_key(model, stride=8))
    16
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from .data import EpisodeVideoDataset, FeatureItem

PERCEPTION_MODULES = ("vision", "vision_proj", "geometry", "a3pi", "vaga", "fusion")
ENCODER_SETTINGS = ("geometry_source", "geometry_frame", "coord_scale", "use_a3pi", "use_vaga", "fusion")  # shape H_t
PERCEPTION_SETTINGS = (*ENCODER_SETTINGS, "entry_grid")  # and the cached entry centroids


def vision_architecture(config) -> dict:
    """The vision tower's settings that shape its output (its config without dtype or provenance)."""
    skip = {"dtype", "torch_dtype", "transformers_version", "_name_or_path", "architectures"}
    return {k: v for k, v in config.vision_config.to_dict().items() if k not in skip}


def perception_state(model) -> dict[str, torch.Tensor]:
    """The weights of the modules that make H_t (``encode_frames``), by name."""
    return {n: t for n, t in model.state_dict().items() if n.split(".", 1)[0] in PERCEPTION_MODULES}


def perception_key(model, stride: int) -> str:
    """16 hex digits naming the perception (weights and settings) and the stride."""
    h = hashlib.sha256()
    settings = {k: getattr(model.config, k) for k in PERCEPTION_SETTINGS}
    settings.update(stride=stride, vision=vision_architecture(model.config))
    h.update(json.dumps(settings, sort_keys=True, default=str).encode())
    for name, t in sorted(perception_state(model).items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


@dataclass
class FeatureCache:
    """A built cache: ``fused`` (F, N, D) and ``coords`` (F, k, 4) or None, memory-mapped."""

    root: Path
    meta: dict
    fused: np.ndarray
    coords: np.ndarray | None

    @classmethod
    def open(cls, root: str | Path) -> "FeatureCache":
        root = Path(root)
        meta_path = root / "meta.json"
        if not meta_path.is_file():
            raise FileNotFoundError(f"{meta_path}: no feature cache here; build it with build_feature_cache")
        meta = json.loads(meta_path.read_text())
        coords = np.load(root / "coords.npy", mmap_mode="r") if meta["has_coords"] else None
        return cls(root, meta, np.load(root / "fused.npy", mmap_mode="r"), coords)

    def episode(self, episode_id: str) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(fused (T, N, D), coords (T, k, 4) or None) of one episode, copied out of the map."""
        if episode_id not in self.meta["episodes"]:
            raise KeyError(f"{self.root}: episode {episode_id!r} is not in this feature cache")
        start, count = self.meta["episodes"][episode_id]
        fused = torch.from_numpy(np.array(self.fused[start:start + count]))
        coords = None if self.coords is None else torch.from_numpy(np.array(self.coords[start:start + count]))
        return fused, coords


@torch.no_grad()
def encode_episode(model, frames: torch.Tensor, geometry: dict[str, torch.Tensor] | None):
    """H_t (T, N, D) and entry centroids (T, k, 4) or None of one video (T, 3, H, W), as one
    ``encode_for_memory`` call on a fresh memory encodes it."""
    device = model.vision_proj.weight.device
    state = model.init_memory(1)
    geo = None if geometry is None else {k: v[None].to(device) for k, v in geometry.items()}
    fused, coords = model.encode_for_memory(state, frames[None].to(device), geo)
    return fused[0].float().cpu(), None if coords is None else coords[0].float().cpu()


def build_feature_cache(model, dataset: EpisodeVideoDataset, cache_root: str | Path, progress: bool = True) -> FeatureCache:
    """The cache of ``dataset``'s episodes under ``cache_root/<perception key>``; built when missing,
    opened when there. The model is put in eval mode."""
    from tqdm.auto import tqdm

    model.eval()
    key = perception_key(model, dataset.stride)
    root = Path(cache_root) / key
    if (root / "meta.json").is_file():
        cache = FeatureCache.open(root)
        missing = set(dataset.episode_ids) - set(cache.meta["episodes"])
        if not missing:
            return cache
        raise ValueError(f"{root}: feature cache lacks {len(missing)} episodes of {dataset.store.root} "
                         f"(e.g. {sorted(missing)[0]}); remove the folder to rebuild it")
    t0 = time.perf_counter()
    geometry = model.config.geometry_source == "oracle"
    counts = [len(dataset.frame_indices(i)) for i in range(len(dataset))]
    n, d, k = model.config.num_patches, model.config.hidden_size, model.config.entry_tokens
    tmp = root.with_name(f".{key}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    fused = np.lib.format.open_memmap(tmp / "fused.npy", "w+", np.float32, (sum(counts), n, d))
    has_coords = model.geometry is not None
    coords = np.lib.format.open_memmap(tmp / "coords.npy", "w+", np.float32, (sum(counts), k, 4)) if has_coords else None
    episodes, offset = {}, 0
    for i in tqdm(range(len(dataset)), desc=f"features {Path(dataset.store.root).parent.name}", disable=not progress):
        item = dataset.load(i)
        f, c = encode_episode(model, item.frames, item.geometry if geometry else None)
        fused[offset:offset + len(f)] = f.numpy()
        if coords is not None:
            coords[offset:offset + len(f)] = c.numpy()
        episodes[item.episode_id] = [offset, len(f)]
        offset += len(f)
    fused.flush()
    if coords is not None:
        coords.flush()
    meta = {"key": key, "stride": dataset.stride, "tokens": int(n), "dim": int(d), "entry_tokens": k,
            "has_coords": has_coords, "settings": {s: getattr(model.config, s) for s in PERCEPTION_SETTINGS},
            "source": str(dataset.store.root), "build_seconds": round(time.perf_counter() - t0, 1),
            "episodes": episodes}
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    del fused, coords
    os.replace(tmp, root)
    return FeatureCache.open(root)


class EpisodeFeatureDataset(Dataset):
    """The episodes of an :class:`EpisodeVideoDataset` as :class:`FeatureItem` s read from a cache
    (same order, same questions; the frames are never decoded)."""

    def __init__(self, videos: EpisodeVideoDataset, cache: FeatureCache):
        self.videos, self.cache = videos, cache
        self.episode_ids, self.store, self.stride = videos.episode_ids, videos.store, videos.stride
        self._items: dict[int, FeatureItem] = {}

    def __len__(self) -> int:
        return len(self.videos)

    def questions(self, i: int):
        return self.videos.questions(i)

    def __getitem__(self, i: int) -> FeatureItem:
        if i not in self._items:
            eid = self.episode_ids[i]
            fused, coords = self.cache.episode(eid)
            questions = self.videos.questions(i)
            frames = self.videos.frame_indices(i, questions)
            if len(frames) != len(fused):
                raise ValueError(f"{self.cache.root}: {eid} has {len(fused)} cached frames, its questions need "
                                 f"{len(frames)} at stride {self.stride}; remove the cache to rebuild it")
            self._items[i] = FeatureItem(eid, fused, coords, questions, frames)
        return self._items[i]


__all__ = ["EpisodeFeatureDataset", "FeatureCache", "build_feature_cache", "encode_episode", "perception_key",
           "perception_state", "vision_architecture"]
