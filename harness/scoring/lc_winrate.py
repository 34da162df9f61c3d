"""Length-controlled win-rate: is a win-rate gain only longer answers?

    est = lc_winrate(policy_rewards, reference_rewards, policy_tokens, reference_tokens, prompt_ids)
    est.value, est.ci_low, est.ci_high      # the win-rate a policy would have at no length difference

After AlpacaEval 2's length-controlled win-rate (Dubois et al., 2024), reduced to what the harness
judges: for each (prompt, sample) the reward model's preference y = 1 (the policy's generation
scores higher), 0 (lower) or 1/2 (a tie, entered as half a win and half a loss, as the raw
win-rate counts it) is modelled as

    P(y = 1) = sigmoid(a + b * d),    d = policy tokens - reference tokens

by maximum likelihood (Newton's method; a 1e-8 ridge on b alone, so that equal lengths everywhere
give b = 0 and the LC win-rate equals the raw one). The LC win-rate is the prediction at d = 0,
sigmoid(a). Its 95% interval is a percentile bootstrap over prompts (the samples of a prompt stay
together, as for the raw win-rate): every draw refits the model, all draws in one batched Newton.

What it cannot show: a linear logit in the token difference is one model of length bias; a
judge that likes length non-linearly, or content that comes with length, is not separated by it.
When every pair is won (or lost) the fit does not exist and the estimate is the raw rate.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

RIDGE = 1e-8


@dataclasses.dataclass(frozen=True)
class LCEstimate:
    value: float
    ci_low: float
    ci_high: float
    n: int  # prompts
    slope: float  # b: change of the log-odds of a win per extra token


def outcomes(policy: Sequence[float], reference: Sequence[float]) -> np.ndarray:
    p, r = np.asarray(policy, float), np.asarray(reference, float)
    return np.where(p > r, 1.0, np.where(p < r, 0.0, 0.5))


def fit(y: np.ndarray, d: np.ndarray, w: np.ndarray | None = None, iters: int = 30) -> np.ndarray:
    """(a, b) of the logistic model, for one problem ([n]) or a batch ([B, n]); `w` weights rows
    (a bootstrap's counts). Soft labels y in [0, 1] are the expected log-likelihood of ties."""
    y, d = np.atleast_2d(y).astype(float), np.atleast_2d(d).astype(float)
    w = np.ones_like(y) if w is None else np.atleast_2d(w).astype(float)
    theta = np.zeros((y.shape[0], 2))
    for _ in range(iters):
        p = 1 / (1 + np.exp(-(theta[:, :1] + theta[:, 1:] * d)))
        g = np.stack([(w * (y - p)).sum(1), (w * (y - p) * d).sum(1) - RIDGE * theta[:, 1]], 1)
        v = w * p * (1 - p)
        h00, h01, h11 = v.sum(1), (v * d).sum(1), (v * d * d).sum(1) + RIDGE
        det = h00 * h11 - h01 * h01
        ok = det > 1e-300
        det = np.where(ok, det, 1.0)
        step = np.stack([(h11 * g[:, 0] - h01 * g[:, 1]) / det, (h00 * g[:, 1] - h01 * g[:, 0]) / det], 1)
        step = np.where(ok[:, None], np.clip(step, -5, 5), 0.0)
        theta = theta + step
        if np.abs(step[:, 0]).max() < 1e-9:  # the intercept is what is read (a separated b only grows)
            break
    return theta


def lc_winrate(policy: Sequence[float], reference: Sequence[float], policy_tokens: Sequence[float],
               reference_tokens: Sequence[float], prompt_ids: Sequence[str], *, iters: int = 1000, seed: int = 0,
               level: float = 0.95) -> LCEstimate:
    y = outcomes(policy, reference)
    d = np.asarray(policy_tokens, float) - np.asarray(reference_tokens, float)
    keep = np.isfinite(y) & np.isfinite(d) & np.isfinite(np.asarray(policy, float)) & np.isfinite(
        np.asarray(reference, float))
    y, d, ids = y[keep], d[keep], [p for p, k in zip(prompt_ids, keep, strict=True) if k]
    if not len(y):
        return LCEstimate(math.nan, math.nan, math.nan, 0, math.nan)
    prompts = sorted(set(ids))
    index = {p: i for i, p in enumerate(prompts)}
    group = np.array([index[p] for p in ids])
    a, b = fit(y, d)[0]
    value = float(1 / (1 + math.exp(-a)))
    rng = np.random.default_rng(seed)
    counts = np.stack([np.bincount(rng.integers(0, len(prompts), len(prompts)), minlength=len(prompts))
                       for _ in range(iters)])  # [iters, prompts]: how often each prompt is drawn
    theta = fit(np.broadcast_to(y, (iters, len(y))), np.broadcast_to(d, (iters, len(d))), counts[:, group])
    draws = 1 / (1 + np.exp(-theta[:, 0]))
    lo, hi = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2]) if len(prompts) > 1 else (math.nan, math.nan)
    return LCEstimate(value, float(lo), float(hi), len(prompts), float(b))
