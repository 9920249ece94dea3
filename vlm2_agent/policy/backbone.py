"""Build or load the VLM2 perception backbone for policies, and VLM2 geometry inputs from env data.

A backbone comes from a checkpoint folder written by ``VLM2Model.save_pretrained`` (``config.json``
+ safetensors), or is built from ``VLM2Config`` fields and a seed (same seed -> same weights).

Example:
    >>> model = build_backbone({"geometry_source": "none", "use_a3pi": False, "use_vaga": False}, seed=0)
    >>> model.config.hidden_size
    128
    >>> K = pinhole_intrinsics(90.0, 64, 64)
    >>> K[0].tolist()
    [[32.0, 0.0, 32.0], [0.0, 32.0, 32.0], [0.0, 0.0, 1.0]]
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from envs.render.camera import intrinsics

# Submodules of VLM2Model that per-frame encoding (encode_frames) never touches.
_LANGUAGE_PARTS = ("lm", "projector", "segment_embed")


def check_backbone_checkpoint(checkpoint: str | Path) -> Path:
    """``checkpoint`` as a Path; ``FileNotFoundError`` naming it unless it is a folder with config.json."""
    path = Path(checkpoint)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"VLM2 checkpoint {str(path)!r}: expected a folder with config.json "
                                "and model weights (VLM2Model.save_pretrained)")
    return path


def build_backbone(config: Mapping[str, Any] | None = None, checkpoint: str | Path | None = None,
                   seed: int = 0):
    """A ``VLM2Model`` in eval mode: loaded from ``checkpoint`` if given, else built from ``config``
    (``VLM2Config`` fields) with weights drawn from ``seed``.

    Raises ``FileNotFoundError`` naming the path when the checkpoint folder has no ``config.json``.
    """
    from vlm2_agent.model import VLM2Config, VLM2Model

    if checkpoint is not None:
        path = check_backbone_checkpoint(checkpoint)
        model = VLM2Model.from_pretrained(path)
        if config:
            # Memory settings may be switched on a trained model (e.g. ablations): they add no weights
            # for "none"/"working", so only keys that keep the state dict compatible are accepted.
            allowed = {"memory_mode", "working_memory_size", "episodic_memory_size", "uniform_frames"}
            bad = sorted(k for k in set(config) - allowed if getattr(model.config, k, None) != config[k])
            if bad:
                raise ValueError(f"build_backbone: checkpoint {str(path)!r} has {[(k, getattr(model.config, k, None)) for k in bad]}; "
                                 f"with a checkpoint only {sorted(allowed)} may differ, got {[(k, config[k]) for k in bad]}")
            for k, v in config.items():
                setattr(model.config, k, v)
            if "memory_mode" in config:
                model = _rebuild_memory(model)
        return model.eval()
    kwargs = dict(config or {})
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        model = VLM2Model(VLM2Config(**kwargs))
    return model.eval()


def memory_module(model, mode: str | None = None):
    """A new ``MemoryModule`` of ``mode`` (default: the model's) for ``model``, keeping the model's
    memory read weights where the shapes match (a "working" read of a "dual" model, say)."""
    from vlm2_agent.model.memory import MemoryModule

    c = model.config
    mem = MemoryModule(c.hidden_size, c.num_heads, mode or c.memory_mode, c.grid_size, c.entry_grid,
                       c.working_memory_size, c.episodic_memory_size, c.uniform_frames)
    old, new = model.memory.state_dict(), mem.state_dict()
    mem.load_state_dict({k: v for k, v in old.items() if k in new and new[k].shape == v.shape}, strict=False)
    return mem.to(next(model.parameters()).device).eval()


def _rebuild_memory(model):
    """Replace the memory module after a memory_mode switch, keeping its read weights where shapes match."""
    model.memory = memory_module(model)
    return model


def strip_language(model):
    """Drop the LM and its projector in place (perception only); returns the model."""
    for name in _LANGUAGE_PARTS:
        if hasattr(model, name):
            setattr(model, name, None)
    return model


def pinhole_intrinsics(hfov_deg: float, width: int, height: int, batch: int = 1) -> torch.Tensor:
    """(batch, 3, 3) float32 copies of the renderer's :func:`envs.render.camera.intrinsics`."""
    return torch.from_numpy(intrinsics(hfov_deg, width, height)).float().expand(batch, 3, 3).clone()


def find_checkpoint(root: str | Path = "checkpoints") -> Path | None:
    """The newest folder under ``root`` holding a VLM2 ``config.json`` (model_type vlm2), or None."""
    import json

    root = Path(root)
    if not root.is_dir():
        return None
    found = []
    for cfg in root.rglob("config.json"):
        try:
            if json.loads(cfg.read_text()).get("model_type") == "vlm2":
                found.append(cfg.parent)
        except (OSError, ValueError):
            continue
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


__all__ = ["build_backbone", "memory_module", "strip_language", "pinhole_intrinsics", "find_checkpoint"]
