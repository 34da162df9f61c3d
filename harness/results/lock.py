"""One writer per results folder: an advisory lock held while `harness run` (or `harness train`) writes.

    with out_lock("results/minordpo-arith", "harness run suites/minordpo-arith.yaml"):
        ...                              # a second process on the same folder exits 2, naming this one

Why: two processes on one folder would both train and evaluate every run and write into the
same checkpoint directories; the tables could mix one process's `runs` rows with the other's
`steps`. The lock is `fcntl.flock` on OUT/.harness.lock, which the kernel releases when its holder
dies, however it dies (SIGKILL included): a lock left by a killed process is stale by
construction and the next run takes it over, saying whose it was. The file holds the holder's
pid, host, command and start time, so the refusal can name it.

Limits: flock is per host on most network filesystems; a folder shared by several machines (a Ray
cluster) needs per-run locks instead (the distributed executor's job, not this one's).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from harness.errors import HarnessError

LOCK_FILE = ".harness.lock"


def _holder(path: Path) -> dict:
    try:
        return json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return {}


@contextlib.contextmanager
def out_lock(out: str | Path, command: str, log=print) -> Iterator[None]:
    import fcntl

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            h = _holder(path)
            raise HarnessError(f"{out}: in use by another harness process (pid {h.get('pid', '?')} on "
                               f"{h.get('host', '?')}, `{h.get('command', '?')}`, since {h.get('since', '?')}); "
                               "wait for it to finish or stop it, then run again") from None
        old = _holder(path)
        if old.get("pid") and old.get("pid") != os.getpid():
            log(f"note: {path}: taking over the lock of pid {old['pid']} on {old.get('host', '?')} "
                "(no longer running)")
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "command": command,
                                 "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")}).encode())
        os.fsync(fd)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)  # a clean exit leaves no holder behind
    finally:
        os.close(fd)  # releases the flock


def check_out(out: str | Path) -> None:
    """--out must be a folder this process can write, before any work: named, exit 2."""
    out = Path(out)
    for p in [out, *out.parents]:  # mkdir would fail on a dangling link with FileExistsError
        if p.is_symlink() and not p.exists():
            raise HarnessError(f"--out {out}: {p} is a symbolic link to {os.readlink(p)}, which does not exist; "
                               "create that folder or name another --out")
    if out.exists() and not out.is_dir():
        raise HarnessError(f"--out {out}: is a file, not a results folder")
    probe = out if out.exists() else next((p for p in out.parents if p.exists()), Path("."))
    if not probe.is_dir():
        raise HarnessError(f"--out {out}: {probe} is a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise HarnessError(f"--out {out}: {probe} is not writable")
