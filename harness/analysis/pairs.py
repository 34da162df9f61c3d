"""Which pairs displace: the `pairs` table by quantile of a per-pair feature, per grid cell.

    frame = load_pairs(res)                                  # pairs rows with each run's cell and seed
    q = by_quantile(frame[frame.cell == c], "ches")          # QuantileStats: share per quintile, top - bottom
    rho = spearman(frame[frame.cell == c], "ches", "chosen_logratio")   # Estimate with its interval

The design: every run of a cell scores the same held-out pairs, and the seeds of a cell repeat
the same pairs with another initialisation and data order. A pair is therefore a cluster (its
seeds are not independent draws), and a seed is a cluster too (one seed's run moves every pair).
The intervals are a two-way ("pigeonhole", Owen 2007) percentile bootstrap: each draw resamples
the pairs, keeping all seeds of a pair together, and independently resamples the seeds, keeping
all pairs of a seed together; a statistic is recomputed on the resampled pairs x seeds matrix.
Resampling pairs alone would ignore the seed-to-seed variation; resampling seeds alone (3 of
them) would ignore that these 128 pairs are a sample. With 3 seeds the seed part is coarse, and
the two-way bootstrap is known to be somewhat conservative. Quantiles are of the pair feature
over the held-out pairs (the same for every run: features come from the reference), ties broken
by pair order; bootstrap draws resample within each quantile, so every quantile keeps its size.

What it cannot show: a cell's pairs are one synthetic distribution; a trend across CHES quantiles
is an association (CHES correlates with length and edit distance here), not a cause.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

ITERS = 2000
MIN_GROUP = 10  # protection: fewest pairs on either side of the split
SEED = 0  # bootstrap draws are fixed: a report and a regress on the same rows say the same
NEEDED = ("pair_index", "chosen_logratio", "displaced", "ches")  # what the analysis reads
FEATURES = ("ches", "ches_mean", "edit_distance", "shared_prefix_tokens", "chosen_tokens")


@dataclasses.dataclass(frozen=True)
class Interval:
    value: float
    ci_low: float
    ci_high: float

    def text(self, digits: int = 2, pct: bool = False) -> str:
        f = (lambda x: f"{100 * x:.0f}%") if pct else (lambda x: f"{x:+.{digits}f}")
        if math.isnan(self.ci_low):
            return f"{f(self.value)} (no interval)"
        return f"{f(self.value)} [{f(self.ci_low)}, {f(self.ci_high)}]"


@dataclasses.dataclass(frozen=True)
class QuantileStats:
    feature: str
    column: str
    shares: list[Interval]  # per quantile, lowest feature first: the mean of `column` over pairs and seeds
    edges: list[float]  # the feature's value at each quantile's upper end
    top_minus_bottom: Interval
    pairs: int
    seeds: int


def load_pairs(res):
    """The `pairs` rows of the completed grid runs, with each run's `cell`, `seed` and grid keys; None when the
    folder (or every folder of a combined report) has none."""
    import pandas as pd

    from harness.results.store import ResultStore

    roots = list(res.roots) if getattr(res, "roots", None) else [res.root]
    parts = [ResultStore(r).read("pairs") for r in roots]
    parts = [p for p in parts if len(p)]
    if not parts:
        return None
    frame = pd.concat(parts, ignore_index=True)
    if not set(NEEDED) <= set(frame.columns):  # a table another tool wrote without the features
        return None
    keys = [k for k in res.keys if k in res.runs]
    done = res.runs[res.runs["status"] == "completed"]  # as every other metric: a diverged run's rows are not final
    frame = frame.merge(done[["run_id", "cell", "seed", *keys]], on="run_id")
    return frame if len(frame) else None


def _matrix(frame, column: str, feature: str):
    """(values [seeds, pairs], feature [pairs]) of one cell, pairs in pair order."""
    wide = frame.pivot_table(index="seed", columns="pair_index", values=column, aggfunc="mean")
    feat = frame.groupby("pair_index")[feature].first().reindex(wide.columns)
    return wide.to_numpy(dtype=float), feat.to_numpy(dtype=float)


def quantile_of(feature: np.ndarray, bins: int) -> np.ndarray:
    """0 .. bins-1 per pair, by rank (ties by pair order)."""
    order = np.argsort(feature, kind="stable")
    q = np.empty(len(feature), dtype=int)
    q[order] = (np.arange(len(feature)) * bins) // len(feature)
    return q


def _draws(n_seeds: int, groups: list[np.ndarray], iters: int, seed: int):
    rng = np.random.default_rng(seed)
    seeds = rng.integers(0, n_seeds, size=(iters, n_seeds))
    pairs = [g[rng.integers(0, len(g), size=(iters, len(g)))] for g in groups]
    return seeds, pairs


def _percentile(draws: np.ndarray, value: float, level: float = 0.95) -> Interval:
    draws = draws[np.isfinite(draws)]
    if len(draws) < 2:
        return Interval(value, math.nan, math.nan)
    a = (1 - level) / 2
    return Interval(value, float(np.quantile(draws, a)), float(np.quantile(draws, 1 - a)))


def by_quantile(frame, feature: str = "ches", column: str = "displaced", *, bins: int = 5, iters: int = ITERS,
                seed: int = SEED) -> QuantileStats | None:
    """Mean of `column` (displaced: the displaced share) per quantile of `feature`, over the pairs
    and seeds of `frame` (one cell, or one group of runs), with two-way bootstrap intervals."""
    frame = frame[frame[feature].notna() & frame[column].notna()]
    if frame.empty:
        return None
    values, feat = _matrix(frame.assign(**{column: frame[column].astype(float)}), column, feature)
    n_seeds, n_pairs = values.shape
    if n_pairs < bins:
        return None
    q = quantile_of(feat, bins)
    groups = [np.flatnonzero(q == b) for b in range(bins)]
    seeds, pairs = _draws(n_seeds, groups, iters, seed)
    per_draw = np.stack([np.nanmean(values[seeds[:, :, None], p[:, None, :]], axis=(1, 2)) for p in pairs], 1)
    point = [float(np.nanmean(values[:, g])) for g in groups]
    shares = [_percentile(per_draw[:, b], point[b]) for b in range(bins)]
    diff = _percentile(per_draw[:, -1] - per_draw[:, 0], point[-1] - point[0])
    edges = [float(feat[g].max()) for g in groups]
    return QuantileStats(feature, column, shares, edges, diff, n_pairs, n_seeds)


def _ranks(x: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return rankdata(x, axis=-1)


def spearman(frame, feature: str = "ches", column: str = "chosen_logratio", *, iters: int = ITERS,
             seed: int = SEED) -> Interval | None:
    """Spearman's rho between `feature` and `column` over the pairs, per seed, averaged over seeds;
    the interval by the two-way bootstrap (pairs and seeds resampled)."""
    frame = frame[frame[feature].notna() & frame[column].notna()]
    if frame.empty:
        return None
    values, feat = _matrix(frame, column, feature)
    if values.shape[1] < 3 or np.isnan(values).any():
        return None
    point = float(np.mean(_rho(feat[None, :], values)))
    seeds, (pairs,) = _draws(values.shape[0], [np.arange(values.shape[1])], iters, seed)
    y = values[seeds[:, :, None], pairs[:, None, :]]  # [iters, seeds, pairs]
    x = np.broadcast_to(feat[pairs][:, None, :], y.shape)
    return _percentile(_rho(x, y).mean(axis=1), point)


def _rho(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman's rho along the last axis (NaN where either side is constant)."""
    rx, ry = _ranks(x), _ranks(y)
    rx, ry = rx - rx.mean(-1, keepdims=True), ry - ry.mean(-1, keepdims=True)
    den = np.sqrt((rx ** 2).sum(-1) * (ry ** 2).sum(-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (rx * ry).sum(-1) / np.where(den > 0, den, 1), np.nan)


@dataclasses.dataclass(frozen=True)
class Protection:
    """Does `other` displace the pairs that `worst` (the most displacing series) displaces?"""

    worst: str
    other: str
    on_displaced: Interval  # other's displaced share on the pairs `worst` displaces in most of its runs
    on_rest: Interval  # ... on the remaining pairs
    difference: Interval
    n_displaced: int
    n_rest: int


def protection(frame, series: str, *, iters: int = ITERS, seed: int = SEED) -> list[Protection]:
    """Per series of `frame` (e.g. each variant at one lr, β and seeds pooled): its displaced share on
    the pairs the most displacing series displaces in most of its runs, and on the others. The
    interval resamples pairs (a pair keeps all its runs); the split into the two groups is fixed by
    the data, so it says how far the pairs carry the result, not how a new set of runs would split."""
    share = frame.groupby([series, "pair_index"])["displaced"].mean().unstack(series)
    if share.shape[1] < 2 or share.isna().any().any():
        return []
    worst = str(share.mean().idxmax())
    hit = (share[worst] >= 0.5).to_numpy()
    if min(hit.sum(), (~hit).sum()) < MIN_GROUP:  # a share of a handful of pairs says nothing
        return []
    rng = np.random.default_rng(seed)
    a, b = np.flatnonzero(hit), np.flatnonzero(~hit)
    da, db = a[rng.integers(0, len(a), (iters, len(a)))], b[rng.integers(0, len(b), (iters, len(b)))]
    out = []
    for other in share.columns:
        if str(other) == worst:
            continue
        v = share[other].to_numpy(dtype=float)
        pa, pb = v[da].mean(1), v[db].mean(1)
        out.append(Protection(worst, str(other), _percentile(pa, float(v[a].mean())), _percentile(pb, float(v[b].mean())),
                              _percentile(pa - pb, float(v[a].mean() - v[b].mean())), len(a), len(b)))
    return out
