"""Benchmark machinery: workers in fresh subprocesses, A/B alternation, medians, JSON + Parquet.

A worker is a function `fn(config: dict) -> dict[str, float]` registered in `WORKERS`; it runs in
`python -m harness.bench.worker NAME CONFIG_JSON`, which adds the process's peak memory
(`peak_rss_mb`, and `peak_cuda_mb` on GPU) and prints one JSON line. Peak memory is only fair per
process, hence one process per measurement.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

from harness.errors import HarnessError
from harness.registry import Registry

WORKERS: Registry = Registry("bench worker")
WORKERS.register("harness-train", "harness.bench.train:harness_worker")
WORKERS.register("trl-train", "harness.bench.train:trl_worker")
WORKERS.register("harness-bf16", "harness.bench.train:harness_worker")  # harness bench precision: two dtypes
WORKERS.register("harness-fp32", "harness.bench.train:harness_worker")
WORKERS.register("harness-sweep", "harness.bench.sweep:harness_worker")
WORKERS.register("trl-sweep", "harness.bench.sweep:trl_worker")
WORKERS.register("vllm-generate", "harness.bench.generate:vllm_worker")
WORKERS.register("hf-generate", "harness.bench.generate:hf_worker")

MARKER = "BENCH_RESULT "


@contextmanager
def scratch():
    """A temporary folder for everything a bench writes besides its rows, removed at the end.

    Why: each side writes a run folder, a reference cache, TRL's output_dir and the equal-pairs
    file, and the libraries under them write their own temporary files. The bench's workers
    inherit TMPDIR, so all of it lands here and goes when the bench ends, failed or not (a bench
    used to leave ~3 folders in /tmp per run). Inductor's compile cache, which defaults to a
    folder under TMPDIR too, is pinned where it would have been: it is meant to outlive a process
    (`--compile`: the compile is paid once per machine and shape)."""
    saved = {k: os.environ.get(k) for k in ("TMPDIR", "TORCHINDUCTOR_CACHE_DIR")}
    saved_dir = tempfile.tempdir
    if saved["TORCHINDUCTOR_CACHE_DIR"] is None:
        from torch._inductor.runtime.cache_dir_utils import default_cache_dir

        os.environ["TORCHINDUCTOR_CACHE_DIR"] = default_cache_dir()
    with tempfile.TemporaryDirectory(prefix="harness-bench-") as root:
        os.environ["TMPDIR"], tempfile.tempdir = root, root
        try:
            yield root
        finally:
            tempfile.tempdir = saved_dir
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def run_worker(name: str, config: dict, timeout: float = 3600) -> dict:
    cmd = [sys.executable, "-m", "harness.bench.worker", name, json.dumps(config)]
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "HF_DATASETS_OFFLINE": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(MARKER)]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout)[-3000:]
        raise HarnessError(f"bench worker {name!r} failed (exit {proc.returncode}):\n{tail}")
    return json.loads(lines[-1][len(MARKER):])


@dataclasses.dataclass
class Comparison:
    """Results of alternating two sides `repeats` times; `metric` decides the ratio a/b."""

    bench: str
    sides: tuple[str, str]
    metric: str
    higher_is_better: bool
    config: dict
    runs: dict[str, list[dict]]
    goal: str = ""

    def median(self, side: str, metric: str | None = None) -> float:
        vals = [r[metric or self.metric] for r in self.runs[side] if (metric or self.metric) in r]
        return statistics.median(vals) if vals else float("nan")

    @property
    def ratio(self) -> float:
        """How much better side A is than side B on `metric` (>1 means A wins)."""
        a, b = self.median(self.sides[0]), self.median(self.sides[1])
        return a / b if self.higher_is_better else b / a

    def paired_ratios(self) -> list[float]:
        """The ratio within each repeat (A and B run back to back): its spread is the run-to-run
        noise that the median ratio carries."""
        a, b = ([r.get(self.metric) for r in self.runs[s]] for s in self.sides)
        pairs = [(x, y) for x, y in zip(a, b) if x is not None and y is not None and x > 0 and y > 0]
        return [x / y if self.higher_is_better else y / x for x, y in pairs]

    def metrics(self) -> list[str]:
        keys: list[str] = []
        for rows in self.runs.values():
            for r in rows:
                keys += [k for k, v in r.items() if k not in keys and isinstance(v, (int, float))]
        return keys

    def to_json(self) -> dict:
        return {"bench": self.bench, "metric": self.metric, "ratio": self.ratio, "paired_ratios": self.paired_ratios(),
                "goal": self.goal,
                "sides": {s: {m: self.median(s, m) for m in self.metrics()} for s in self.sides},
                "repeats": len(self.runs[self.sides[0]]), "config": self.config, "machine": machine_info()}


def alternate(bench: str, sides: tuple[str, str], configs: dict[str, dict], *, repeats: int, metric: str,
              higher_is_better: bool, goal: str = "", log=print) -> Comparison:
    """Run A B A B ... `repeats` times each, every run in a fresh process."""
    runs: dict[str, list[dict]] = {s: [] for s in sides}
    for i in range(repeats):
        for side in sides:
            log(f"[{bench}] repeat {i + 1}/{repeats}: {side} ...")
            runs[side].append(run_worker(side, configs[side]))
    return Comparison(bench, sides, metric, higher_is_better, configs[sides[0]], runs, goal)


def machine_info() -> dict:
    from harness.env import snapshot

    info = snapshot()
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        from harness.probe import bf16_probe

        info["bf16_probe"] = bf16_probe()  # which precision is native here decides what a figure means
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return info


def print_table(cmp: Comparison) -> None:
    a, b = cmp.sides
    print(f"\n{cmp.bench}: {a} vs {b}, median of {len(cmp.runs[a])} alternating runs each")
    from harness.accel import probe_line

    print(f"CPU: {probe_line()}")
    print(f"{'metric':28s} {a:>16s} {b:>16s}")
    for m in cmp.metrics():
        print(f"{m:28s} {cmp.median(a, m):16.4g} {cmp.median(b, m):16.4g}")
    better = "higher" if cmp.higher_is_better else "lower"
    paired = cmp.paired_ratios()
    spread = f" (per repeat {min(paired):.2f}-{max(paired):.2f}, n={len(paired)})" if len(paired) > 1 else ""
    print(f"ratio ({cmp.metric}, {better} is better, >1 = {a} wins): {cmp.ratio:.3f}{spread}"
          + (f"   goal: {cmp.goal}" if cmp.goal else ""))


def save(cmp: Comparison, out_dir: str | Path) -> Path:
    """Append this comparison's rows to OUT/bench/<bench>-<timestamp>.parquet."""
    from harness.results import ResultStore

    now = dt.datetime.now(dt.UTC)
    machine = json.dumps(machine_info(), sort_keys=True)
    config = json.dumps(cmp.config, sort_keys=True, default=str)
    rows = [{"bench": cmp.bench, "side": side, "repeat": i, "metric": m, "value": float(v), "config_json": config,
             "machine_json": machine, "created_at": now.isoformat()}
            for side in cmp.sides for i, r in enumerate(cmp.runs[side])
            for m, v in r.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    # the ratio of medians (repeat -1) and the ratio within each repeat (its spread: the noise)
    for i, value in [(-1, cmp.ratio), *enumerate(cmp.paired_ratios())]:
        rows.append({"bench": cmp.bench, "side": "ratio", "repeat": i, "metric": cmp.metric, "value": value,
                     "config_json": config, "machine_json": machine, "created_at": now.isoformat()})
    return ResultStore(out_dir).write("bench", f"{cmp.bench}-{now.strftime('%Y%m%dT%H%M%S')}", rows)


def finish(cmp: Comparison, args) -> int:
    print_table(cmp)
    path = save(cmp, args.out)
    print(f"rows written to {path}")
    if args.json:
        print(json.dumps(cmp.to_json(), default=str))
    return 0
