"""`harness run suites/smoke.yaml` end to end, as CI and a user run it: SFT stage, 4 DPO/MinorDPO
runs, the suite's reward-model stage, vLLM generation, RM + verifier + KL scores, lm-eval on the
local harness_arith task, the report; then a second invocation that does nothing, and a
regression check against a baseline recorded from the same results.

Everything is asserted from the Parquet tables and files, never from logs. The first run is a
subprocess: the vLLM engine (in-process, VLLM_ENABLE_V1_MULTIPROCESSING=0) then leaves nothing
behind in the test process. About 1-2 minutes on 2 quiet cores, most of it the vLLM start.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.results.store import ResultStore
from harness.suite.grid import expand
from harness.suite.reward_stage import resolved_eval, stage_of
from harness.suite.spec import load_suite
from harness.suite.status import eval_hash

pytest.importorskip("vllm")
pytest.importorskip("lm_eval")

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "suites" / "smoke.yaml"
TABLES = ("runs", "steps", "generations", "scores", "evals", "lmeval")


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("smoke") / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1", "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
           "VLLM_CPU_KVCACHE_SPACE": "1"}
    proc = subprocess.run([sys.executable, "-m", "harness", "run", str(SMOKE), "--out", str(out)], env=env,
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    plan = expand(load_suite(SMOKE))
    return out, plan


def test_every_table_has_its_rows(smoke):
    out, plan = smoke
    store = ResultStore(out)
    grid = {r.run_id for r in plan.runs}
    (sft,) = plan.sft
    evaluated = grid | {sft.run_id}  # the SFT stage is the reference of every run

    runs = store.read("runs").set_index("run_id")
    assert set(runs.index) == evaluated and set(runs["status"]) == {"completed"}
    assert runs.at[sft.run_id, "suite"] == "smoke#sft" and set(runs.loc[list(grid), "suite"]) == {"smoke"}
    assert {(r.config.loss.name, r.config.loss.beta) for r in plan.runs} == {
        (n, b) for n in ("dpo", "minor_dpo") for b in (0.1, 0.5)}

    steps = store.read("steps")
    train = steps[steps["split"] == "train"]
    for r in plan.all:
        assert sorted(train.loc[train["run_id"] == r.run_id, "step"]) == list(range(1, r.config.train.steps + 1))

    n_prompts = plan.suite.spec.eval.generation.n_prompts
    gens = store.read("generations")
    assert gens.groupby("run_id").size().to_dict() == {rid: n_prompts for rid in evaluated}
    assert gens["engine_version"].str.startswith("vllm").all() and (gens["backend"] == "vllm").all()

    scores = store.read("scores")
    assert set(scores["run_id"]) == evaluated and len(scores) == len(gens)
    assert scores["correct"].notna().all() and scores["correct"].isin([0.0, 1.0]).all()
    assert scores["reward"].notna().all() and scores["kl"].notna().all()

    evals = store.read("evals")
    assert set(evals["eval_hash"]) == {eval_hash(resolved_eval(plan))}  # what the runner checks to skip

    def metric(name):
        return evals[evals["metric"] == name].set_index("run_id")

    assert set(metric("verifier_accuracy").index) == evaluated
    acc = metric("rm_heldout_accuracy")
    assert set(acc.index) == evaluated and acc["value"].between(0, 1).all()
    win = metric("winrate_vs_ref")
    assert set(win.index) == grid  # the reference is not compared with itself
    assert ((win["ci_low"] <= win["value"]) & (win["value"] <= win["ci_high"])).all()
    assert win["value"].between(0, 1).all()

    lm = store.read("lmeval")
    hits = lm[lm["task"] == "harness_arith"]
    assert set(hits["run_id"]) == evaluated and hits["value"].map(math.isfinite).all()


def test_reward_model_stage_trained_once_from_the_sft_checkpoint(smoke):
    import json

    out, plan = smoke
    stage = stage_of(resolved_eval(plan))
    assert stage.sft_id == plan.sft[0].run_id
    (trained,) = (out / "rm").iterdir()  # one RM, named by its recipe's hash
    assert trained == stage.dir(out)
    info = json.loads((trained / "rm.json").read_text())
    assert info["backbone"] == f"@sft:{stage.sft_id}" and info["hash"] == stage.hash
    config = json.loads((trained / "config.json").read_text())
    assert config["architectures"] == ["LlamaForSequenceClassification"] and config["pad_token_id"] is not None
    evals = ResultStore(out).read("evals")
    acc = evals[evals["metric"] == "rm_heldout_accuracy"]
    assert (acc["value"] == info["heldout_accuracy"]).all()  # every score came from this one RM


def test_report_files(smoke):
    out, _ = smoke
    for name in ("report.md", "report.tex", "report.html"):
        assert (out / name).stat().st_size > 0, name
    assert list(out.glob("*.png"))


def test_second_invocation_trains_and_evaluates_nothing(smoke, capsys):
    from harness.cli import main

    out, plan = smoke
    parts = sorted(p for table in TABLES for p in (out / table).rglob("*") if p.is_file())
    parts += sorted(p for p in (out / "rm").rglob("*") if p.is_file())
    before = {p: p.stat().st_mtime_ns for p in parts}
    assert main(["run", str(SMOKE), "--out", str(out), "--no-report"]) == 0
    assert f"{len(plan.runs)} runs ({len(plan.runs)} already done), 0 task(s)" in capsys.readouterr().out
    after = sorted(p for table in TABLES for p in (out / table).rglob("*") if p.is_file())
    after += sorted(p for p in (out / "rm").rglob("*") if p.is_file())
    assert after == parts and {p: p.stat().st_mtime_ns for p in after} == before


def test_regress_against_a_baseline_of_the_same_results(smoke, tmp_path, capsys):
    from harness.cli import main

    out, _ = smoke
    baseline = tmp_path / "baseline"
    assert main(["baseline", "record", str(out), "--to", str(baseline), "--reason", "smoke test"]) == 0
    assert main(["regress", str(out), "--baseline", str(baseline)]) == 0
