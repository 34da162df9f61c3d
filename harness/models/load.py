"""Resolve a model name to a local directory, and load model + tokenizer from it.

    path = model_dir(cfg.model, texts=train_texts, seed=0)   # registered name | local dir | hub id
    tok = load_tokenizer(path)
    model = load_causal_lm(path, device="cpu")

Everything downstream works on directories (fingerprints, caches, vLLM, lm-eval), so a hub id is
resolved to its local snapshot first (offline when HF_HUB_OFFLINE=1). Parameters are loaded in
float32; the compute dtype (bf16 on CUDA) is applied by autocast in the trainer, which keeps the
optimizer's master weights exact.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from harness.env import cache_root  # noqa: F401  (models, GGUF conversions: $HARNESS_CACHE)
from harness.errors import ConfigError, HarnessError


def model_dir(cfg, *, texts: Iterable[str] = (), seed: int = 0) -> Path:
    """The directory holding `cfg` (a ModelConfig)'s initial weights and tokenizer."""
    from harness.models import MODELS

    if cfg.init_from:
        path = Path(cfg.init_from)
        if not (path / "config.json").is_file():
            raise ConfigError(f"model.init_from: {path} is not a model directory (no config.json)")
        check_model_files(path, "model.init_from")
        return path
    if cfg.name in MODELS:
        return Path(MODELS.get(cfg.name)(texts=texts, seed=seed, options=dict(cfg.tiny)))
    if cfg.tiny:
        raise ConfigError(f"model.tiny: options apply to the 'tiny' model only, not {cfg.name!r}")
    path = Path(cfg.name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ConfigError(f"model.name: {path} is a directory without config.json")
        check_model_files(path, "model.name")
        return path
    return _hub_snapshot(cfg.name, cfg.revision, MODELS.unknown_message(cfg.name))


def resolve_model(name: str, *, seed: int = 0) -> Path:
    """A registered model name, a local directory or a hub id -> its directory (no run config needed)."""
    from harness.models import MODELS

    if name in MODELS:
        return Path(MODELS.get(name)(texts=(), seed=seed, options={}))
    path = Path(name).expanduser()
    if path.is_dir():
        check_model_files(path, "model")
        return path
    return _hub_snapshot(name, None, MODELS.unknown_message(name))


def check_model_files(path: Path, what: str) -> None:
    """Fail before any work, naming the file, when config.json is not JSON or a safetensors file is
    truncated (only headers are read: cheap). Without this, transformers fails seconds or minutes
    later with "not a valid JSON file" or "incomplete metadata" and no path."""
    import json

    try:
        json.loads((path / "config.json").read_text())
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise ConfigError(f"{what}: {path / 'config.json'}: not valid JSON ({e})") from None
    for weights in sorted(path.glob("*.safetensors")):
        size = weights.stat().st_size
        try:
            with open(weights, "rb") as f:
                head = f.read(8)
                n = int.from_bytes(head, "little") if len(head) == 8 else -1
                header = json.loads(f.read(n)) if 0 < n <= size - 8 else None
        except (OSError, UnicodeDecodeError, ValueError):
            header = None
        if not isinstance(header, dict):
            raise ConfigError(f"{what}: {weights}: not a readable safetensors file (truncated or corrupt header)")
        end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
        if 8 + n + end > size:
            raise ConfigError(f"{what}: {weights}: truncated ({size} bytes, its header describes {8 + n + end})")


def _hub_snapshot(repo_id: str, revision: str | None, unknown: str) -> Path:
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, revision=revision,
                                      allow_patterns=["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja"]))
    except Exception as e:  # offline and not cached, no such repo, bad revision, ...
        raise HarnessError(f"model {repo_id!r}: not a registered model, a local directory, or an available "
                           f"hub id ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); {unknown}") from None


def load_tokenizer(path: str | Path, *, trust_remote_code: bool = False):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(path), trust_remote_code=trust_remote_code)
    if tok.pad_token_id is None:  # batches need a pad id; any id works (padding is masked)
        tok.pad_token = tok.eos_token
    return tok


def load_causal_lm(path: str | Path, *, device: str = "cpu", trust_remote_code: bool = False):
    """A causal LM in float32 on `device`, eval mode (no dropout: reference and policy agree at step 0).
    Its RMSNorms and MLPs are fused where recognised (harness.models.fused), and on CPU its Linear
    layers go through oneDNN where that is measured faster (harness.models.cpu_linear)."""
    import torch
    from transformers import AutoModelForCausalLM

    from harness.models.fused import fuse

    model = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32, trust_remote_code=trust_remote_code)
    fuse(model)
    if device == "cpu":
        from harness.models.cpu_linear import route_linears

        route_linears(model)
    return model.to(device).eval()
