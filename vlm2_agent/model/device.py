"""Device selection and mixed precision: bf16 autocast on CUDA only, full fp32 on CPU.

Example:
    >>> select_device("cpu").type
    'cpu'
    >>> with autocast_context(torch.device("cpu")):
    ...     pass
"""

from __future__ import annotations

import contextlib

import torch


def select_device(prefer: str | torch.device | None = None) -> torch.device:
    """`prefer` if given, else `cuda` when available, else `cpu`."""
    if prefer is not None:
        return torch.device(prefer)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def autocast_context(device: torch.device | str) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA; a no-op elsewhere (CPU bf16 is slower here and changes results)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


__all__ = ["select_device", "autocast_context"]
