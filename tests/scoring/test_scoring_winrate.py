"""Win-rate and the cluster bootstrap: ties, alignment, and the CI's calibration."""

from __future__ import annotations

import numpy as np
import pytest

from harness.scoring.winrate import bootstrap_over_prompts, outcome, winrate


def test_outcomes_count_ties_half():
    assert (outcome(2, 1), outcome(1, 1), outcome(0, 1)) == (1.0, 0.5, 0.0)


def test_policy_against_itself_is_exactly_one_half():
    rewards = list(np.random.default_rng(0).normal(size=60))
    ids = [f"p{i // 3}" for i in range(60)]
    est = winrate(rewards, rewards, ids)
    assert est.value == 0.5 and est.ci_low <= 0.5 <= est.ci_high and est.n == 20


def test_ci_coverage_is_near_nominal():
    # two independent sample sets of one policy (no true difference), 200 times: about 95% of the
    # intervals must hold 0.5 (a single draw misses it 5% of the time, so one draw proves little)
    rng = np.random.default_rng(2)
    ids = [f"p{i // 2}" for i in range(80)]
    hits = 0
    for rep in range(200):
        a, b = rng.normal(size=80), rng.normal(size=80)
        est = winrate(list(a), list(b), ids, iters=400, seed=rep)
        hits += est.ci_low <= 0.5 <= est.ci_high
    assert 0.88 <= hits / 200 <= 0.99


def test_clear_winner_is_detected():
    ids = [f"p{i}" for i in range(50)]
    est = winrate([1.0] * 45 + [0.0] * 5, [0.5] * 50, ids)
    assert est.value == pytest.approx(0.9) and est.ci_low > 0.5


def test_bootstrap_resamples_prompts_not_samples():
    # 10 prompts x 20 identical samples: the interval must reflect 10 observations, not 200
    ids = [f"p{i // 20}" for i in range(200)]
    vals = [float(i // 20 % 2) for i in range(200)]
    est = bootstrap_over_prompts(vals, ids, seed=0)
    assert est.n == 10 and est.value == pytest.approx(0.5)
    assert est.ci_high - est.ci_low > 0.4  # ~ +-1.96*sqrt(.25/10)


def test_misaligned_inputs_are_rejected():
    with pytest.raises(ValueError, match="align"):
        winrate([1.0, 2.0], [1.0], ["a", "b"])
