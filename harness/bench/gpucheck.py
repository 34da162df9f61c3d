"""`harness bench gpu-check`: the GPU check, ready for the first GPU it meets (≤ 9 min on an H100/H200).

    harness bench gpu-check --out results/bench          # on a CUDA machine: everything into OUT/gpu-check/
    harness bench gpu-check --cpu --out /tmp/x           # the same code path on CPU, small (a fast test)

Needs only torch, transformers, peft, accelerate, pyarrow, pandas and matplotlib (no vLLM, no
network: the models are randomly initialised or built locally). Four parts, each recorded with
its figures and whether it passed, so that one run on a lent card gives every number at once:

1. **bench**: `harness bench gpu` for DPO and MinorDPO on a ~0.5B and a ~1.1B Llama-config model
   (tokens/s, peak memory, MFU against the card's measured bf16 matmul peak);
2. **precision**: the tiny arithmetic model trained 20 steps in float32 and in bf16 autocast
   (fp32 master weights) from the same seed; per-step loss and log-ratio gaps;
3. **fsdp**: FSDP2 `fully_shard` with the bf16 MixedPrecisionPolicy on one GPU (a one-process
   group), against the same steps unwrapped;
4. **suite**: a mini suite end to end on the device: SFT stage -> DPO and MinorDPO -> HF
   generation -> verifier and KL scoring -> Parquet -> report.

Writes OUT/gpu-check/gpucheck.json (every figure), gpucheck.md (a table to paste), and the mini
suite's results folder. Exit 0 when every part passed. The bounds below are sanity bounds for a
correct code path, not claims about a loss.
"""

from __future__ import annotations

import json
import os
import time
import traceback
from pathlib import Path
from types import SimpleNamespace

# bf16 vs fp32 over 20 steps of the tiny model: the losses start equal (log 2) and drift apart by
# rounding only; a wrong autocast (e.g. fp16 overflow, a bf16 loss) moves them by far more
PRECISION_BOUND = 0.05
FSDP_BOUND = 0.02  # one process: FSDP2's bf16 gather vs autocast over fp32 weights, rounding only
SIZES = {  # name -> Llama shape (~params with a 32k vocabulary, untied)
    "0.5B": dict(layers=16, hidden=1536, intermediate=4096, heads=12, kv_heads=4),
    "1.1B": dict(layers=22, hidden=2048, intermediate=5632, heads=32, kv_heads=4),  # TinyLlama's shape
}
CPU_SIZE = dict(layers=1, hidden=64, intermediate=128, heads=2, kv_heads=1)


def add_arguments(p) -> None:
    p.add_argument("--cpu", action="store_true", help="run every part on CPU at a small size (the test of the code path)")
    p.add_argument("--pairs", type=int, default=16, help="bench: pairs per step")
    p.add_argument("--steps", type=int, default=20, help="precision: training steps per side")


def run(args) -> int:
    out = Path(args.out) / "gpu-check"
    out.mkdir(parents=True, exist_ok=True)
    device = "cpu" if args.cpu else "cuda"
    if device == "cuda":
        from harness.accel import cuda_available
        from harness.errors import HarnessError

        if not cuda_available():
            raise HarnessError("harness bench gpu-check needs a CUDA device (use --cpu to check the code path here)")
    parts = {"bench": bench, "precision": precision, "fsdp": fsdp, "suite": suite}
    results: dict = {"device": _device_name(device), "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    for name, fn in parts.items():
        t = time.perf_counter()
        print(f"== {name}", flush=True)
        try:
            r = fn(args, device, out)
        except Exception as e:  # one part failing must not hide the others' figures
            r = {"ok": False, "error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()}
        r["seconds"] = round(time.perf_counter() - t, 1)
        results[name] = r
        print(f"   {'ok' if r['ok'] else 'FAILED'} in {r['seconds']} s" + (f": {r['error']}" if "error" in r else ""),
              flush=True)
    results["ok"] = all(results[n]["ok"] for n in parts)
    (out / "gpucheck.json").write_text(json.dumps(results, indent=1, default=str))
    (out / "gpucheck.md").write_text(markdown(results))
    print(markdown(results))
    print(f"wrote {out / 'gpucheck.json'} and {out / 'gpucheck.md'}")
    return 0 if results["ok"] else 1


def _device_name(device: str) -> str:
    import torch

    if device == "cuda":
        return f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}, CUDA {torch.version.cuda}"
    from harness.env import cpu_model

    return f"{cpu_model()} (CPU mode), torch {torch.__version__}"


# ------------------------------------------------------------------------------------- 1. bench
def bench(args, device: str, out: Path) -> dict:
    from harness.bench import gpu

    sizes = {"cpu-tiny": CPU_SIZE} if device == "cpu" else SIZES
    rows = {}
    for name, shape in sizes.items():
        a = SimpleNamespace(**shape, vocab=101 if device == "cpu" else 32000, pairs=2 if device == "cpu" else args.pairs,
                            prompt_len=6 if device == "cpu" else 256, response_len=5 if device == "cpu" else 256,
                            warmup=1 if device == "cpu" else 3, timed=2 if device == "cpu" else 10, compile=False,
                            layout="shared", cpu=device == "cpu", losses="dpo,minor_dpo")
        rows[name] = gpu.measure(a)
        _release()  # the 0.5B model's memory before the 1.1B one is built
    return {"ok": all(r["ok"] for r in rows.values()), "sizes": rows}


def _release() -> None:
    import gc

    from harness.accel import release_cached_memory

    gc.collect()
    release_cached_memory()


# --------------------------------------------------------------------------------- 2. precision
def _tiny_config(device: str, dtype: str, steps: int, **train):
    from harness.config import from_dict
    from harness.trainer.config import RunConfig

    data = {"name": f"gpucheck-{dtype}", "model": {"name": "tiny", "dtype": dtype},
            "data": {"train": "arith", "options": {"n_pairs": 256, "seed": 0}, "eval_size": 32,
                     "max_prompt_len": 16, "max_response_len": 32},
            "loss": {"name": "dpo", "beta": 0.1},
            "train": {"steps": steps, "batch_size": 8, "learning_rate": 1e-3, "warmup_steps": 0, "eval_every": 0,
                      "checkpoint_every": 0, "seed": 0, "threads": 1, "device": device, **train}}
    return from_dict(RunConfig, data, source="gpu-check")


def precision(args, device: str, out: Path) -> dict:
    from harness.results.store import ResultStore
    from harness.trainer import train_run

    steps = {}
    for dtype in ("float32", "bfloat16"):
        result = train_run(_tiny_config(device, dtype, args.steps), out / "precision")
        df = ResultStore(out / "precision").read("steps")
        df = df[(df.run_id == result.run_id) & (df.split == "train")].sort_values("step")
        steps[dtype] = df
    a, b = steps["float32"], steps["bfloat16"]
    gaps = {c: float((a[c].to_numpy() - b[c].to_numpy()).__abs__().max())
            for c in ("loss", "logratio_chosen", "logratio_rejected")}
    return {"ok": len(a) == len(b) == args.steps and gaps["loss"] <= PRECISION_BOUND, "steps": args.steps,
            "max_abs_gap": gaps, "bound_loss": PRECISION_BOUND,
            "final_loss": {"float32": float(a.loss.iloc[-1]), "bfloat16": float(b.loss.iloc[-1])}}


# -------------------------------------------------------------------------------------- 3. fsdp
def fsdp(args, device: str, out: Path, steps: int = 5) -> dict:
    """FSDP2 on one device against the same model unwrapped: per-step DPO losses agree."""
    import socket

    import torch
    import torch.distributed as dist
    from transformers import LlamaConfig, LlamaForCausalLM

    from harness.accel import autocast, dist_backend, fsdp_mp_policy
    from harness.bench.gpu import random_pairs
    from harness.data.tokenize import collate
    from harness.logprobs.logps import split_pairs
    from harness.losses import get_loss
    from harness.trainer.distributed import LogpsModule

    dtype = torch.bfloat16 if device == "cuda" else None  # gloo's CPU collectives: float32
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group(dist_backend(device), rank=0, world_size=1)
    try:
        cfg = LlamaConfig(hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
                          num_key_value_heads=2, vocab_size=101, max_position_embeddings=64)
        a = SimpleNamespace(prompt_len=6, response_len=5)
        batches = [collate(random_pairs(a, 101, 4, seed=i), 0) for i in range(steps)]
        batches = [{k: v.to(device) for k, v in b.items()} for b in batches]
        losses = {}
        for name in ("plain", "fsdp"):
            torch.manual_seed(0)
            model = LlamaForCausalLM(cfg).to(device).train()
            module = LogpsModule(model)
            if name == "fsdp":
                from torch.distributed.fsdp import fully_shard

                policy = fsdp_mp_policy(dtype)
                fully_shard(module, **({"mp_policy": policy} if policy is not None else {}))
            opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
            with torch.no_grad(), autocast(device, dtype):  # reference log-probs: the starting policy
                refs = [split_pairs(module(b)[0].float()) for b in batches]
            losses[name] = []
            for batch, (rc, rr) in zip(batches, refs):
                with autocast(device, dtype):
                    logps, _ = module(batch)
                pc, pr = split_pairs(logps.float())
                loss = get_loss("dpo")(pc, pr, rc, rr, beta=0.1).losses.mean()
                loss.backward()
                opt.step()
                opt.zero_grad(set_to_none=True)
                losses[name].append(loss.item())
        gap = max(abs(x - y) for x, y in zip(losses["plain"], losses["fsdp"]))
        return {"ok": gap <= FSDP_BOUND, "steps": steps, "max_abs_loss_gap": gap, "bound": FSDP_BOUND,
                "mixed_precision": str(dtype) if dtype else "float32 (no policy)", "losses": losses}
    finally:
        dist.destroy_process_group()


# ------------------------------------------------------------------------------------- 4. suite
def suite(args, device: str, out: Path) -> dict:
    import yaml

    from harness.results.store import ResultStore
    from harness.suite.runner import run_suite
    from harness.suite.spec import load_suite

    spec = {"name": "gpucheck-mini", "description": "train -> generate -> score -> Parquet -> report on one device",
            "base": {"model": {"name": "tiny"},
                     "data": {"train": "arith", "options": {"n_pairs": 256, "seed": 0}, "eval_size": 32,
                              "max_prompt_len": 16, "max_response_len": 32},
                     "loss": {"beta": 0.1},
                     "train": {"steps": 10, "batch_size": 8, "learning_rate": 1e-3, "warmup_steps": 0, "threads": 1,
                               "device": device}},
            "sft": {"data": {"options": {"n_pairs": 512, "seed": 1}},
                    "train": {"steps": 30, "batch_size": 16, "learning_rate": 3e-3, "schedule": "constant"}},
            "grid": {"loss.name": ["dpo", "minor_dpo"], "train.seed": [0]},
            "eval": {"prompts": {"data": "arith", "options": {"split": "test", "n_pairs": 16}},
                     "generation": {"backend": "hf", "n_prompts": 16, "max_new_tokens": 32, "max_prompt_len": 32,
                                    "max_model_len": 128},
                     "bootstrap_iters": 200, "device": device, "threads": 1},
            "report": {"title": f"GPU check mini suite ({device})"}}
    path = out / "gpucheck-mini.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    folder = out / "suite"
    summary = run_suite(load_suite(path), folder, executor="local", log=lambda s: print("   " + s, flush=True))
    evals = ResultStore(folder).read("evals")
    metrics = sorted(set(evals.metric)) if len(evals) else []
    report = folder / "report.md"
    ok = not summary.incomplete and report.is_file() and any("accuracy" in m for m in metrics)
    return {"ok": ok, "runs": summary.total, "states": summary.states, "eval_metrics": metrics,
            "report": str(report.relative_to(out)) if report.is_file() else None}


def markdown(r: dict) -> str:
    lines = [f"# GPU check: {r['device']}", "", f"started {r['started']}; overall: {'passed' if r.get('ok') else 'FAILED'}", ""]
    b = r.get("bench", {})
    if b.get("sizes"):
        lines += ["| model | loss | tokens/s | step s | MFU | peak GiB | measured bf16 peak TFLOP/s |", "|---|---|---|---|---|---|---|"]
        for size, rep in b["sizes"].items():
            for loss, row in rep["losses"].items():
                lines.append(f"| {size} ({rep['params'] / 1e9:.2f}B) | {loss} | {row['tokens_per_s']:,} | {row['step_s']} | "
                             f"{row['mfu']:.1%} | {row['peak_mem_gb']} | {rep['measured_bf16_peak_tflops']} |")
        lines.append("")
    for name in ("precision", "fsdp", "suite"):
        part = {k: v for k, v in r.get(name, {}).items() if k not in ("traceback", "losses", "states")}
        lines.append(f"- **{name}**: {json.dumps(part, default=str)}")
    return "\n".join(lines) + "\n"
