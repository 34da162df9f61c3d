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
