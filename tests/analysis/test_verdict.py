"""The verdict: sign and paired-difference claims on a synthetic results folder (test_report's),
recomputed by hand; and the reward-model gate (at chance: no reward findings, no reward regress)."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from builders import make_results

from harness.analysis.frame import load_results
from harness.analysis.verdict import verdict
from harness.results.store import ResultStore


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return make_results(tmp_path_factory.mktemp("verdict") / "synthetic")


def _one(res, **claim):
    [finding] = verdict(res, [{"text": "claim", **claim}])
    return finding


def test_sign_claims_hold_and_fail_per_cell(results):
    res = load_results(results)
    up = _one(res, kind="sign", metric="final_logratio_chosen", where={"variant": "minor_dpo"}, op=">", value=0)
    assert up.status == "holds" and "4 holds of 4 cells" in up.detail and "12/12 runs" in up.detail
    down = _one(res, kind="sign", metric="final_logratio_chosen", where={"variant": "dpo", "lr": "max"}, op=">", value=0)
    assert down.status == "fails" and "fails" in down.detail
    assert str(down).startswith("✗ claim: ")


def test_difference_is_paired_over_seeds_and_averaged_over_beta(results):
    res = load_results(results)
    f = _one(res, kind="difference", metric="verifier_accuracy", where={"variant": "minor_dpo"},
             than={"variant": "dpo"}, by=["lr"])
    # by hand: per seed, the mean over beta of accuracy(minor_dpo) - accuracy(dpo), then over seeds
    scores = pd.read_parquet(results / "scores").groupby("run_id")["correct"].mean()
    runs = res.runs.set_index("run_id")
    acc = runs.join(scores.rename("acc"))
    want = {}
    for lr, g in acc.groupby("train.learning_rate"):
        per_seed = []
        for _seed, s in g.groupby("seed"):
            a = s[s["name"] == "minor_dpo"].set_index("loss.beta")["acc"]
            b = s[s["name"] == "dpo"].set_index("loss.beta")["acc"]
            if a.notna().all() and b.reindex(a.index).notna().all():
                per_seed.append(float((a - b.reindex(a.index)).mean()))
        want[lr] = np.mean(per_seed)
    for lr, value in want.items():
        assert f"lr={lr:.4g}: {value:+.3f}" in f.detail
    assert "paired over" in f.detail and "held-out prompts" in f.detail and "averaged over β" in f.detail


def test_a_control_without_beta_pairs_with_every_beta(results):
    res = load_results(results)
    f = _one(res, kind="difference", metric="verifier_accuracy", where={"variant": "minor_dpo"},
             than={"variant": "sft"}, by=["lr"])
    assert f.detail.count("lr=") == 2 and f.status in ("holds", "not shown")


def test_a_reward_model_at_chance_produces_no_reward_findings(results, tmp_path, capsys):
    from harness.cli import main
    from harness.report import write_report

    chance = tmp_path / "chance"
    shutil.copytree(results, chance)
    ResultStore(chance).write("evals", "rm-signal", [{"run_id": "rm", "metric": "rm_heldout_accuracy",
                                                      "value": 0.52, "n": 100}])
    res = load_results(chance)
    assert res.rm is not None and not res.rm.informative  # Wilson interval 0.42-0.62 includes 0.5
    f = _one(res, kind="sign", metric="reward_mean", where={"variant": "minor_dpo"}, op=">", value=0)
    assert f.status == "no signal"
    write_report(chance, plots=False)
    md = (chance / "report.md").read_text()
    main_table = md.split("## Main results")[1].split("##")[0]
    assert "| reward |" not in main_table and "win-rate" not in main_table and "verifier acc" in main_table
    assert "at chance here, so its rewards and win-rates are not findings" in md
    # regress does not test what the reward model says either
    assert main(["baseline", "record", str(chance), "--to", str(tmp_path / "b"), "--reason", "x"]) == 0
    capsys.readouterr()
    assert main(["regress", str(chance), "--baseline", str(tmp_path / "b")]) == 0
    assert "not tested (no signal): reward_mean, winrate_vs_ref" in capsys.readouterr().out
