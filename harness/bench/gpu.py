"""`harness bench gpu`: check the CUDA bf16 training path of the DPO family and measure it.

    harness bench gpu [--layers 22 --hidden 2048] [--pairs 8 --prompt-len 256 --response-len 256]
    harness bench gpu --layout rows           # the two-row layout (prompt computed twice), to compare
    harness bench gpu --cpu --layers 1 --hidden 64 ...   # the code path on CPU (a test; no MFU claim)

Needs only torch + transformers (no vLLM, no internet): a randomly initialised Llama-config model
(~1.1B parameters by default, TinyLlama's shape), random token pairs, and the trainer's own
pieces — `collate_shared` (one [shared prefix | chosen rest | rejected rest] row per pair, the
trainer's default; `--layout rows`: `collate`, two rows per pair), `sequence_logps` (logits only on response
tokens), the registered losses, fp32 master weights with bf16 autocast, fused AdamW. Reference
log-probs are computed once up front, as in a sweep. For each loss it runs warm-up steps, then
timed steps, and prints tokens/s (pair tokens, 2P + C + R a pair, the unit of `harness bench
train` under either layout), peak memory and MFU = model FLOPs per second / the card's measured
bf16 matmul peak (model FLOPs per *processed* token: 6 x non-embedding params + 12 x layers x
hidden x row length, the PaLM convention; the shared layout processes P + C + R - k a pair). It
also checks that each loss is finite and that MinorDPO's first step equals DPO's (policy == reference). If TRL is importable, `harness bench
train` runs on the GPU too. Goal on an H100/H200: MFU >= 45%.
"""

from __future__ import annotations

import json
import time

from harness.errors import HarnessError

LOSSES = ("dpo", "minor_dpo", "ipo", "dpop", "simpo")


def add_arguments(p) -> None:
    p.add_argument("--layers", type=int, default=22)
    p.add_argument("--hidden", type=int, default=2048)
    p.add_argument("--intermediate", type=int, default=5632)
    p.add_argument("--heads", type=int, default=32)
    p.add_argument("--kv-heads", type=int, default=4)
    p.add_argument("--vocab", type=int, default=32000)
    p.add_argument("--pairs", type=int, default=8, help="pairs per step (2x rows in the forward)")
    p.add_argument("--prompt-len", type=int, default=256)
    p.add_argument("--response-len", type=int, default=256)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--timed", type=int, default=10)
    p.add_argument("--compile", action="store_true", help="torch.compile the decoder")
    p.add_argument("--layout", choices=["shared", "rows"], default="shared")
    p.add_argument("--cpu", action="store_true", help="run on CPU in float32 (checks the code path only)")
    p.add_argument("--losses", default=",".join(LOSSES), help="comma-separated registered losses to time")


def measured_peak_tflops(torch, device: str = "cuda", n: int = 8192, iters: int = 20) -> float:
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    _sync(torch, device)
    t = time.perf_counter()
    for _ in range(iters):
        a @ b
    _sync(torch, device)
    return 2 * n**3 * iters / (time.perf_counter() - t) / 1e12


def _sync(torch, device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def random_pairs(args, vocab: int, n: int, seed: int = 0):
    import random

    from harness.data.tokenize import TokenizedPair

    rng = random.Random(seed)

    def ids(k):
        return tuple(rng.randrange(3, vocab) for _ in range(k))

    out = []
    for i in range(n):
        prompt = ids(args.prompt_len)
        chosen = ids(args.response_len)
        rejected = chosen[: args.response_len // 2] + ids(args.response_len - args.response_len // 2)
        out.append(TokenizedPair(i, str(i), prompt, chosen, rejected))
    return out


def run(args) -> int:
    report = measure(args)
    print(json.dumps(report))
    return 0 if report["ok"] else 1


def measure(args) -> dict:
    """The measurements as a dict (printed as one JSON line by `run`); `ok`: every loss finite and
    MinorDPO's first step equal to DPO's."""
    import contextlib

    import torch

    if not torch.cuda.is_available() and not args.cpu:
        raise HarnessError("harness bench gpu needs a CUDA device (torch.cuda.is_available() is False)")
    from transformers import LlamaConfig, LlamaForCausalLM

    from harness.data.shared_prompt import collate_shared
    from harness.data.tokenize import collate
    from harness.logprobs.logps import sequence_logps, split_pairs
    from harness.losses import get_loss

    device = "cpu" if args.cpu else "cuda"
    shared = args.layout == "shared"

    torch.manual_seed(0)
    torch.backends.cuda.matmul.allow_tf32 = True
    cfg = LlamaConfig(hidden_size=args.hidden, intermediate_size=args.intermediate, num_hidden_layers=args.layers,
                      num_attention_heads=args.heads, num_key_value_heads=args.kv_heads, vocab_size=args.vocab,
                      max_position_embeddings=args.prompt_len + 2 * args.response_len, tie_word_embeddings=False)
    model = LlamaForCausalLM(cfg).to(device).train()  # fp32 master weights; bf16 compute via autocast
    model.config._attn_implementation = "sdpa"
    if args.compile:
        model.model = torch.compile(model.model)
    n_params = sum(p.numel() for p in model.parameters())
    n_embed = model.get_input_embeddings().weight.numel()
    peak = measured_peak_tflops(torch, device, n=8192 if device == "cuda" else 512)
    steps = args.warmup + args.timed
    pairs = random_pairs(args, args.vocab, args.pairs * steps)
    pack = collate_shared if shared else collate
    batches = [pack(pairs[i * args.pairs:(i + 1) * args.pairs], 0) for i in range(steps)]
    batches = [{k: v.to(device, non_blocking=True) for k, v in b.items()} for b in batches]

    def processed(batch) -> int:  # tokens the model actually ran over
        return int((batch["segments"] >= 0).sum() if shared else batch["attention_mask"].sum())

    # the mean row length, read from the batch itself (the attention term of the FLOPs)
    seq = processed(batches[0]) // batches[0]["input_ids"].shape[0]
    flops_per_token = 6 * (n_params - n_embed) + 12 * args.layers * args.hidden * seq

    def logps(batch):
        ctx = torch.autocast("cuda", dtype=torch.bfloat16) if device == "cuda" else contextlib.nullcontext()
        with ctx:
            return sequence_logps(model, batch)

    with torch.no_grad():  # reference log-probs once, shared by every loss (the policy starts at the reference)
        refs = [split_pairs(logps(b).logps) for b in batches]
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    gpu = torch.cuda.get_device_name(0) if device == "cuda" else "cpu (float32)"
    report = {"gpu": gpu, "params": n_params, "layout": args.layout, "pair_tokens_per_step": int(batches[0]["pair_tokens"]),
              "processed_tokens_per_step": processed(batches[0]), "measured_bf16_peak_tflops": round(peak, 1), "losses": {}}
    print(f"{gpu}: {n_params / 1e9:.2f}B params, {args.pairs} pairs, rows of {seq} tokens ({args.layout} layout), "
          f"measured matmul peak {peak:.0f} TFLOP/s")
    first = {}
    losses = [x.strip() for x in getattr(args, "losses", ",".join(LOSSES)).split(",") if x.strip()]
    for name in losses:
        model.load_state_dict(state)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=True)
        loss_fn = get_loss(name)
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        times, tokens, work, finite = [], 0, 0, True
        for step, (batch, (rc, rr)) in enumerate(zip(batches, refs)):
            _sync(torch, device)
            t = time.perf_counter()
            out = logps(batch)
            pc, pr = split_pairs(out.logps)
            lc, lr = (x.float() for x in split_pairs(out.tokens))
            loss = loss_fn(pc, pr, rc, rr, beta=0.1, chosen_lengths=lc, rejected_lengths=lr).losses.mean()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            _sync(torch, device)
            if step == 0:
                first[name] = loss.item()
            finite &= bool(torch.isfinite(loss).item())
            if step >= args.warmup:
                times.append(time.perf_counter() - t)
                tokens += int(batch["pair_tokens"])
                work += processed(batch)
        tps = tokens / sum(times)
        mfu = work / sum(times) * flops_per_token / (peak * 1e12)
        mem = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None
        row = {"tokens_per_s": round(tps), "step_s": round(sum(times) / len(times), 4), "mfu": round(mfu, 4),
               "peak_mem_gb": None if mem is None else round(mem, 2), "finite": finite,
               "first_loss": round(first[name], 6)}
        report["losses"][name] = row
        print(f"{name:10s} {row['tokens_per_s']:>9d} tok/s  step {row['step_s']:.3f}s  MFU {mfu:6.1%}  "
              f"peak {'n/a' if mem is None else f'{mem:.1f}'} GiB  finite={finite}  first loss {row['first_loss']:.4f}")
    if "dpo" in first and "minor_dpo" in first:
        report["minor_dpo_first_step_equals_dpo"] = abs(first["minor_dpo"] - first["dpo"]) < 1e-6
    report["ok"] = all(r["finite"] for r in report["losses"].values()) and report.get("minor_dpo_first_step_equals_dpo", True)
    return report
