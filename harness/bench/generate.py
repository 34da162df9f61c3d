"""`harness bench generate`: vLLM vs transformers `generate`, same prompts, greedy.

    harness bench generate [--model smollm2] [--batch-sizes 1,32] [--max-new-tokens 64] [--json]

Both sides: the same model directory (SmolLM2-135M-Instruct built offline from the PyPI GGUF, or
the tiny model), the same real hh-rlhf prompts rendered with the chat template, greedy decoding
with exactly `--max-new-tokens` new tokens per prompt (EOS ignored, so both produce the same
number of tokens), fp32 on CPU / bf16 on CUDA unless `--dtype` says otherwise. Metric: generated
tokens per second at each batch size; engine start-up (model load, and for vLLM the engine and KV
cache) is reported separately and not counted. Also reported: `prefill_s_b*` (a one-token
generation of the same batch: the prompts' forward) and `decode_tokens_per_s_b*` (the tokens
after the first, over the time after it). Goal: vLLM >= 5x HF at batch 32.
"""

from __future__ import annotations

import os
import time

from harness.threads import set_threads

MODELS = {"smollm2": "smollm2-135m-instruct", "tiny": "tiny"}


def add_arguments(p) -> None:
    p.add_argument("--model", choices=sorted(MODELS), default="smollm2")
    p.add_argument("--batch-sizes", default="1,32")
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--dtype", choices=["auto", "float32", "bfloat16"], default="auto",
                   help="both sides (auto: float32 on CPU, bfloat16 on CUDA)")


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
        set_threads(c["threads"])  # a worker process of its own: for its whole life
    return "cuda" if torch.cuda.is_available() else "cpu"


def _dtype(c: dict, device: str) -> str:
    dtype = c.get("dtype", "auto")
    return dtype if dtype != "auto" else ("bfloat16" if device == "cuda" else "float32")


def vllm_worker(c: dict) -> dict:
    from harness.generation.vllm_backend import apply_cpu_defaults

    device = _setup(c)
    if device == "cpu":
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
        apply_cpu_defaults()  # the harness's own settings (in-process engine)
    prompts = _prompts(c["model_dir"], max(c["batch_sizes"]))
    t0 = time.perf_counter()
    from vllm import LLM, SamplingParams

    llm = LLM(model=c["model_dir"], dtype=_dtype(c, device), enforce_eager=device != "cuda",
              max_model_len=512, seed=0)
    out = {"startup_s": time.perf_counter() - t0}
    params = SamplingParams(temperature=0.0, max_tokens=c["max_new_tokens"], ignore_eos=True)
    first = SamplingParams(temperature=0.0, max_tokens=1, ignore_eos=True)
    llm.generate(prompts[:1], params, use_tqdm=False)  # warm-up
    for bs in c["batch_sizes"]:
        t = time.perf_counter()
        llm.generate(prompts[:bs], first, use_tqdm=False)
        prefill = time.perf_counter() - t
        llm.reset_prefix_cache()  # the timed run below must compute its prompts again
        t = time.perf_counter()
        res = llm.generate(prompts[:bs], params, use_tqdm=False)
        dt = time.perf_counter() - t
        _rates(out, bs, sum(len(r.outputs[0].token_ids) for r in res), dt, prefill)
    out["first_completion"] = res[0].outputs[0].text
    return out


def _rates(out: dict, bs: int, tokens: int, seconds: float, prefill_s: float) -> None:
    """End-to-end tokens/s (the headline), time to the first token (prompt processing) and the
    decode rate after it: on CPU the prompts' forward is compute-bound and can dominate."""
    out[f"tokens_per_s_b{bs}"] = tokens / seconds
    out[f"prefill_s_b{bs}"] = prefill_s
    out[f"decode_tokens_per_s_b{bs}"] = (tokens - bs) / max(seconds - prefill_s, 1e-9)


def hf_worker(c: dict) -> dict:
    import torch

    from harness.models import load_causal_lm, load_tokenizer

    device = _setup(c)
    prompts = _prompts(c["model_dir"], max(c["batch_sizes"]))
    t0 = time.perf_counter()
    tok = load_tokenizer(c["model_dir"])
    tok.padding_side = "left"  # decoder-only batched generation pads on the left
    model = load_causal_lm(c["model_dir"], device=device).to(getattr(torch, _dtype(c, device)))
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
            model.generate(**enc, **{**kw, "max_new_tokens": 1, "min_new_tokens": 1})
            prefill = time.perf_counter() - t
            t = time.perf_counter()
            gen = model.generate(**enc, **kw)
            dt = time.perf_counter() - t
            new = gen[:, enc["input_ids"].shape[1]:]
            _rates(out, bs, new.numel(), dt, prefill)
    out["first_completion"] = tok.decode(new[0], skip_special_tokens=True)
    return out


def run(args) -> int:
    from harness.bench.common import alternate, finish
    from harness.bench.train import _model_dir

    sizes = [int(b) for b in args.batch_sizes.split(",")]
    name = MODELS[args.model]
    data = "arith" if name == "tiny" else "hh-rlhf"
    model_dir = str(_model_dir({"model": name, "data": data, "pairs": 256, "seed": 0}))
    c = {"model_dir": model_dir, "batch_sizes": sizes, "max_new_tokens": args.max_new_tokens, "threads": args.threads,
         "dtype": args.dtype}
    bench = f"generate-{args.model}" + ("" if args.dtype == "auto" else f"-{args.dtype}")
    cmp = alternate(bench, ("vllm-generate", "hf-generate"), {"vllm-generate": c, "hf-generate": c},
                    repeats=args.repeats, metric=f"tokens_per_s_b{max(sizes)}", higher_is_better=True,
                    goal=f">= 5x HF generate's tokens/s at batch {max(sizes)}")
    same = cmp.runs["vllm-generate"][0]["first_completion"] == cmp.runs["hf-generate"][0]["first_completion"]
    print(f"greedy first completion identical on both sides: {same}")
    return finish(cmp, args)
