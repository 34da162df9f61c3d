"""harness.malloc: glibc's thresholds are set once per process, and can be left alone."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROBE = """
import ctypes, resource, sys
from harness.malloc import retain_freed_memory
print(retain_freed_memory(), retain_freed_memory())
# a step's pattern: a few 4 MB blocks made, used and freed, again and again
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
faults = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_minflt
n = 4 << 20
def step():
    blocks = [libc.malloc(n) for _ in range(3)]
    for p in blocks:
        ctypes.memset(p, 1, n)
    for p in blocks:
        libc.free(p)
step()
before = faults()
for _ in range(10):
    step()
print(faults() - before)
"""


def _probe(env: dict) -> tuple[str, int]:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True,
                         env={**os.environ, **env}).stdout.split("\n")
    return out[0], int(out[1])


@pytest.mark.skipif(not (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc"), reason="glibc only")
def test_freed_blocks_are_reused_without_page_faults_and_the_opt_out_keeps_glibcs_behaviour():
    kept, faults = _probe({})
    assert kept == "True True" and faults < 300  # 10 x 12 MB touched: ~30,000 faults if each came fresh
    left, faults_default = _probe({"HARNESS_MALLOC": "system"})
    # glibc's defaults: the freed 12 MB at the heap's top is over its (adaptive) trim threshold, given
    # back, and faulted in again at the next step
    assert left == "False False" and faults_default > 10_000
