"""`harness bench train|sweep|generate|gpu`: side-by-side benchmarks (not timed tests).

    harness bench train [--model tiny|smollm2] [--lora] [--repeats 3] [--json]
    harness bench precision [--model smollm2 --lora]   # bf16 autocast vs fp32: tokens/s and loss agreement
    harness bench sweep [--betas 0.05,0.1,0.2,0.5] [--json]
    harness bench generate [--batch-sizes 1,32] [--max-new-tokens 64] [--json]
    harness bench gpu                       # CUDA only: bf16 DPO-family training, tokens/s, MFU
    harness bench gpu-check                 # the whole GPU check into OUT/gpu-check/ (--cpu: its code path)

Each prints a table; `--json` also prints one JSON object ({"ratio": ..., "sides": {...}}); rows
go to OUT/bench/*.parquet with the machine's description (CPU, cores, threads, versions).
"""

from __future__ import annotations

import importlib

BENCHES = {  # name -> module with add_arguments(parser) and run(args)
    "train": "harness.bench.train",
    "precision": "harness.bench.precision",
    "sweep": "harness.bench.sweep",
    "generate": "harness.bench.generate",
    "gpu": "harness.bench.gpu",
    "gpu-check": "harness.bench.gpucheck",
}


def add_arguments(p) -> None:
    sub = p.add_subparsers(dest="bench", metavar="BENCH", required=True)
    for name, module in BENCHES.items():
        mod = importlib.import_module(module)
        q = sub.add_parser(name, help=(mod.__doc__ or "").strip().splitlines()[0])
        q.add_argument("--repeats", type=int, default=3, help="alternating runs per side (A B A B ...)")
        q.add_argument("--json", action="store_true", help="also print one JSON object with the medians and ratio")
        q.add_argument("--out", default="results/bench", help="folder for the bench Parquet rows")
        mod.add_arguments(q)
        q.set_defaults(_bench=mod.run)


def run(args) -> int:
    from harness.bench.common import scratch

    with scratch():  # nothing the bench writes besides its rows outlives it
        return args._bench(args)
