"""Models: registered builders, plus any local directory or hub id.

    harness ls models
    model: {name: tiny-arith-sft}       # a pinned checkpoint shipped in the package (pinned.py)
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
MODELS.register("tiny-arith-sft", "harness.models.pinned:tiny_arith_sft")  # shipped SFT checkpoint (pinned.py)
# Builders whose weights depend on the run's seed (a random initialisation): a run of another seed
# starts from another model, so its reference differs too. Every other model is one fixed file.
SEEDED = frozenset({"tiny"})


def __getattr__(name):  # lazy re-exports: importing harness.models stays cheap
    import importlib

    load = importlib.import_module("harness.models.load")
    if name in ("model_dir", "load_tokenizer", "load_causal_lm", "cache_root"):
        return getattr(load, name)
    raise AttributeError(name)
