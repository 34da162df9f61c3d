"""evaluate_runs with the real vLLM backend: one engine for all runs, same rows as the HF backend."""

from __future__ import annotations

import os

import pytest

pytest.importorskip("vllm")
os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")

from test_generation_vllm import tiny  # noqa: E402  (sharpened tiny models: seed-specific outputs)

from harness.evaluation import evaluate_runs  # noqa: E402
from harness.generation import BACKENDS  # noqa: E402
from harness.results.store import ResultStore  # noqa: E402


class CountingVLLM(BACKENDS.get("vllm")):
    instances: list = []

    def __init__(self, *a, **kw):
        type(self).instances.append(self)
        super().__init__(*a, **kw)


if "counting-vllm" not in BACKENDS:
    BACKENDS.register("counting-vllm", CountingVLLM)


@pytest.mark.slow  # a vLLM start (~10-40 s) plus an HF run of the same evaluation
def test_vllm_evaluation_reuses_one_engine_and_matches_hf(tmp_path):
    from harness.data.arith import generate

    a, b, c = tiny(tmp_path, 0), tiny(tmp_path, 1), tiny(tmp_path, 2)
    pairs = list(generate("test", n_pairs=8, seed=0))
    cfg = {"generation": {"n_prompts": 8, "max_new_tokens": 16, "max_prompt_len": 32, "max_model_len": 64},
           "bootstrap_iters": 100}
    targets = [("b", str(b)), ("c", str(c))]
    runs = {}
    for backend in ("counting-vllm", "hf"):
        store = ResultStore(tmp_path / backend)
        cfg["generation"]["backend"] = backend
        status = evaluate_runs(cfg, targets=targets, reference=("a", str(a)), prompts=pairs, store=store,
                               log=lambda s: None)
        assert set(status.values()) == {"ok"}
        runs[backend] = store.read("generations").sort_values(["run_id", "prompt_id", "sample"]).reset_index(drop=True)

    (engine,) = CountingVLLM.instances  # one engine served the reference and both targets
    assert len(engine.timings["startup_s"]) == 1 and len(engine.timings["reload_s"]) == 2
    cols = ["run_id", "prompt_id", "sample", "completion_tokens", "finish_reason"]
    assert runs["counting-vllm"][cols].equals(runs["hf"][cols])
    vllm_text = runs["counting-vllm"]["completion"].str.replace("\ufffd", "")
    assert vllm_text.equals(runs["hf"]["completion"].str.replace("\ufffd", ""))
    assert runs["counting-vllm"]["engine_version"].str.startswith("vllm").all()
    texts = runs["hf"].groupby("run_id")["completion"].apply(tuple)
    assert len(set(texts)) == 3  # three models, three different sets of answers
