"""Training checkpoints that resume exactly: model, optimiser, scheduler, step and every RNG state.

The data position is the step count itself: the episode order of epoch ``e`` is a pure function of
``(seed, e)`` (``DistributedSampler.set_epoch``) and the questions drawn at step ``s`` of
``(seed, rank, s)``, so a resumed run feeds exactly the batches the uninterrupted run would have.

Example:
    >>> import tempfile, torch
    >>> m = torch.nn.Linear(2, 2); opt = torch.optim.AdamW(m.parameters())
    >>> sch = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    >>> p = save_checkpoint(tempfile.mkdtemp() + "/last.pt", m, opt, sch, step=3)
    >>> load_checkpoint(p, m, opt, sch)
    3
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vlm2_base.io import atomic_open


def rng_states() -> dict:
    """Every RNG state as tensors and plain values, so the checkpoint loads with ``weights_only=True``."""
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    states = {"torch": torch.get_rng_state(), "python": random.getstate(),
              "numpy": {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                        "has_gauss": int(has_gauss), "gauss": float(gauss)}}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict) -> None:
    torch.set_rng_state(states["torch"])
    n = states["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    random.setstate(states["python"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return model.module if hasattr(model, "module") else model


def state_digest(doc: Any) -> str:
    """sha256 over every value of a checkpoint document (tensors by their bytes, dtype and shape):
    neither ``torch.load`` nor the zip it reads checks the data, so a flipped bit would otherwise
    resume silently with other weights."""
    h = hashlib.sha256()

    def feed(value: Any, key: str) -> None:
        h.update(key.encode())
        if isinstance(value, torch.Tensor):
            t = value.detach().cpu().contiguous()
            h.update(f"{t.dtype}{tuple(t.shape)}".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
        elif isinstance(value, dict):
            for k in sorted(value, key=str):
                feed(value[k], f"{key}.{k}")
        elif isinstance(value, (list, tuple)):
            for i, v in enumerate(value):
                feed(v, f"{key}[{i}]")
        else:
            h.update(repr(value).encode())

    feed({k: v for k, v in doc.items() if k != "digest"}, "")
    return h.hexdigest()


def save_checkpoint(path: str | Path, model: torch.nn.Module, optimizer, scheduler, step: int,
                    extra: dict | None = None) -> Path:
    """Write the checkpoint atomically (temp file, then ``os.replace``), with its :func:`state_digest`."""
    doc = {"model": _unwrap(model).state_dict(), "optimizer": optimizer.state_dict(),
           "scheduler": scheduler.state_dict(), "step": int(step), "rng": rng_states(), "extra": dict(extra or {})}
    doc["digest"] = state_digest(doc)
    with atomic_open(path) as f:
        torch.save(doc, f)
    return Path(path)


def load_checkpoint(path: str | Path, model: torch.nn.Module, optimizer, scheduler,
                    map_location: str | torch.device = "cpu") -> int:
    """Restore everything saved by :func:`save_checkpoint`; returns the step to continue from."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        doc = torch.load(path, map_location=map_location, weights_only=True)  # tensors and plain values only
    except Exception as e:  # truncated zip, foreign pickle (refused by weights_only), not a torch file
        raise ValueError(f"checkpoint {path}: cannot be read ({type(e).__name__}: {str(e)[:200]}); set "
                         "train.resume=false to start anew (it is overwritten)") from None
    missing = {"model", "optimizer", "scheduler", "step", "rng"} - set(doc if isinstance(doc, dict) else ())
    if missing:
        raise ValueError(f"checkpoint {path}: missing keys {sorted(missing)}; not written by save_checkpoint?")
    if "digest" in doc and doc["digest"] != state_digest(doc):  # checkpoints written before the digest have none
        raise ValueError(f"checkpoint {path}: its contents do not match the digest written with them (the file is "
                         "corrupt); set train.resume=false to start anew (it is overwritten)")
    try:
        _unwrap(model).load_state_dict(doc["model"])
        optimizer.load_state_dict(doc["optimizer"])
        scheduler.load_state_dict(doc["scheduler"])
        set_rng_states(doc["rng"])
        return int(doc["step"])
    except Exception as e:  # a state of the wrong shape or kind: torch, numpy and random raise many types
        raise ValueError(f"checkpoint {path}: does not fit this run ({type(e).__name__}: {str(e)[:200]})") from None


__all__ = ["load_checkpoint", "rng_states", "save_checkpoint", "set_rng_states"]
