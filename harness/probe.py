"""The CPU probe: how fast this machine multiplies matrices in fp32 (torch's BLAS), bf16 and fp32
through oneDNN, measured once per machine and software stack.

    p = bf16_probe()     # {"fp32_gflops": 106, "bf16_gflops": 477, "onednn_fp32_gflops": 245, "speedup": 4.5, ...}

What it decides lives in harness.accel: `model.dtype: fastest` (bf16 where it is at least
BF16_FASTER x fp32) and the route of fp32 Linear layers (oneDNN where it is at least
ONEDNN_FASTER x the BLAS). Why a measurement and not a feature list: the same flags (AVX-512,
AVX512-BF16) give different speed ratios on different cores (Zen 4 runs 512-bit work on 256-bit
units, Zen 5 does not), and which library takes which code path on which vendor is not written
on the CPU.
"""

from __future__ import annotations

import os

PROBE_SIZE = 512  # square matmul of the probe: wide enough to show a native bf16 kernel's speed
_PROBE: dict = {}


def measured() -> bool:
    """Whether this process has taken (or read back) the probe: a decision was made by it."""
    return bool(_PROBE)


def bf16_probe() -> dict:
    """One-thread GFLOP/s of a PROBE_SIZE square matmul in fp32 (torch's BLAS), bf16, and fp32
    through oneDNN, and the ratios to the first.

    Measured once per machine and software stack, then read back: the result is kept in
    $HARNESS_CACHE/probe/<key>.json (key: CPU model and flags, torch version, kernel path), under a
    file lock, so every process on a machine (a suite's driver, its pool or Ray workers, a rerun)
    makes the same precision and kernel choices and stays bit-identical with the others; a probe
    taken on a busy machine is not re-rolled per process. Best of several interleaved repeats.
    {"fp32_gflops", "bf16_gflops", "onednn_fp32_gflops", "speedup", "onednn_speedup", "size"}."""
    if _PROBE:
        return dict(_PROBE)
    import fcntl
    import json

    path = _probe_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                result = json.loads(path.read_text())
            except (OSError, ValueError):
                result = _measure()
                tmp = path.with_suffix(f".tmp{os.getpid()}")
                tmp.write_text(json.dumps(result))
                os.replace(tmp, path)
    except OSError:  # a read-only home: measure for this process only
        result = _measure()
    _PROBE.update(result)
    return dict(result)


def _probe_path():
    """$HARNESS_CACHE/probe/<hash of what decides the kernels' speed>.json."""
    import hashlib
    from pathlib import Path

    import torch

    try:
        cpu = "".join(ln for ln in Path("/proc/cpuinfo").read_text().splitlines()[:30]
                      if ln.startswith(("model name", "flags", "vendor_id")))
    except OSError:
        import platform

        cpu = platform.processor()
    key = "|".join([cpu, torch.__version__, torch.backends.cpu.get_cpu_capability(), str(PROBE_SIZE)])
    from harness.env import cache_root

    return cache_root() / "probe" / f"{hashlib.sha256(key.encode()).hexdigest()[:16]}.json"


def _measure() -> dict:
    import time

    import torch

    from harness.threads import torch_threads

    n = PROBE_SIZE
    flops = 2 * n ** 3
    gen = torch.Generator().manual_seed(0)
    a32, b32 = torch.randn(n, n, generator=gen), torch.randn(n, n, generator=gen)
    cases = {"fp32": (torch.mm, a32, b32), "bf16": (torch.mm, a32.bfloat16(), b32.bfloat16())}
    from harness.accel import onednn_available

    if onednn_available():  # fp32 through oneDNN instead of torch's BLAS (MKL): harness.models.cpu_linear
        cases["onednn_fp32"] = (lambda a, b: torch.ops.mkldnn._linear_pointwise(a, b, None, "none", [], ""), a32, b32)
    best = dict.fromkeys(cases, float("inf"))
    with torch_threads(1), torch.inference_mode():
        for mm, a, b in cases.values():
            mm(a, b)  # first call: kernel selection and packing buffers
        for _ in range(8):  # interleaved: a busy spell slows every case alike, and the best is kept
            for name, (mm, a, b) in cases.items():
                t0 = time.perf_counter()
                for _ in range(3):
                    mm(a, b)
                best[name] = min(best[name], (time.perf_counter() - t0) / 3)
    result = {"size": n, **{f"{name}_gflops": flops / t / 1e9 for name, t in best.items()}}
    result["speedup"] = result["bf16_gflops"] / result["fp32_gflops"]
    result["onednn_speedup"] = result.get("onednn_fp32_gflops", 0.0) / result["fp32_gflops"]
    return result
