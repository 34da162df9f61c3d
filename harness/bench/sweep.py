"""`harness bench sweep`: a beta sweep end to end, harness vs independent TRL runs.

    harness bench sweep --betas 0.05,0.1,0.2,0.5 [--model tiny|smollm2] [--json]

Harness side: one `train_run` per beta in one results folder, so reference log-probs are
computed once and read from the cache by the other runs. TRL side: one DPOTrainer per beta with
`precompute_ref_log_probs=True`, as users run it. Metric: the worker process's total wall time
(`process_wall_s`: interpreter start, imports, model loads, reference log-probs and training),
lower is better; `wall_s` is the same without the interpreter start and the first imports.
Goal: harness <= 0.6x TRL's time.
"""

from __future__ import annotations

import time

from harness.bench import train as single


def add_arguments(p) -> None:
    single.add_arguments(p)
    p.add_argument("--betas", default="0.05,0.1,0.2,0.5", help="comma-separated beta values")


def harness_worker(c: dict) -> dict:
    import tempfile

    from harness.trainer import train_run

    single._setup_threads(c)
    out = tempfile.mkdtemp(prefix="bench-sweep-")
    t0 = time.perf_counter()
    hits = 0
    for beta in c["betas"]:
        result = train_run(single.run_config(c, beta=beta), out)
        if result.status != "completed":
            raise RuntimeError(f"harness run beta={beta} {result.status}: {result.error}")
        hits += bool(result.ref_cache_hit)
    return {"wall_s": time.perf_counter() - t0, "runs": len(c["betas"]), "ref_cache_hits": hits}


def trl_worker(c: dict) -> dict:
    t0 = time.perf_counter()
    for beta in c["betas"]:
        single.trl_worker({**c, "beta": beta})
    return {"wall_s": time.perf_counter() - t0, "runs": len(c["betas"])}


def run(args) -> int:
    from harness.bench.common import alternate, finish

    base = single.configs(args)["harness-train"]
    base["betas"] = [float(b) for b in args.betas.split(",")]
    cmp = alternate(f"sweep-{args.model}", ("harness-sweep", "trl-sweep"), {"harness-sweep": base, "trl-sweep": base},
                    repeats=args.repeats, metric="process_wall_s", higher_is_better=False,
                    goal="harness wall time <= 0.6x TRL's (ratio >= 1.67)")
    return finish(cmp, args)
