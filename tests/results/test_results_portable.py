"""Results that travel: a results folder moved to another directory (as if copied to another
machine) still reports, regresses, evaluates and resumes, because every path a table stores
is relative to the results folder and resolved against wherever it now is."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path  # noqa: F401

import pandas as pd
import pytest

SUITE = """\
name: portable
base: {model: {name: tiny-arith-sft}, data: {train: arith, options: {n_pairs: 120}, eval_size: 16},
       train: {steps: 6, batch_size: 8, threads: 1}}
sft: {train: {steps: 4}}
variants: [{name: dpo, set: {loss.name: dpo}}, {name: minor_dpo, set: {loss.name: minor_dpo}}]
grid: {train.seed: [0, 1]}
eval: {prompts: {data: arith, options: {split: test, n_pairs: 8}}, generation: {backend: hf, n_prompts: 8,
       max_new_tokens: 24, max_prompt_len: 16, max_model_len: 64}}
"""


def harness(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True,
                          timeout=600, cwd=cwd)


@pytest.fixture(scope="module")
def moved(tmp_path_factory):
    """Run the suite in one place (relative --out, from its own working directory), record a
    baseline there, then move the whole folder somewhere else and rename it."""
    home = tmp_path_factory.mktemp("home")
    (home / "portable.yaml").write_text(SUITE)
    p = harness("run", "portable.yaml", "--out", "results/portable", cwd=home)
    assert p.returncode == 0, p.stderr[-3000:]
    p = harness("baseline", "record", "results/portable", "--to", "baseline", "--reason", "portable test", cwd=home)
    assert p.returncode == 0, p.stderr[-3000:]
    away = tmp_path_factory.mktemp("elsewhere") / "copied-results"
    shutil.move(str(home / "results" / "portable"), away)
    shutil.move(str(home / "baseline"), away.parent / "baseline")
    shutil.rmtree(home)  # nothing of the old place is left to find by accident
    (away.parent / "portable.yaml").write_text(SUITE)
    return away


def test_stored_paths_are_relative_to_the_results_folder(moved):
    from harness.results import checkpoint_path

    runs = pd.read_parquet(moved / "runs")
    done = runs[runs["status"] == "completed"]
    assert len(done) == 5  # the SFT stage and 4 runs
    for row in done.itertuples():
        assert row.checkpoint == f"checkpoints/{row.run_id}/final"
        assert (checkpoint_path(moved, row.checkpoint) / "config.json").is_file()
    starts = runs[runs["name"] != "sft"]["model_dir"]
    assert starts.str.startswith("checkpoints/").all()  # the SFT stage they started from (and are referenced against)


def test_report_regress_and_resume_work_where_it_now_is(moved):
    p = harness("report", str(moved), cwd=moved.parent)
    assert p.returncode == 0, p.stderr[-2000:]
    assert (moved / "report.md").is_file()
    p = harness("regress", str(moved), "--baseline", str(moved.parent / "baseline"), cwd=moved.parent)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    before = {t: len(pd.read_parquet(moved / t)) for t in ("runs", "steps", "evals", "scores")}
    p = harness("run", str(moved.parent / "portable.yaml"), "--out", str(moved), cwd=moved.parent)
    assert p.returncode == 0, p.stderr[-2000:]
    after = {t: len(pd.read_parquet(moved / t)) for t in before}
    assert after == before  # everything was found done: nothing retrained, nothing duplicated


def test_eval_takes_a_run_id_of_the_moved_folder(moved):
    runs = pd.read_parquet(moved / "runs")
    rid = runs[(runs["name"] == "dpo") & (runs["status"] == "completed")]["run_id"].iloc[0]
    sft = runs[runs["name"] == "sft"]["run_id"].iloc[0]
    out = moved.parent / "re-eval"
    p = harness("eval", rid, "--reference", sft, "--results", str(moved), "--out", str(out),
                "--prompts", "arith", "--set", "prompts.options.split=test", "--set", "prompts.options.n_pairs=4",
                "--backend", "hf", "--set", "generation.max_new_tokens=8", cwd=moved.parent)
    assert p.returncode == 0, p.stderr[-2000:]
    evals = pd.read_parquet(out / "evals")
    assert set(evals["run_id"]) == {rid, sft}
