"""Torch's intra-op threads, set in one place.

    with torch_threads(1):        # a tiny-model run, an evaluation, a reward model: restored afterwards
        ...
    set_threads(2)                # a benchmark worker process: for the rest of the process
    physical_cores()              # what "0: auto" means

Why it matters: oversubscribed threads made tiny-model steps 15-30x slower (on a busy 2-core
machine: bimodal 0.1 s / 2.4 s steps with 2 threads, 0.055 s with 1), so a thread count is never
left to the library default, and a part that changes it gives the caller's value back: a suite
that evaluates after training, or a test process running many things, is not left with another
part's setting. `n` of 0 or None leaves the current value alone.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator


def physical_cores() -> int:
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        import psutil

        return max(1, min(available, psutil.cpu_count(logical=False) or available))
    except ImportError:
        return max(1, available)


def set_threads(n: int | None) -> None:
    if n:
        import torch

        torch.set_num_threads(n)


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    import torch

    old = torch.get_num_threads()
    set_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)
