"""`harness bench generate`: vLLM vs transformers `generate`, same prompts, greedy.

    harness bench generate [--model smollm2] [--batch-sizes 1,32] [--max-new-tokens 64] [--json]

Both sides: the same model directory (SmolLM2-135M-Instruct built offline from the PyPI GGUF, or
the tiny model), the same real hh-rlhf prompts rendered with the chat template, greedy decoding
with exactly `--max-new-tokens` new tokens per prompt (EOS ignored, so both produce the same
number of tokens), fp32 on CPU / bf16 on CUDA. Metric: generated tokens per second at each batch
size; engine start-up (model load, and for vLLM the engine and KV cache) is reported separately
and not counted. Goal: vLLM >= 5x HF at batch 32.
"""

from __future__ import annotations

import os
import time

MODELS = {"smollm2": "smollm2-135m-instruct", "tiny": "tiny"}


def add_arguments(p) -> None:
    p.add_argument("--model", choices=sorted(MODELS), default="smollm2")
    p.add_argument("--batch-sizes", default="1,32")
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--threads", type=int, default=0)


def _prompts(model_dir: str, n: int) -> list[str]:
    from harness.data import load_pairs
    from harness.data.tokenize import render_prompt
    from harness.models import load_tokenizer

    tok = load_tokenizer(model_dir)
    pairs = load_pairs("hh-rlhf", on_bad_row="skip", limit=n).pairs
    texts = []
    for p in pairs:
        text, _ = render_prompt(p.prompt, tok)
        ids = tok(text, add_special_tokens=False)["input_ids"][-128:]  # keep prompts short and equal on both sides
        texts.append(tok.decode(ids))
    return texts


def _setup(c: dict):
    import torch

    if c["threads"]:
        torch.set_num_threads(c["threads"])
    return "cuda" if torch.cuda.is_available() else "cpu"


def vllm_worker(c: dict) -> dict:
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # in-process engine: faster start on CPU
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
    device = _setup(c)
    prompts = _prompts(c["model_dir"], max(c["batch_sizes"]))
    t0 = time.perf_counter()
    from vllm import LLM, SamplingParams

    llm = LLM(model=c["model_dir"], dtype="bfloat16" if device == "cuda" else "float32", enforce_eager=device != "cuda",
              max_model_len=512, seed=0)
    out = {"startup_s": time.perf_counter() - t0}
    params = SamplingParams(temperature=0.0, max_tokens=c["max_new_tokens"], ignore_eos=True)
    llm.generate(prompts[:1], params, use_tqdm=False)  # warm-up
    for bs in c["batch_sizes"]:
        t = time.perf_counter()
        res = llm.generate(prompts[:bs], params, use_tqdm=False)
        dt = time.perf_counter() - t
        out[f"tokens_per_s_b{bs}"] = sum(len(r.outputs[0].token_ids) for r in res) / dt
    out["first_completion"] = res[0].outputs[0].text
    return out


def hf_worker(c: dict) -> dict:
    import torch

    from harness.models import load_causal_lm, load_tokenizer

    device = _setup(c)
    prompts = _prompts(c["model_dir"], max(c["batch_sizes"]))
    t0 = time.perf_counter()
    tok = load_tokenizer(c["model_dir"])
    tok.padding_side = "left"  # decoder-only batched generation pads on the left
    model = load_causal_lm(c["model_dir"], device=device)
    if device == "cuda":
        model = model.to(torch.bfloat16)
    model.eval()
    out = {"startup_s": time.perf_counter() - t0}
    n = c["max_new_tokens"]
    kw = dict(do_sample=False, max_new_tokens=n, min_new_tokens=n, pad_token_id=tok.pad_token_id)
    with torch.inference_mode():
        warm = tok(prompts[:1], return_tensors="pt", add_special_tokens=False).to(device)
        model.generate(**warm, **{**kw, "max_new_tokens": 2, "min_new_tokens": 2})
        for bs in c["batch_sizes"]:
            enc = tok(prompts[:bs], return_tensors="pt", padding=True, add_special_tokens=False).to(device)
            t = time.perf_counter()
            gen = model.generate(**enc, **kw)
            dt = time.perf_counter() - t
            new = gen[:, enc["input_ids"].shape[1]:]
            out[f"tokens_per_s_b{bs}"] = new.numel() / dt
    out["first_completion"] = tok.decode(new[0], skip_special_tokens=True)
    return out


def run(args) -> int:
    from harness.bench.common import alternate, finish
    from harness.bench.train import _model_dir

    sizes = [int(b) for b in args.batch_sizes.split(",")]
    name = MODELS[args.model]
    data = "arith" if name == "tiny" else "hh-rlhf"
    model_dir = str(_model_dir({"model": name, "data": data, "pairs": 256, "seed": 0}))
    c = {"model_dir": model_dir, "batch_sizes": sizes, "max_new_tokens": args.max_new_tokens, "threads": args.threads}
    cmp = alternate(f"generate-{args.model}", ("vllm-generate", "hf-generate"), {"vllm-generate": c, "hf-generate": c},
                    repeats=args.repeats, metric=f"tokens_per_s_b{max(sizes)}", higher_is_better=True,
                    goal=f">= 5x HF generate's tokens/s at batch {max(sizes)}")
    same = cmp.runs["vllm-generate"][0]["first_completion"] == cmp.runs["hf-generate"][0]["first_completion"]
    print(f"greedy first completion identical on both sides: {same}")
    return finish(cmp, args)
