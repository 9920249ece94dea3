"""vlm2_base.io: atomic writes keep the old file on failure and give new files normal permissions."""

from __future__ import annotations

import os

import pytest

from vlm2_base.io import atomic_open, atomic_path, atomic_write, write_json


def test_new_files_get_the_umask_permissions_not_0600(tmp_path):
    old = os.umask(0o022)
    try:
        for path in (atomic_write(tmp_path / "a.txt", "x"), write_json(tmp_path / "b.json", [1])):
            assert (path.stat().st_mode & 0o777) == 0o644, oct(path.stat().st_mode)
    finally:
        os.umask(old)


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = atomic_write(tmp_path / "d" / "table.json", "old")
    with pytest.raises(RuntimeError), atomic_open(path) as f:
        f.write(b"half")
        raise RuntimeError("disk full")
    with pytest.raises(RuntimeError), atomic_path(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert path.read_text() == "old"
    assert sorted(p.name for p in path.parent.iterdir()) == ["table.json"]
