"""The ``memory`` config group: which memory VLM2 reads and its sizes, as a typed dataclass.

The defaults are VLM2's (the paper's best: L_w = 8, L_e = 32) and ``VLM2Config`` takes its memory
defaults from here. A preset in ``configs/memory/`` states only what differs (Hydra composes it over
this schema, registered by ``configs/__init__.py``).

Example:
    >>> MemoryConfig(name="working", memory_mode="working").episodic_memory_size
    32
    >>> MemoryConfig(memory_mode="lstm")
    Traceback (most recent call last):
    ...
    ValueError: memory.memory_mode='lstm': expected one of ['dual', 'working', 'episodic', 'none', 'full_context', 'uniform']
"""

from __future__ import annotations

from dataclasses import dataclass

MEMORY_MODES = ("dual", "working", "episodic", "none", "full_context", "uniform")


@dataclass
class MemoryConfig:
    """Attributes:
    name: the preset's name (runs are named after it).
    memory_mode: ``dual`` (VLM2: working + episodic), ``working`` (FIFO of the last L_w frames),
        ``episodic`` (Algorithm 1 replacement), ``none`` (current frame only), ``full_context``
        (every frame so far; cost grows), ``uniform`` (frames spread evenly over the video so far).
    working_memory_size: L_w entries. episodic_memory_size: L_e entries.
    uniform_frames: entries of ``uniform`` (even: the buffer halves when full).
    entry_grid: a memory entry is a frame's token grid average-pooled to entry_grid x entry_grid.
    """

    name: str = "dual"
    memory_mode: str = "dual"
    working_memory_size: int = 8
    episodic_memory_size: int = 32
    uniform_frames: int = 32
    entry_grid: int = 2

    def __post_init__(self):
        if self.memory_mode not in MEMORY_MODES:
            raise ValueError(f"memory.memory_mode={self.memory_mode!r}: expected one of {list(MEMORY_MODES)}")
        for name in ("working_memory_size", "episodic_memory_size", "uniform_frames", "entry_grid"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"memory.{name}={v!r}: expected a positive int")
        if self.uniform_frames % 2:
            raise ValueError(f"memory.uniform_frames={self.uniform_frames}: expected an even number (the buffer halves)")


__all__ = ["MEMORY_MODES", "MemoryConfig"]
