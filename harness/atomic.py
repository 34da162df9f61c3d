"""Atomic, durable file writes that honour the umask: the one way results, baselines and caches land.

    write_atomic(path, lambda tmp: pq.write_table(table, tmp))      # a reader sees the old file or the new one
    write_text_atomic(path, "...")

How: write a temporary file in the target's own folder (same filesystem, so the rename is atomic),
fsync it, give it the permissions a plain `open()` would have (mkstemp makes files 0600, which
hides results from the other users and CI readers of a shared cluster filesystem), rename it over
the target, then fsync the folder so the rename itself survives a power cut. A failure leaves the
old file and no temporary behind.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode `open(path, "w")` would give a new file: 0o666 minus the umask (read at each call:
    a process may change its umask)."""
    return 0o666 & ~_umask()


def fsync_dir(folder: str | Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # a filesystem that cannot open folders: nothing more to do
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomic(path: str | Path, write: Callable[[str], None]) -> Path:
    """Create or replace `path` with what `write(tmp_path)` writes, atomically and durably."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def write_text_atomic(path: str | Path, text: str) -> Path:
    return write_atomic(path, lambda tmp: Path(tmp).write_text(text))
