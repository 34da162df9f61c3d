"""`harness regress` on real training: no false alarm when the CPU rounds differently, and every
deliberate breakage caught (exit 1, naming the cells and the claims that moved).

A small suite at the main job's regime (the pinned reference, arithmetic pairs, the high
learning rate, 3 seeds) is trained for real; its baseline is recorded with the kind of stated
expectations the main baseline carries. Then the same suite is rerun:
- under another CPU kernel path (ATEN_CPU_CAPABILITY=default: no AVX2/AVX-512 kernels), which
  must change the numbers (checked) and must still pass;
- under each mutation of tests/mutants/mutants.py (MinorDPO's clamp removed, DPOP's penalty sign
  flipped, reference log-probs from the wrong checkpoint), which must fail.
Reruns are subprocesses, so that the kernel path and the mutation apply to every worker.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harness.cli import main

ROOT = Path(__file__).resolve().parents[2]
MINI = {
    "name": "regress-mini",
    "base": {"model": {"name": "tiny-arith-sft"},
             "data": {"train": "arith", "options": {"n_pairs": 600, "seed": 0}, "eval_size": 64,
                      "max_prompt_len": 16, "max_response_len": 32},
             "loss": {"beta": 0.1},
             "train": {"steps": 40, "batch_size": 16, "learning_rate": 1.0e-3, "warmup_steps": 5, "threads": 1}},
    "variants": [{"name": "dpo", "set": {"loss.name": "dpo"}},
                 {"name": "minor_dpo", "set": {"loss.name": "minor_dpo"}},
                 {"name": "dpop", "set": {"loss.name": "dpop", "loss.params": {"lambda_": 50.0}}}],
    "grid": {"train.seed": [0, 1, 2]},
    "executor": {"name": "pool", "workers": 2},
    "report": {"enabled": False},
}
EXPECTATIONS = [
    {"name": "MinorDPO keeps the chosen log-ratio above 0", "metric": "final_logratio_chosen",
     "where": {"variant": "minor_dpo"}, "op": ">", "value": 0.0},
    {"name": "DPOP keeps the chosen log-ratio above 0", "metric": "final_logratio_chosen",
     "where": {"variant": "dpop"}, "op": ">", "value": 0.0},
    {"name": "DPO displaces most chosen answers", "metric": "final_frac_chosen_below_ref",
     "where": {"variant": "dpo"}, "op": ">", "value": 0.5},
]


def _run(suite: Path, out: Path, **env) -> None:
    full = {**os.environ, **env}
    if "HARNESS_MUTATION" in env:
        full["PYTHONPATH"] = os.pathsep.join([str(ROOT / "tests" / "mutants"), full.get("PYTHONPATH", "")])
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "run", str(suite), "--out", str(out)],
                          env=full, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """(suite file, clean results, baseline with expectations)."""
    root = tmp_path_factory.mktemp("regress-behaviour")
    suite = root / "mini.yaml"
    suite.write_text(yaml.safe_dump(MINI, sort_keys=False))
    out = root / "clean"
    _run(suite, out)
    baseline = root / "baseline"
    assert main(["baseline", "record", str(out), "--to", str(baseline), "--reason", "clean run"]) == 0
    path = baseline / "baseline.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["expectations"] = EXPECTATIONS
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    assert main(["regress", str(out), "--baseline", str(baseline)]) == 0
    return suite, out, baseline


def _steps(out: Path):
    import pandas as pd

    return pd.read_parquet(out / "steps").sort_values(["run_id", "split", "step"]).reset_index(drop=True)


def test_another_cpu_kernel_path_changes_the_numbers_but_not_the_verdict(clean, tmp_path, capsys):
    suite, out, baseline = clean
    other = tmp_path / "aten-default"
    _run(suite, other, ATEN_CPU_CAPABILITY="default")
    a, b = _steps(out), _steps(other)
    assert list(a["run_id"]) == list(b["run_id"])  # the same runs, ids and rows
    assert (a["loss"] - b["loss"]).abs().max() > 0  # ... with different rounding: a real test of drift
    capsys.readouterr()
    assert main(["regress", str(other), "--baseline", str(baseline)]) == 0
    assert "REGRESSION" not in capsys.readouterr().out


@pytest.mark.parametrize("mutation, variant, claim", [
    ("no-clamp", "minor_dpo", "MinorDPO keeps the chosen log-ratio above 0"),
    ("dpop-sign", "dpop", "DPOP keeps the chosen log-ratio above 0"),
    ("wrong-reference", "dpo", "DPO displaces most chosen answers"),
])
def test_each_mutation_is_caught_naming_cells_and_claims(clean, tmp_path, capsys, mutation, variant, claim):
    suite, _, baseline = clean
    broken = tmp_path / mutation
    _run(suite, broken, HARNESS_MUTATION=mutation)
    capsys.readouterr()
    assert main(["regress", str(broken), "--baseline", str(baseline)]) == 1
    out = capsys.readouterr().out
    assert f"FAILED: {claim}" in out
    moved = out.split("moved beyond seed noise and floor:")[1].split("largest moves within noise")[0]
    assert f"name={variant}" in moved
