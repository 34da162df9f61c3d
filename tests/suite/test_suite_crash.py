"""Crash consistency: a real suite (training, evaluation with generation and KL, both executors'
worker processes) SIGKILLed at a random moment, then run again to the end, holds exactly the rows
of an uninterrupted run: no row lost, none duplicated, no temporary file left behind.

The ray executor's driver alone is SIGKILLed too (its Ray instance and workers are left to
notice). Fast tier: 2 trials and 1 with Ray; slow tier (`-m slow`): 20 more. Kill times are drawn uniformly over the
uninterrupted run's wall time, from a fixed seed, so a failure can be replayed.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

SUITE = """\
name: crash
base: {model: {name: tiny-arith-sft}, data: {train: arith, options: {n_pairs: 120}, eval_size: 16},
       train: {steps: 12, batch_size: 8, threads: 1, eval_every: 6, checkpoint_every: 4}}
variants: [{name: dpo, set: {loss.name: dpo}}, {name: minor_dpo, set: {loss.name: minor_dpo}}]
grid: {train.seed: [0, 1]}
eval: {prompts: {data: arith, options: {split: test, n_pairs: 8}}, generation: {backend: hf, n_prompts: 8,
       max_new_tokens: 24, max_prompt_len: 16, max_model_len: 64}}
executor: {name: pool, workers: 2}
report: {enabled: false}
"""
KEYS = {"runs": ["run_id", "status"], "steps": ["run_id", "step", "split"], "evals": ["run_id", "metric"],
        "scores": ["run_id", "prompt_id", "sample"], "generations": ["run_id", "prompt_id", "sample"]}


def _start(suite: Path, out: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "harness.cli", "run", str(suite), "--out", str(out), *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)


def _rows(out: Path) -> dict[str, list[tuple]]:
    rows = {}
    for table, cols in KEYS.items():
        df = pd.read_parquet(out / table) if (out / table).is_dir() else pd.DataFrame(columns=cols)
        rows[table] = sorted(map(tuple, df[cols].astype(str).values.tolist()))
    return rows


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("crash")
    suite = root / "crash.yaml"
    suite.write_text(SUITE)
    out = root / "clean"
    t0 = time.perf_counter()
    proc = _start(suite, out)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-2000:]
    return suite, _rows(out), time.perf_counter() - t0


def _trial(reference, tmp_path: Path, seed: int, *args: str, driver_only: bool = False) -> None:
    suite, want, wall = reference
    out = tmp_path / f"trial-{seed}"
    proc = _start(suite, out, *args)
    time.sleep(random.Random(seed).uniform(0.5, wall))
    if driver_only:  # Ray's own processes notice their driver is gone and end its tasks
        os.kill(proc.pid, signal.SIGKILL)
    else:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and its workers, mid-whatever
    proc.wait()
    proc = _start(suite, out, *args)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-2000:]
    got = _rows(out)
    for table in KEYS:
        assert got[table] == want[table], (table, seed)  # nothing lost, nothing duplicated
    leftovers = [p for t in KEYS for p in (out / t).glob(".*.tmp")]
    assert not leftovers, leftovers


@pytest.mark.parametrize("seed", [0, 1])
def test_sigkill_at_a_random_moment_then_resume(reference, tmp_path, seed):
    _trial(reference, tmp_path, seed)


@pytest.mark.parametrize("seed", [0])
def test_sigkill_of_the_ray_driver_then_resume(reference, tmp_path, seed):
    pytest.importorskip("ray")
    _trial(reference, tmp_path, seed, "--executor", "ray", driver_only=True)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(2, 22))
def test_sigkill_at_a_random_moment_then_resume_many(reference, tmp_path, seed):
    _trial(reference, tmp_path, seed)
