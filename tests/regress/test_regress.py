"""Regression against baselines: record, compare within tolerance, flag what moved, refuse bad
input, and evaluate stated expectations. Uses the synthetic results folder of test_report."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from builders import make_results

from harness.cli import main
from harness.errors import HarnessError

EXPECTATIONS = [
    {"name": "minor_dpo keeps the sft control's verifier accuracy", "metric": "verifier_accuracy",
     "where": {"variant": "minor_dpo"}, "op": ">=", "than": {"where": {"variant": "sft"}, "offset": -0.03}},
    {"name": "dpo at the high learning rate ends with a negative chosen log-ratio",
     "metric": "final_logratio_chosen", "where": {"variant": "dpo", "lr": "max"}, "op": "<", "value": 0,
     "stat": "max"},
]


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    return make_results(tmp_path_factory.mktemp("reg") / "synthetic")


@pytest.fixture(scope="module")
def variant_of(tmp_path_factory):
    """make_results(shift=..., variants=...), built once per module: tests only read them."""
    cache: dict = {}

    def make(metric: str, delta: float, variants=("dpo", "minor_dpo", "sft"), suite_name="synthetic") -> Path:
        key = (metric, delta, variants, suite_name)
        if key not in cache:
            cache[key] = make_results(tmp_path_factory.mktemp("variant") / suite_name, shift={metric: delta},
                                      variants=variants, suite_name=suite_name)
        return cache[key]

    return make


@pytest.fixture
def baseline(results, tmp_path) -> Path:
    to = tmp_path / "baselines" / "synthetic"
    assert main(["baseline", "record", str(results), "--to", str(to), "--reason", "first recording"]) == 0
    return to


def _edit(baseline: Path, **changes) -> None:
    path = baseline / "baseline.yaml"
    doc = yaml.safe_load(path.read_text())
    doc.update(changes)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def test_recorded_baseline_is_reviewable(baseline):
    doc = yaml.safe_load((baseline / "baseline.yaml").read_text())
    assert doc["suite"] == "synthetic" and doc["reason"] == "first recording"
    assert doc["keys"] == ["name", "loss.name", "loss.beta", "train.learning_rate"]
    assert doc["env"]["versions"]["harness"] and doc["recorded"]
    assert doc["tolerances"]["diverged"] == {"abs": 0.0, "rel": 0.0, "direction": "both"}
    assert doc["tolerances"]["final_logratio_chosen"] == {"abs": 0.5, "rel": 0.25, "direction": "both"}
    assert doc["test"] == {"alpha": 0.05, "correction": "holm"}
    import pandas as pd

    metrics = pd.read_parquet(baseline / "metrics.parquet")
    assert {"name", "loss.beta", "metric", "n", "mean", "std", "ci_low", "ci_high", "values"} <= set(metrics.columns)


def test_same_results_pass(results, baseline, capsys):
    assert main(["regress", str(results), "--baseline", str(baseline)]) == 0
    assert "REGRESSION" not in capsys.readouterr().out


def test_perturbed_copy_fails_naming_the_metric(baseline, tmp_path, capsys, variant_of):
    moved = variant_of("final_logratio_chosen", -1.0, ("minor_dpo",))
    assert main(["regress", str(moved), "--baseline", str(baseline)]) == 1
    out = capsys.readouterr().out
    assert "final_logratio_chosen" in out and "REGRESSION" in out
    flagged = [line for line in out.splitlines() if "final_logratio_chosen" in line]
    assert all("name=minor_dpo" in line for line in flagged) and len(flagged) == 4
    assert "-1" in flagged[0]  # the delta is printed


def test_moves_within_seed_noise_or_below_the_floor_pass(results, tmp_path, capsys, variant_of):
    """A move passes unless Welch's t over seeds rejects (after Holm) AND it exceeds the floor."""
    to = tmp_path / "b"
    assert main(["baseline", "record", str(results), "--to", str(to), "--reason", "x"]) == 0
    doc = yaml.safe_load((to / "baseline.yaml").read_text())
    tol = doc["tolerances"]
    tol["final_logratio_chosen"] = {"abs": 0.0}  # no floor: the test alone decides
    _edit(to, tolerances=tol)
    nudged = variant_of("final_logratio_chosen", 0.01)  # seed sd 0.05: noise
    assert main(["regress", str(nudged), "--baseline", str(to)]) == 0
    assert main(["regress", str(variant_of("final_logratio_chosen", 1.0)), "--baseline", str(to)]) == 1
    # significant without correction, but below a practical floor of 0.5: not a regression
    from harness.regress import compare

    def flagged(path) -> set[str]:
        return {d.metric for d in compare(path, to).regressions}

    _edit(to, tolerances={**tol, "final_logratio_chosen": {"abs": 0.5}}, test={"alpha": 0.05, "correction": "none"})
    small = variant_of("final_logratio_chosen", 0.3)
    assert "final_logratio_chosen" not in flagged(small)
    _edit(to, tolerances={**tol, "final_logratio_chosen": {"abs": 0.0}})
    assert "final_logratio_chosen" in flagged(small)
    assert main(["regress", str(small), "--baseline", str(to)]) == 1
    assert "no multiple-comparison correction" in capsys.readouterr().out


def test_holm_controls_the_family_wise_error_of_clean_reruns(results):
    """Baseline and 'rerun' drawn from the same seed distribution: at most alpha of clean reruns
    may flag anything (Welch + Holm over every cell x metric)."""
    import numpy as np

    from harness.analysis.stats import holm, welch

    rng = np.random.default_rng(0)
    alarms = 0
    for _ in range(200):
        ps = [welch(rng.normal(0, 1, 3), rng.normal(0, 1, 3)).p for _ in range(100)]
        alarms += min(holm(ps)) < 0.05
    assert alarms / 200 <= 0.08  # 0.05 nominal; Welch with 3 seeds a side is conservative


def test_direction_worse_ignores_improvements(results, baseline, tmp_path, variant_of):
    tol = yaml.safe_load((baseline / "baseline.yaml").read_text())["tolerances"]
    for name in tol:
        tol[name] = {**tol[name], "direction": "worse"}
    _edit(baseline, tolerances=tol)
    better = variant_of("verifier_accuracy", 0.5)
    assert main(["regress", str(better), "--baseline", str(baseline)]) == 0
    worse = variant_of("verifier_accuracy", -0.5)
    assert main(["regress", str(worse), "--baseline", str(baseline)]) == 1


def test_mismatched_grid_is_bad_input(results, baseline, tmp_path, capsys):
    partial = tmp_path / "partial"
    shutil.copytree(results, partial)
    from harness.analysis.frame import load_results

    res = load_results(results)
    cell = res.runs["cell"].iloc[0]
    for rid in res.runs.loc[res.runs["cell"] == cell, "run_id"]:
        (partial / "runs" / f"{rid}.parquet").unlink()
    assert main(["regress", str(partial), "--baseline", str(baseline)]) == 2
    assert "mismatched grid" in capsys.readouterr().err


def test_missing_metric_is_bad_input(results, baseline, tmp_path, capsys):
    no_evals = tmp_path / "no-evals"
    shutil.copytree(results, no_evals)
    shutil.rmtree(no_evals / "evals")
    assert main(["regress", str(no_evals), "--baseline", str(baseline)]) == 2
    assert "missing metric(s) ['kl_mean', 'reward_mean', 'verifier_accuracy', 'winrate_vs_ref']" in capsys.readouterr().err


def test_bad_baseline_file_names_the_key(results, baseline, capsys):
    _edit(baseline, tolerances={"winrate_vs_ref": {"absolute": 0.1}})
    assert main(["regress", str(results), "--baseline", str(baseline)]) == 2
    assert "baseline.yaml: tolerances.winrate_vs_ref.absolute: unknown key" in capsys.readouterr().err


def test_expectations_hold_then_break(results, baseline, tmp_path, capsys, variant_of):
    _edit(baseline, expectations=EXPECTATIONS)
    assert main(["regress", str(results), "--baseline", str(baseline)]) == 0
    assert "6/6 expectation checks hold" in capsys.readouterr().out  # 4 minor_dpo cells + 2 dpo cells
    worse = variant_of("verifier_accuracy", -0.25, ("minor_dpo",))
    assert main(["regress", str(worse), "--baseline", str(baseline)]) == 1
    out = capsys.readouterr().out
    assert "FAILED: minor_dpo keeps the sft control's verifier accuracy" in out


def test_expectation_errors_are_bad_input(results, baseline, capsys):
    bad = [{**EXPECTATIONS[0], "where": {"colour": "red"}}]
    _edit(baseline, expectations=bad)
    assert main(["regress", str(results), "--baseline", str(baseline)]) == 2
    assert "'colour' is not a grid key" in capsys.readouterr().err
    _edit(baseline, expectations=[{**EXPECTATIONS[1], "value": None}])
    assert main(["regress", str(results), "--baseline", str(baseline)]) == 2
    assert "give exactly one of `value` and `than`" in capsys.readouterr().err


def test_rerecording_keeps_reviewed_text_and_refuses_other_suites(results, baseline, tmp_path, variant_of):
    from harness.regress import record_baseline

    tol = yaml.safe_load((baseline / "baseline.yaml").read_text())["tolerances"]
    tol["winrate_vs_ref"] = {"abs": 0.2, "direction": "worse"}
    _edit(baseline, test={"alpha": 0.01, "correction": "bh"})
    _edit(baseline, expectations=EXPECTATIONS, tolerances=tol)
    b = record_baseline(results, baseline, reason="second recording")
    assert b.file.tolerances["winrate_vs_ref"].abs == 0.2 and len(b.file.expectations) == 2
    assert b.file.test.correction == "bh" and b.file.test.alpha == 0.01
    assert yaml.safe_load((baseline / "baseline.yaml").read_text())["reason"] == "second recording"
    other = variant_of("final_logratio_chosen", 0.0, suite_name="other-suite")
    with pytest.raises(HarnessError, match="holds a baseline of suite 'synthetic'"):
        record_baseline(other, baseline, reason="oops")
    broken = variant_of("verifier_accuracy", -0.25, ("minor_dpo",))
    with pytest.raises(HarnessError, match="breaks the stated expectations"):
        record_baseline(broken, baseline, reason="worse")
    record_baseline(broken, baseline, reason="accepted on purpose", force=True)


def test_record_needs_a_reason(results, tmp_path):
    from harness.regress import record_baseline

    with pytest.raises(HarnessError, match="needs a --reason"):
        record_baseline(results, tmp_path / "b", reason="  ")


def test_an_interrupted_baseline_recording_is_refused(tmp_path, capsys, monkeypatch):
    from harness.regress import baseline as bl

    results = make_results(tmp_path / "synthetic")
    to = tmp_path / "baseline"
    assert main(["baseline", "record", str(results), "--to", str(to), "--reason", "first"]) == 0
    shifted = make_results(tmp_path / "other", shift={"final_logratio_chosen": 5.0})

    def killed(path, text):  # the process dies after metrics.parquet, before baseline.yaml
        raise KeyboardInterrupt

    monkeypatch.setattr("harness.atomic.write_text_atomic", killed)
    with pytest.raises(KeyboardInterrupt):
        bl.record_baseline(shifted, to, reason="second", force=True)
    monkeypatch.undo()
    capsys.readouterr()
    assert main(["regress", str(shifted), "--baseline", str(to)]) == 2
    err = capsys.readouterr().err
    assert "metrics.parquet: does not match the metrics_sha256" in err and "re-record" in err
    assert not list(to.glob(".*.tmp"))  # no stray temporaries either
    assert main(["baseline", "record", str(shifted), "--to", str(to), "--reason", "again", "--force"]) == 0
    assert main(["regress", str(shifted), "--baseline", str(to)]) == 0


def test_baseline_records_the_precision_and_regress_says_when_it_differs(results, baseline, tmp_path, capsys):
    """Results computed in bf16 compared with an fp32 baseline: said on its own line, before the cells."""
    doc = yaml.safe_load((baseline / "baseline.yaml").read_text())
    assert doc["dtype"] == "float32"
    assert main(["regress", str(results), "--baseline", str(baseline)]) == 0
    assert "ACROSS PRECISIONS" not in capsys.readouterr().out
    bf16 = make_results(tmp_path / "bf16" / "synthetic", dtype="bfloat16")
    main(["regress", str(bf16), "--baseline", str(baseline)])
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if "ACROSS PRECISIONS" in ln)
    assert "recorded in float32" in line and "computed in bfloat16" in line
    assert out.index("ACROSS PRECISIONS") < out.index("stated expectations")
