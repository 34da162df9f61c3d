"""`harness bench precision`: the harness trainer in bf16 autocast vs the same command in fp32.

    harness bench precision --model smollm2 --lora      # SmolLM2-135M + LoRA on hh-rlhf pairs
    harness bench precision                             # the tiny model on arithmetic pairs
    harness bench precision --model smollm2 --lora --steps 8 --repeats 2 --json

Both sides are `harness bench train`'s harness side (same pairs, model, seed, threads, steps);
only `model.dtype` differs: bfloat16 (autocast over fp32 master weights, fp32 loss) against
float32. It answers two questions at once, on this CPU:
- speed: the tokens/s ratio bf16 / fp32 (CPUs with AVX512-BF16 or AMX run bf16 matrix products
  several times faster; elsewhere bf16 is emulated and slower; the probe line says which);
- agreement: per step, |loss_bf16 - loss_fp32| and the same for the batch's chosen and rejected
  log-ratios, over the whole run from the same seed. The tolerance (`LOSS_TOL`) is what bf16's
  8-bit mantissa allows on a sum over ~100 tokens early in training; past it, the precision changes
  what is learned, not only the rounding.
"""

from __future__ import annotations

import statistics

from harness.bench.train import add_arguments as _train_arguments
from harness.bench.train import configs as _train_configs

LOSS_TOL = 0.05  # max |per-step loss difference| bf16 vs fp32 (a DPO loss starts at log 2 ~ 0.69)


def add_arguments(p) -> None:
    _train_arguments(p)


def configs(args) -> dict:
    args.dtype = "float32"
    base = _train_configs(args)["harness-train"]
    return {"harness-bf16": {**base, "dtype": "bfloat16"}, "harness-fp32": {**base, "dtype": "float32"}}


def agreement(cmp) -> dict:
    """Max per-step |bf16 - fp32| of loss and log-ratios over the run (first repeat of each side:
    same seed, same pairs, so any difference is the precision's)."""
    a, b = (cmp.runs[s][0] for s in cmp.sides)
    out = {}
    for key in ("losses", "chosen_logratios", "rejected_logratios"):
        xs, ys = a.get(key) or [], b.get(key) or []
        diffs = [abs(x - y) for x, y in zip(xs, ys)]
        out[key] = (max(diffs), statistics.median(diffs)) if diffs else (float("nan"), float("nan"))
    return out


def run(args) -> int:
    from harness.bench.common import alternate, finish

    name = "precision-" + args.model + ("-lora" if args.lora else "")
    cmp = alternate(name, ("harness-bf16", "harness-fp32"), configs(args), repeats=args.repeats,
                    metric="tokens_per_s", higher_is_better=True,
                    goal=f">= 2x fp32's tokens/s on a CPU with native bf16, per-step loss within {LOSS_TOL}")
    agree = agreement(cmp)
    names = {"losses": "loss", "chosen_logratios": "chosen log-ratio", "rejected_logratios": "rejected log-ratio"}
    for key, (worst, median) in agree.items():
        print(f"bf16 vs fp32 per-step {names[key]}: max |diff| {worst:.4f}, median {median:.4f}")
    ok = agree["losses"][0] <= LOSS_TOL
    print(f"loss agreement: {'within' if ok else 'BEYOND'} {LOSS_TOL} at every step")
    return finish(cmp, args)
