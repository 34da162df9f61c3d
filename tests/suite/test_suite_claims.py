"""A suite's `report.claims` are checked when the suite loads (harness.suite.claims): a claim the
grid cannot test is exit 2 naming `report.claims[N].<field>`, with "did you mean", before any
training. Each row edits one claim of the shipped main job; `harness run` (not a dry run) must
stop at load: no traceback, no results folder."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harness.cli import main

ROOT = Path(__file__).resolve().parents[2]
MAIN = ROOT / "suites" / "minordpo-arith.yaml"

# (id, claim index, field, value, words the one-line message must name)
CASES = [
    ("metric-typo", 0, "metric", "final_logratio_chosn",
     ["report.claims[0].metric", "unknown metric 'final_logratio_chosn'", "did you mean 'final_logratio_chosen'"]),
    ("where-variant-typo", 0, "where", {"variant": "minor_dpoo"},
     ["report.claims[0].where.variant", "'minor_dpoo' names no variant", "did you mean 'minor_dpo'"]),
    ("where-key-typo", 1, "where", {"varient": "dpo", "lr": "max"},
     ["report.claims[1].where.varient", "not a key of the grid's runs", "did you mean 'variant'"]),
    ("where-value-not-in-grid", 1, "where", {"variant": "dpo", "lr": 0.5},
     ["report.claims[1].where.lr", "0.5 names no value of train.learning_rate", "0.0002, 0.001"]),
    ("than-variant-typo", 2, "than", {"variant": "dpoo"},
     ["report.claims[2].than.variant", "'dpoo' names no variant", "did you mean 'dpo'"]),
    ("by-typo", 2, "by", ["lrr"], ["report.claims[2].by[0]", "'lrr'", "did you mean 'lr'"]),
]


@pytest.mark.parametrize("case, index, key, value, words", CASES, ids=[c[0] for c in CASES])
def test_a_claim_the_grid_cannot_test_is_refused_at_load(tmp_path, capsys, case, index, key, value, words):
    data = yaml.safe_load(MAIN.read_text())
    data["report"]["claims"][index][key] = value
    suite = tmp_path / "suite.yaml"
    suite.write_text(yaml.safe_dump(data, sort_keys=False))
    out = tmp_path / "out"
    assert main(["run", str(suite), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    for word in words:
        assert word in err, (word, err)
    if key == "where" and "variant" in value:
        assert "metric" not in err  # a where: typo does not blame the metric
    assert not out.exists()  # refused before any work


def test_an_eval_metric_without_an_eval_section_is_refused():
    from harness.errors import ConfigError
    from harness.suite.spec import suite_from_dict

    data = {"name": "t", "base": {"model": {"name": "tiny"}, "data": {"train": "arith"}},
            "grid": {"loss.name": ["dpo", "minor_dpo"]},
            "report": {"claims": [{"kind": "sign", "text": "x", "metric": "verifier_accuracy"}]}}
    with pytest.raises(ConfigError, match=r"report.claims\[0\].metric: 'verifier_accuracy' comes from the evaluation"):
        suite_from_dict(data, source="t.yaml")


def test_the_shipped_claims_load_and_a_pinned_axis_keeps_them_valid():
    from harness.suite.spec import load_suite

    load_suite(MAIN)
    load_suite(MAIN, ["grid.train.learning_rate=[1e-3]"])  # lr: max and by: [lr] still mean something
