"""Which pairs displace (harness.analysis.pairs): quantile shares and Spearman's rho against direct
computations, the two-way bootstrap's coverage of what it should, the `quantile` claim in the verdict
and in regress expectations, and the report section it adds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from builders import make_results

from harness.analysis.frame import aggregate, load_results
from harness.analysis.pairs import by_quantile, load_pairs, quantile_of, spearman
from harness.analysis.verdict import verdict
from harness.results.store import ResultStore

N_PAIRS = 60


def _frame(n_seeds=3, n_pairs=N_PAIRS, slope=1.0, seed=0):
    """Long rows (seed, pair_index, ches, displaced, chosen_logratio): displaced when ches is high."""
    rng = np.random.default_rng(seed)
    ches = rng.normal(size=n_pairs)
    rows = []
    for s in range(n_seeds):
        r_w = -slope * ches + rng.normal(0, 0.5, n_pairs) + 0.1 * s
        rows += [{"seed": s, "pair_index": j, "ches": ches[j], "edit_distance": j % 4, "chosen_logratio": r_w[j],
                  "displaced": bool(r_w[j] < 0)} for j in range(n_pairs)]
    return pd.DataFrame(rows)


def test_quantile_shares_are_the_direct_means():
    f = _frame()
    q = by_quantile(f, "ches", bins=5, iters=200)
    per_pair = f.groupby("pair_index").agg(ches=("ches", "first"), d=("displaced", "mean"))
    order = per_pair.sort_values("ches", kind="stable")
    want = [order["d"].iloc[k * 12:(k + 1) * 12].mean() for k in range(5)]
    assert [s.value for s in q.shares] == pytest.approx(want)
    assert q.top_minus_bottom.value == pytest.approx(want[-1] - want[0])
    assert q.top_minus_bottom.ci_low > 0  # a strong trend is shown
    assert all(s.ci_low <= s.value <= s.ci_high for s in q.shares)
    assert (q.pairs, q.seeds) == (N_PAIRS, 3)
    assert sorted(np.bincount(quantile_of(np.zeros(10), 5))) == [2] * 5  # ties split by pair order


def test_spearman_is_the_mean_of_per_seed_rhos():
    from scipy.stats import spearmanr

    f = _frame()
    rho = spearman(f, "ches", "chosen_logratio", iters=300)
    want = np.mean([spearmanr(g["ches"], g["chosen_logratio"]).statistic for _, g in f.groupby("seed")])
    assert rho.value == pytest.approx(want)
    assert rho.ci_high < 0 and rho.ci_low < rho.value < rho.ci_high
    flat = spearman(_frame(slope=0.0), "ches", "chosen_logratio", iters=300)
    assert flat.ci_low < 0 < flat.ci_high  # no trend: the interval covers 0


def test_the_interval_carries_seed_to_seed_variation():
    """A seed effect that moves every pair at once widens the interval: resampling pairs alone would not."""
    quiet = _frame(slope=0.0)
    loud = quiet.copy()
    shift = {0: -2.0, 1: 0.0, 2: 2.0}
    loud["chosen_logratio"] = loud["chosen_logratio"] + loud["seed"].map(shift) * (loud["ches"] > 0)
    a, b = spearman(quiet, iters=400), spearman(loud, iters=400)
    assert (b.ci_high - b.ci_low) > 1.5 * (a.ci_high - a.ci_low)


def _with_pairs(root, dpo_slope=3.0):
    """The synthetic folder with a `pairs` table: at the high lr DPO displaces the high-CHES pairs."""
    res = load_results(root)
    store = ResultStore(root)
    ches = np.random.default_rng(1).normal(size=N_PAIRS)
    top = max(res.runs["train.learning_rate"])
    for i, r in enumerate(res.runs.to_dict("records")):
        rng = np.random.default_rng(i)
        high = r["name"] == "dpo" and r["train.learning_rate"] == top
        r_w = (-dpo_slope * ches if high else np.zeros(N_PAIRS)) + rng.normal(0, 0.5, N_PAIRS) + (0 if high else 1)
        store.write("pairs", r["run_id"], [
            {"run_id": r["run_id"], "prompt_id": f"q{j}", "chosen_logratio": float(r_w[j]), "rejected_logratio": -1.0,
             "margin": float(r_w[j]) + 1, "displaced": bool(r_w[j] < 0), "pair_index": j, "split": "eval",
             "step": 40, "prompt_tokens": 5, "chosen_tokens": 7, "rejected_tokens": 7, "shared_prefix_tokens": 3,
             "edit_distance": j % 3 + 1, "ches": float(ches[j]), "ches_mean": float(ches[j]) / 7}
            for j in range(N_PAIRS)])
    return root


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return _with_pairs(make_results(tmp_path_factory.mktemp("pairs") / "synthetic"))


CLAIM = {"kind": "quantile", "text": "DPO displaces the top CHES quintile more", "metric": "pair_displaced",
         "where": {"variant": "dpo", "lr": "max"}, "feature": "ches", "bins": 5, "op": ">", "value": 0}


def test_quantile_claim_holds_fails_and_is_not_shown(results):
    res = load_results(results)
    assert len(load_pairs(res)) == N_PAIRS * len(res.runs[res.runs["status"] == "completed"])
    [up, down, flat] = verdict(res, [CLAIM, {**CLAIM, "op": "<"}, {**CLAIM, "where": {"variant": "minor_dpo"}}])
    assert up.status == "holds" and "top − bottom" in up.detail and "bootstrap over 60 pairs" in up.detail
    assert down.status == "fails"
    assert flat.status == "not shown" and flat.unresolved


def test_quantile_claim_as_a_regress_expectation(results):
    from types import SimpleNamespace

    from harness.regress.checks import check_expectations

    res = load_results(results)
    agg = aggregate(res)
    [ok] = check_expectations(SimpleNamespace(expectations=[CLAIM]), res, agg)
    [bad] = check_expectations(SimpleNamespace(expectations=[{**CLAIM, "op": "<"}]), res, agg)
    assert ok.ok and not bad.ok and "FAILED" in bad.describe()


def test_quantile_claim_is_checked_when_it_loads(results):
    from harness.errors import HarnessError

    with pytest.raises(HarnessError, match="feature"):
        verdict(load_results(results), [{**CLAIM, "feature": "chess"}])
    with pytest.raises(HarnessError, match="bins"):
        verdict(load_results(results), [{**CLAIM, "bins": 1}])


def test_a_folder_without_pairs_is_not_shown_and_has_no_section(tmp_path):
    from harness.report import write_report

    root = make_results(tmp_path / "old")
    [f] = verdict(load_results(root), [CLAIM])
    assert f.status == "not shown" and "no `pairs` table" in f.detail
    write_report(root, plots=False, formats=("md",))
    assert "Which pairs displace" not in (root / "report.md").read_text()


def test_report_section_and_plot(results):
    from harness.report import write_report

    written = write_report(results, plots=True, formats=("md",))
    text = (results / "report.md").read_text()
    assert "## Which pairs displace" in text and "ρ(CHES, r_w)" in text and "top − bottom CHES quintile" in text
    assert any(p.name == "displacement_by_ches.png" for p in written)
    assert "displacement_by_ches.png" in text


def test_protection_finds_the_pairs_the_worst_series_displaces():
    from harness.analysis.pairs import protection

    rng = np.random.default_rng(0)
    hard = rng.random(N_PAIRS) < 0.4  # the pairs every "dpo" run displaces
    rows = []
    for run in range(6):
        for j in range(N_PAIRS):
            rows.append({"series": "dpo", "run_id": f"d{run}", "pair_index": j, "displaced": bool(hard[j])})
            rows.append({"series": "same", "run_id": f"s{run}", "pair_index": j,
                         "displaced": bool(hard[j] and rng.random() < 0.3)})
            rows.append({"series": "blind", "run_id": f"b{run}", "pair_index": j, "displaced": run == 0})  # 1/6 of all
    frame = pd.DataFrame(rows)
    out = {p.other: p for p in protection(frame, "series", iters=400)}
    assert set(out) == {"same", "blind"} and out["same"].worst == "dpo"
    same = frame[frame["series"] == "same"].groupby("pair_index")["displaced"].mean()
    assert out["same"].on_displaced.value == pytest.approx(same[hard].mean())  # the direct mean
    assert out["same"].on_rest.value == 0 and out["same"].difference.ci_low > 0.05
    assert out["blind"].difference.ci_low <= 0 <= out["blind"].difference.ci_high
    assert out["blind"].on_displaced.value == pytest.approx(1 / 6)
    assert out["same"].n_displaced == hard.sum()
