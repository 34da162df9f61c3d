"""SmolLM2-135M-Instruct from the PyPI GGUF (slow tier: conversion ~30 s, a LoRA step ~30 s on CPU).

    pytest -m slow tests/models/test_models_smollm2.py -s      # -s prints the measured step time
"""

from __future__ import annotations

import pytest
import torch

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smol_dir():
    pytest.importorskip("gguf")
    from harness.models.smollm2 import build, gguf_path

    try:
        gguf_path()
    except Exception as e:  # the package is an optional extra
        pytest.skip(str(e))
    return build()


def test_converted_directory_generates_exactly_like_the_gguf_model(smol_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from harness.models.smollm2 import load_gguf

    gguf_model, gguf_tok = load_gguf()
    model = AutoModelForCausalLM.from_pretrained(smol_dir).eval()
    tok = AutoTokenizer.from_pretrained(smol_dir)
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    text = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert text == gguf_tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    enc = tok(text, return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        a = model.generate(**enc, max_new_tokens=12, do_sample=False)
        b = gguf_model.generate(**enc, max_new_tokens=12, do_sample=False)
    assert a.tolist() == b.tolist()
    assert "Paris" in tok.decode(a[0, enc["input_ids"].shape[1]:])


def test_two_step_lora_dpo_run_completes_and_reports_step_time(smol_dir, tmp_path):
    from harness.config import from_dict
    from harness.results import ResultStore
    from harness.trainer import train_run
    from harness.trainer.config import RunConfig

    cfg = from_dict(RunConfig, {
        "name": "smol-lora", "model": {"name": "smollm2-135m-instruct", "lora": {"r": 16}},
        "data": {"train": "hh-rlhf", "limit": 8, "eval_size": 0, "max_prompt_len": 128, "max_response_len": 128,
                 "on_bad_row": "skip"},
        "loss": {"name": "dpo", "beta": 0.1},
        "train": {"steps": 2, "batch_size": 4, "learning_rate": 1e-4, "threads": 0}})
    result = train_run(cfg, tmp_path)
    assert result.status == "completed", result.error
    steps = ResultStore(tmp_path).read("steps", result.run_id)
    assert steps.step.tolist() == [1, 2] and steps.step_s.gt(0).all()
    tokens = int(steps.tokens.max())
    print(f"\nSmolLM2-135M LoRA r=16 DPO step, 4 pairs, {tokens} real tokens over 8 rows): "
          f"{steps.step_s.tolist()} s/step, threads={ResultStore(tmp_path).read('runs').iloc[0].threads}")
    assert (result.checkpoint / "model.safetensors").is_file() and (result.checkpoint.parent / "adapter").is_dir()
