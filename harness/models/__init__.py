"""Models: registered builders, plus any local directory or hub id.

    harness ls models
    from harness.models import MODELS, model_dir
    path = MODELS.get("tiny")(texts=[...], seed=0, options={})   # -> Path of a model directory
    path = model_dir(run_cfg.model, texts=[...], seed=0)           # name | init_from | dir | hub id

A builder is `build(*, texts, seed, options, cache_dir=None) -> Path`: it makes (once, cached
under $HARNESS_CACHE) a directory that transformers, vLLM and lm-eval load directly.
"""

from __future__ import annotations

from harness.registry import Registry

MODELS: Registry = Registry("model")
MODELS.register("tiny", "harness.models.tiny:build")
MODELS.register("smollm2-135m-instruct", "harness.models.smollm2:build")


def __getattr__(name):  # lazy re-exports: importing harness.models stays cheap
    import importlib

    load = importlib.import_module("harness.models.load")
    if name in ("model_dir", "load_tokenizer", "load_causal_lm", "cache_root", "resolve_device", "compute_dtype"):
        return getattr(load, name)
    raise AttributeError(name)
