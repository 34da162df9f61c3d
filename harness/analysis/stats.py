"""Small statistics over seeds: mean, standard deviation, t and bootstrap 95% confidence intervals.

    s = summarize([0.61, 0.64, 0.58])       # Summary(n=3, mean=0.61, std=0.03, ci_low=..., ci_high=...)
    lo, hi = t_interval([0.61, 0.64, 0.58])
    lo, hi = bootstrap_interval(per_sample_values, seed=0)

Why a t interval over seeds: suites run 2-5 seeds, where a normal interval would be far too
narrow. With one value there is no spread, so the interval is (nan, nan) and renderers print the
mean alone. Non-finite values (a diverged run's NaN) are dropped before any statistic and
counted separately by the caller.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence

NAN = float("nan")


@dataclasses.dataclass(frozen=True)
class Summary:
    n: int
    mean: float
    std: float  # sample standard deviation (ddof=1); nan when n < 2
    ci_low: float
    ci_high: float

    @property
    def half_width(self) -> float:
        return (self.ci_high - self.ci_low) / 2


def finite(values: Iterable[float]) -> list[float]:
    out = []
    for v in values:
        if v is None:
            continue
        v = float(v)
        if math.isfinite(v):
            out.append(v)
    return out


def mean(values: Sequence[float]) -> float:
    vals = finite(values)
    return sum(vals) / len(vals) if vals else NAN


def std(values: Sequence[float]) -> float:
    vals = finite(values)
    if len(vals) < 2:
        return NAN
    m = sum(vals) / len(vals)
    return math.sqrt(sum((v - m) ** 2 for v in vals) / (len(vals) - 1))


def t_quantile(df: int, level: float = 0.95) -> float:
    from scipy.stats import t

    return float(t.ppf(0.5 + level / 2, df))


def t_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float]:
    """Student-t interval for the mean of `values` (the seeds of one grid cell)."""
    vals = finite(values)
    if len(vals) < 2:
        return NAN, NAN
    m, s = mean(vals), std(vals)
    half = t_quantile(len(vals) - 1, level) * s / math.sqrt(len(vals))
    return m - half, m + half


def bootstrap_interval(values: Sequence[float], level: float = 0.95, iters: int = 2000,
                       seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval for the mean (per-sample values: rewards, correctness)."""
    import numpy as np

    vals = np.asarray(finite(values), dtype=float)
    if len(vals) < 2:
        return NAN, NAN
    rng = np.random.default_rng(seed)
    means = vals[rng.integers(0, len(vals), size=(iters, len(vals)))].mean(axis=1)
    alpha = (1 - level) / 2
    return float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha))


def summarize(values: Sequence[float], level: float = 0.95) -> Summary:
    vals = finite(values)
    lo, hi = t_interval(vals, level)
    return Summary(len(vals), mean(vals), std(vals), lo, hi)


# ---------------------------------------------------------------- two-sample tests (harness regress)
@dataclasses.dataclass(frozen=True)
class Test:
    t: float
    df: float
    p: float  # two-sided, or one-sided in the bad direction (see welch)


def welch(base: Sequence[float], now: Sequence[float], *, alternative: str = "two-sided") -> Test:
    """Welch's t-test of mean(now) - mean(base) over seeds, with both sides' spread.

    `alternative`: "two-sided", "greater" (now > base) or "less" (now < base). Degenerate cases,
    decided without a t distribution: both sides without spread (every seed gave the same value,
    e.g. a share of 0 or 1) give p = 1 for equal means and p = 0 otherwise; a side with a single
    value borrows the other side's variance (the seeds' spread is a property of the cell, not of
    the machine); one value on each side gives p = 0 for any difference, p = 1 for none. Callers
    pair p with a practical floor on |difference|, so p = 0 alone never flags a rounding-level move.
    """
    a, b = finite(base), finite(now)
    if not a or not b:
        return Test(NAN, NAN, NAN)
    diff = mean(b) - mean(a)
    va, vb = (std(a) ** 2 if len(a) > 1 else NAN), (std(b) ** 2 if len(b) > 1 else NAN)
    va, vb = (vb if math.isnan(va) else va), (va if math.isnan(vb) else vb)
    if math.isnan(va):  # one value a side
        va = vb = 0.0
    sa, sb = va / len(a), vb / len(b)
    se2 = sa + sb
    eps = 1e-9 * max(1.0, abs(mean(a)), abs(mean(b)))  # float noise of identical values is no spread
    if se2 <= eps * eps:
        same = abs(diff) <= eps
        p_equal = same or (alternative == "greater" and diff < 0) or (alternative == "less" and diff > 0)
        return Test(0.0 if same else math.copysign(math.inf, diff), math.inf, 1.0 if p_equal else 0.0)
    from scipy.stats import t as student

    t = diff / math.sqrt(se2)
    # Welch–Satterthwaite; a borrowed variance carries the degrees of freedom of the side it came from
    dfa, dfb = (len(a) - 1 if len(a) > 1 else len(b) - 1), (len(b) - 1 if len(b) > 1 else len(a) - 1)
    df = se2 ** 2 / (sa ** 2 / dfa + sb ** 2 / dfb)
    if alternative == "greater":
        p = float(student.sf(t, df))
    elif alternative == "less":
        p = float(student.cdf(t, df))
    else:
        p = float(2 * student.sf(abs(t), df))
    return Test(t, df, p)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values: the family-wise error over all of them is <= alpha
    when only those with adjusted p < alpha are rejected. NaN p-values (untested) stay NaN."""
    idx = sorted((i for i, p in enumerate(pvalues) if not math.isnan(p)), key=lambda i: pvalues[i])
    m, out, running = len(idx), [NAN] * len(pvalues), 0.0
    for rank, i in enumerate(idx):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        out[i] = running
    return out


def benjamini_hochberg(pvalues: Sequence[float]) -> list[float]:
    """Benjamini–Hochberg adjusted p-values (false-discovery rate); NaN stays NaN."""
    idx = sorted((i for i, p in enumerate(pvalues) if not math.isnan(p)), key=lambda i: pvalues[i])
    m, out, running = len(idx), [NAN] * len(pvalues), 1.0
    for rank in range(m - 1, -1, -1):
        i = idx[rank]
        running = min(running, m * pvalues[i] / (rank + 1))
        out[i] = min(1.0, running)
    return out


def wilson_interval(successes: float, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (a reward model's held-out pair accuracy)."""
    if n <= 0:
        return NAN, NAN
    from scipy.stats import norm

    z = float(norm.ppf(0.5 + level / 2))
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def auc_with_interval(scores: Sequence[float], labels: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """(AUC, low, high): the probability that a positive scores above a negative (ties half), with
    the Hanley–McNeil (1982) normal interval; nan when one class is empty."""
    from scipy.stats import norm, rankdata

    pos = sum(1 for v in labels if v == 1)
    neg = sum(1 for v in labels if v == 0)
    if not pos or not neg:
        return NAN, NAN, NAN
    ranks = rankdata(list(scores))
    auc = (sum(r for r, v in zip(ranks, labels) if v == 1) - pos * (pos + 1) / 2) / (pos * neg)
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    se = math.sqrt(max(0.0, auc * (1 - auc) + (pos - 1) * (q1 - auc * auc) + (neg - 1) * (q2 - auc * auc)) / (pos * neg))
    z = float(norm.ppf(0.5 + level / 2))
    return float(auc), float(max(0.0, auc - z * se)), float(min(1.0, auc + z * se))
