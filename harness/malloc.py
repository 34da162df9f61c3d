"""Keep freed memory in the process (glibc malloc), so a training step's tensors do not page-fault.

    retain_freed_memory()     # once per process, before training; a no-op off glibc or when opted out

Why: torch's CPU tensors come from malloc, and glibc hands blocks of a few MB (a tiny-model
step's activations and gradients: 0.5-3.5 MB each) back to the kernel when they are freed, either
as separate mappings or by trimming the heap. The next step's tensors of the same sizes then
arrive as fresh pages, each touched for the first time: a page fault and a zeroed 4 KiB page, ~900
for one 3.5 MB gradient. On the tiny model that was 600-2,300 faults a step (getrusage). Fixing the
mmap threshold at 32 MiB and trimming only above 1 GiB keeps such blocks in the heap for reuse:
~450 faults a step, and `harness bench train` (AMD EPYC Zen 5, 2 threads, worker processes
alternated with and without) was faster in 16 of 22 rounds, median +3-4% tokens/s. It is the
glibc form of what torch's own CPU launcher (`torch.backends.xeon.run_cpu`) does by preloading
jemalloc or tcmalloc with freed memory kept: the process's memory does not shrink after a peak,
and the peak itself is unchanged (`peak_rss_mb` in `harness bench train`). Blocks of 32 MiB and
more (a large model's weights, the reference cache) are still mapped separately and returned when
freed.

`HARNESS_MALLOC=system` leaves glibc's defaults alone.
"""

from __future__ import annotations

import ctypes
import os

ENV = "HARNESS_MALLOC"  # "system": leave malloc alone
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)
MMAP_THRESHOLD = 32 << 20  # glibc's largest: blocks below this come from the heap
TRIM_THRESHOLD = 1 << 30  # free heap top kept up to this before it is returned

_done: bool | None = None


def retain_freed_memory() -> bool:
    """Set the thresholds once for this process; whether they are set (False: not glibc, opted out,
    or mallopt refused)."""
    global _done
    if _done is None:
        _done = False
        if os.environ.get(ENV, "").lower() != "system" and _glibc():
            try:
                libc = ctypes.CDLL("libc.so.6")
                _done = bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and \
                    bool(libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
            except (OSError, AttributeError):  # no such library or function: glibc's defaults stay
                pass
    return _done


def _glibc() -> bool:
    try:
        return (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
    except (ValueError, OSError, AttributeError):  # not a GNU system (macOS, Windows, musl)
        return False
