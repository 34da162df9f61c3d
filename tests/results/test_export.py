"""Hub-ready exports, offline: the per-sample tables as a `datasets` dataset with its card, and a
model card per checkpoint written from its `runs` and `evals` rows."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest
from builders import make_results


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = make_results(tmp_path_factory.mktemp("export") / "synthetic")
    from harness.results.store import ResultStore

    store = ResultStore(root)
    for rid in store.read("scores")["run_id"].unique():  # generations as harness.evaluation writes them
        scores = store.read("scores", rid)
        store.write("generations", rid, [{"run_id": rid, "prompt_id": p, "sample": 0, "prompt": f"q {p}",
                                          "completion": f"a {p}", "completion_tokens": 3, "finish_reason": "stop",
                                          "backend": "hf"} for p in scores["prompt_id"]])
    for rid in store.read("runs").query("status == 'completed'")["run_id"]:  # a checkpoint folder to hold a card
        (root / "checkpoints" / rid / "final").mkdir(parents=True)
    return root


def _harness(*args):
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True, timeout=300)


def test_hf_dataset_loads_from_disk_with_its_card(results, tmp_path):
    import datasets

    out = tmp_path / "ds"
    p = _harness("export", str(results), "--to", "hf-dataset", str(out))
    assert p.returncode == 0, p.stderr[-2000:]
    dd = datasets.load_from_disk(str(out))
    assert set(dd) == {"samples", "runs", "evals"}
    gens = pd.read_parquet(results / "generations")
    samples = dd["samples"].to_pandas()
    assert len(samples) == len(gens)  # one row per generated sample, none dropped by the joins
    assert {"completion", "reward", "correct", "kl", "loss_name", "beta", "lr_peak", "seed"} <= set(samples.columns)
    scores = pd.read_parquet(results / "scores").set_index(["run_id", "prompt_id", "sample"])["correct"]
    got = samples.set_index(["run_id", "prompt_id", "sample"])["correct"]
    assert got.sort_index().equals(scores.sort_index())  # joined on the sample key, not by position
    card = (out / "README.md").read_text()
    assert "load_from_disk" in card and "@article{xie2024minordpo" in card and "`samples`" in card


def test_model_cards_come_from_the_runs_row(results):
    p = _harness("export", str(results), "--to", "model-cards")
    assert p.returncode == 0, p.stderr[-2000:]
    runs = pd.read_parquet(results / "runs")
    done = runs[runs["status"] == "completed"]
    row = done.iloc[0]
    assert p.stdout.count("wrote") == len(done)
    text = (results / "checkpoints" / row["run_id"] / "final" / "README.md").read_text()
    assert f"`{row['loss_name']}`" in text and f"{row['beta']:g}" in text and str(row["steps"]) in text


def test_model_card_text_names_loss_beta_lr_steps_data_and_metrics():
    from harness.results.export import model_card

    row = {"run_id": "abc", "suite": "s", "name": "minor_dpo", "loss_name": "minor_dpo", "beta": 0.1,
           "lr_peak": 1e-3, "seed": 2, "steps": 100, "model": "tiny-arith-sft", "dataset": "arith", "git_sha": "deadbee",
           "config_json": '{"train": {"batch_size": 16}, "data": {"options": {"n_pairs": 2000}}}'}
    evals = pd.DataFrame([{"metric": "verifier_accuracy", "value": 0.97, "ci_low": 0.94, "ci_high": 0.99, "n": 128}])
    text = model_card(row, evals)
    for s in ("minor_dpo", "β=0.1", "lr=0.001", "| steps | 100 |", "`arith`", "n_pairs", "verifier_accuracy",
              "0.97", "0.94 – 0.99", "| 128 |", "seed 2"):
        assert s in text, s
