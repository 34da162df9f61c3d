"""Win-rate of a policy against the reference, judged by a reward, with a bootstrap CI over prompts.

    wr = winrate(policy_rewards, reference_rewards, prompt_ids)
    wr.value, wr.ci_low, wr.ci_high, wr.n      # n = prompts compared

Sample k of prompt p is compared with the reference's sample k of the same prompt: a higher
reward wins (1), equal rewards tie (1/2), lower loses (0). The win-rate is the mean over prompts of
each prompt's mean outcome, and the 95% interval resamples prompts (a cluster bootstrap), because
samples of one prompt are not independent. A policy compared with itself has every pair tied:
win-rate 1/2 exactly.

`bootstrap_over_prompts` is the same interval for any per-sample metric (reward, correctness, KL).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence


@dataclasses.dataclass(frozen=True)
class Estimate:
    value: float
    ci_low: float
    ci_high: float
    n: int  # prompts


def outcome(a: float, b: float) -> float:
    """1 if a beats b, 1/2 for a tie, 0 otherwise."""
    return 1.0 if a > b else 0.5 if a == b else 0.0


def per_prompt_means(values: Sequence[float], prompt_ids: Sequence[str]) -> list[float]:
    """Mean of the finite values of each prompt, in first-seen prompt order."""
    groups: dict[str, list[float]] = {}
    for v, pid in zip(values, prompt_ids):
        if v is not None and math.isfinite(v):
            groups.setdefault(pid, []).append(float(v))
    return [sum(vs) / len(vs) for vs in groups.values()]


def bootstrap_over_prompts(values: Sequence[float], prompt_ids: Sequence[str], *, iters: int = 2000,
                           seed: int = 0, level: float = 0.95) -> Estimate:
    """Mean of per-prompt means, with a percentile bootstrap interval resampling prompts."""
    import numpy as np

    means = np.asarray(per_prompt_means(values, prompt_ids), dtype=float)
    if len(means) == 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    value = float(means.mean())
    if len(means) < 2:
        return Estimate(value, math.nan, math.nan, 1)
    rng = np.random.default_rng(seed)
    boot = means[rng.integers(0, len(means), size=(iters, len(means)))].mean(axis=1)
    alpha = (1 - level) / 2
    return Estimate(value, float(np.quantile(boot, alpha)), float(np.quantile(boot, 1 - alpha)), len(means))


def winrate(policy: Sequence[float], reference: Sequence[float], prompt_ids: Sequence[str], *,
            iters: int = 2000, seed: int = 0) -> Estimate:
    """Win-rate of `policy` over `reference` (aligned per sample), ties counted half."""
    if not (len(policy) == len(reference) == len(prompt_ids)):
        raise ValueError(f"winrate: {len(policy)} policy, {len(reference)} reference rewards and "
                         f"{len(prompt_ids)} prompt ids must align")
    outcomes = [outcome(a, b) if math.isfinite(a) and math.isfinite(b) else math.nan
                for a, b in zip(policy, reference)]
    return bootstrap_over_prompts(outcomes, prompt_ids, iters=iters, seed=seed)
