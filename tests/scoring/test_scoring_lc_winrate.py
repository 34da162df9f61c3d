"""Length-controlled win-rate (harness.scoring.lc_winrate) against an independent fit (scikit-learn),
and what it must do: equal lengths give the raw win-rate; a judge that only likes length gives 50%."""

from __future__ import annotations

import warnings

import numpy as np
import pytest


def _data(n=300, seed=0, bias=0.08, base=0.3):
    rng = np.random.default_rng(seed)
    d = rng.integers(-20, 21, n).astype(float)
    p_win = 1 / (1 + np.exp(-(base + bias * d)))
    u = rng.random(n)
    policy = np.where(u < p_win, 1.0, -1.0)
    policy[rng.random(n) < 0.1] = 0.0  # ties
    ref_tokens = rng.integers(10, 40, n).astype(float)
    return policy, np.zeros(n), ref_tokens + d, ref_tokens, [f"p{i}" for i in range(n)]


def test_the_fit_matches_scikit_learn():
    from sklearn.linear_model import LogisticRegression

    from harness.scoring.lc_winrate import fit, lc_winrate, outcomes

    policy, ref, pt, rt, ids = _data()
    y, d = outcomes(policy, ref), pt - rt
    a, b = fit(y, d)[0]
    # independent: ties as one win and one loss of weight 1/2 each, no penalty, lbfgs
    X = np.concatenate([d, d])[:, None]
    labels = np.concatenate([np.ones_like(y), np.zeros_like(y)])
    weights = np.concatenate([y, 1 - y])
    keep = weights > 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            model = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000)
        except TypeError:
            model = LogisticRegression(penalty=None, tol=1e-12, max_iter=10_000)
        model.fit(X[keep], labels[keep], sample_weight=weights[keep])
    assert a == pytest.approx(model.intercept_[0], rel=1e-4)
    assert b == pytest.approx(model.coef_[0, 0], rel=1e-4)
    est = lc_winrate(policy, ref, pt, rt, ids, iters=300)
    want = 1 / (1 + np.exp(-model.intercept_[0]))
    assert est.value == pytest.approx(want, rel=1e-4)
    assert est.ci_low < est.value < est.ci_high and est.n == 300


def test_equal_lengths_give_the_raw_win_rate():
    from harness.scoring.lc_winrate import lc_winrate, outcomes

    policy, ref, _, rt, ids = _data()
    est = lc_winrate(policy, ref, rt, rt, ids, iters=200)
    assert est.value == pytest.approx(outcomes(policy, ref).mean(), abs=1e-9)
    assert est.slope == pytest.approx(0.0, abs=1e-6)


def test_a_judge_that_only_likes_length_is_corrected_to_half():
    from harness.scoring.lc_winrate import lc_winrate, outcomes

    policy, ref, pt, rt, ids = _data(n=2000, base=0.0, bias=0.15)
    shift = 8.0  # the policy writes longer answers: its raw win-rate rises, its LC win-rate does not
    rng = np.random.default_rng(3)
    d = rng.normal(shift, 6, len(pt)).round()
    p_win = 1 / (1 + np.exp(-0.15 * d))
    policy_long = np.where(rng.random(len(pt)) < p_win, 1.0, -1.0)
    raw = outcomes(policy_long, ref).mean()
    est = lc_winrate(policy_long, ref, rt + d, rt, ids, iters=300)
    assert raw > 0.65
    assert est.ci_low < 0.5 < est.ci_high


def test_bootstrap_keeps_the_samples_of_a_prompt_together():
    from harness.scoring.lc_winrate import lc_winrate

    policy, ref, pt, rt, ids = _data(n=200)
    one = lc_winrate(policy, ref, pt, rt, ids, iters=400)
    # the same rows declared as 4 samples of 50 prompts: fewer independent units, a wider interval
    grouped = lc_winrate(policy, ref, pt, rt, [f"p{i % 50}" for i in range(200)], iters=400)
    assert grouped.value == pytest.approx(one.value)
    assert grouped.n == 50
