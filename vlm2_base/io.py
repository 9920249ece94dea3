"""Atomic file writes and stable JSON: a reader sees the old file or the new one, never half of one.

A temporary file next to the target is written and then renamed over it (``os.replace``); it is
created like any new file (mode ``0o666`` less the umask, so datasets and reports come out
readable by the group like the rest of the tree), and removed if the write fails.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> path = Path(tempfile.mkdtemp()) / "out" / "table.json"
    >>> _ = write_json(path, {"b": 1, "a": [1, 2]})
    >>> path.read_text()
    '{\\n "b": 1,\\n "a": [\\n  1,\\n  2\\n ]\\n}\\n'
    >>> with atomic_open(path.with_name("log.txt")) as f:
    ...     _ = f.write(b"done")
    >>> sorted(p.name for p in path.parent.iterdir())
    ['log.txt', 'table.json']
"""

from __future__ import annotations

import io
import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path`` for a library that writes by file name; it becomes ``path``
    when the block ends without an error and is removed otherwise. Parent folders are created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_open(path: str | Path) -> Iterator[BinaryIO]:
    """A binary file to write; it replaces ``path`` when the block ends without an error."""
    with atomic_path(path) as tmp, open(tmp, "xb") as f:
        yield f


def atomic_write(path: str | Path, data: bytes | str) -> Path:
    """Write ``data`` (text is UTF-8 encoded) to ``path`` atomically; returns ``path``."""
    with atomic_open(path) as f:
        f.write(data.encode() if isinstance(data, str) else data)
    return Path(path)


def write_video(frames, path: str | Path, fps: float = 4.0, quality: int = 7, macro_block_size: int = 16,
                ffmpeg_log_level: str = "warning") -> Path:
    """An H.264 mp4 (imageio-ffmpeg) of (H, W, 3) uint8 ``frames``, written atomically; returns ``path``.
    ``macro_block_size`` > 1 lets ffmpeg resize frames to a multiple of it (1: never)."""
    import imageio.v2 as imageio
    import numpy as np

    with atomic_path(path) as tmp, imageio.get_writer(tmp, format="FFMPEG", fps=fps, codec="libx264", quality=quality,
                                                      macro_block_size=macro_block_size,
                                                      ffmpeg_log_level=ffmpeg_log_level) as w:
        for frame in frames:
            w.append_data(np.asarray(frame, np.uint8))
    return Path(path)


def json_text(obj: Any) -> str:
    """Stable JSON text (keys in the order given, 1-space indent, UTF-8 kept, trailing newline)."""
    return json.dumps(obj, indent=1, ensure_ascii=False) + "\n"


def write_json(path: str | Path, obj: Any) -> Path:
    """:func:`json_text` of ``obj`` written atomically to ``path``."""
    return atomic_write(path, json_text(obj))


def atomic_savefig(fig, path: str | Path, close: bool = True, **savefig_kwargs) -> Path:
    """Save a matplotlib figure as PNG to ``path`` atomically (rendered in memory first).

    PNG metadata is left out unless given, so the bytes depend only on the figure.
    """
    buf = io.BytesIO()
    savefig_kwargs.setdefault("metadata", {"Software": None})
    try:
        fig.savefig(buf, format="png", **savefig_kwargs)
    finally:
        if close:
            import matplotlib.pyplot as plt

            plt.close(fig)
    return atomic_write(path, buf.getvalue())


_HELD_LOCKS: set[str] = set()  # lock files this process holds (re-entry yields without locking again)


class FolderLockedError(ValueError):
    """Another process holds the folder's write lock (see :func:`folder_lock`)."""


@contextmanager
def folder_lock(folder: str | Path, what: str = "output") -> Iterator[Path]:
    """Hold ``<folder>/.lock`` (an exclusive ``flock``) for the block, so that two processes never
    write the same folder at once; a second writer fails at once with :class:`FolderLockedError`
    naming the folder and the holder's pid. The kernel drops the lock when its holder exits, so a
    killed run leaves no stale lock.

    Example:
        >>> import tempfile
        >>> d = tempfile.mkdtemp()
        >>> with folder_lock(d):
        ...     pass
    """
    import fcntl

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ".lock"
    key = str(path.resolve())
    if key in _HELD_LOCKS:  # re-entered by the holder (a build that writes scenes under its own lock)
        yield path
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise FolderLockedError(
                f"{folder}: another process (pid {holder}) is writing this {what} folder; wait for it to "
                f"finish or choose another folder (lock file {path})") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        _HELD_LOCKS.add(key)
        try:
            yield path
        finally:
            _HELD_LOCKS.discard(key)
            os.ftruncate(fd, 0)  # a finished folder's bytes do not depend on who wrote it
    finally:
        os.close(fd)  # closing the descriptor releases the lock


__all__ = ["FolderLockedError", "atomic_open", "atomic_path", "atomic_savefig", "atomic_write", "folder_lock",
           "json_text", "write_json", "write_video"]
