"""harness.analysis.stats: the tests and intervals regress and the verdict rely on, against scipy or by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sp

from harness.analysis.stats import auc_with_interval, benjamini_hochberg, holm, welch, wilson_interval


@pytest.mark.parametrize("a, b", [([1.0, 2.0, 3.0], [4.0, 5.5, 6.0]), ([0.2, 0.25, 0.21, 0.3], [0.1, 0.4, 0.3])])
def test_welch_matches_scipy(a, b):
    ours = welch(a, b)
    ref = sp.ttest_ind(b, a, equal_var=False)
    assert ours.t == pytest.approx(ref.statistic) and ours.p == pytest.approx(ref.pvalue)
    assert welch(a, b, alternative="greater").p == pytest.approx(sp.ttest_ind(b, a, equal_var=False,
                                                                              alternative="greater").pvalue)


def test_welch_degenerate_cases():
    assert welch([0, 0, 0], [0, 0, 0]).p == 1.0  # no spread, no move
    assert welch([0, 0, 0], [1, 1, 1]).p == 0.0  # no spread, a move: only the floor can excuse it
    assert welch([0, 0, 0], [1, 1, 1], alternative="less").p == 1.0  # an improvement, tested one-sided
    one = welch([1.0], [2.0, 3.0, 5.0])  # one seed borrows the other side's variance (and its df)
    assert 0 < one.p < 1 and one.df == pytest.approx(3.2, rel=1e-6)
    assert math.isnan(welch([], [1.0]).p)


def test_holm_and_bh_adjustments():
    ps = [0.01, 0.04, 0.03, math.nan]
    assert holm(ps)[:3] == pytest.approx([0.03, 0.06, 0.06]) and math.isnan(holm(ps)[3])
    assert benjamini_hochberg([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.04, 0.04])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1, monotone


def test_wilson_interval_covers_and_stays_in_range():
    lo, hi = wilson_interval(70, 100)
    assert lo == pytest.approx(0.6042, abs=1e-4) and hi == pytest.approx(0.7811, abs=1e-4)
    lo, hi = wilson_interval(400, 400)
    assert hi == pytest.approx(1.0) and 0.98 < lo < 1.0


def test_auc_with_interval():
    rng = np.random.default_rng(0)
    labels = [1] * 200 + [0] * 200
    scores = list(rng.normal(1.0, 1.0, 200)) + list(rng.normal(0.0, 1.0, 200))
    auc, lo, hi = auc_with_interval(scores, labels)
    assert auc == pytest.approx(sp.mannwhitneyu(scores[:200], scores[200:]).statistic / 200 / 200)
    assert lo < auc < hi and 0.7 < auc < 0.83  # the normal-shift AUC is Phi(1/sqrt 2) = 0.76
    assert all(math.isnan(v) for v in auc_with_interval([0.1, 0.2], [1, 1]))  # one class only: no AUC
