"""Per-sample columns of one run → `evals` rows (metric, value, 95% CI over prompts, n).

    rows = sample_metrics(run_id, prompt_ids, {"reward": [...], "correct": [...]}, iters=2000)
    rows.append(winrate_row(run_id, policy_rewards, reference_rewards, prompt_ids))

Every interval resamples prompts (`harness.scoring.winrate.bootstrap_over_prompts`): samples of
one prompt are correlated, so resampling samples would make the intervals too narrow. `n` is the
number of prompts with a finite value. A column with no finite value gives no row (a verifier
on prompts without gold answers reports nothing, not a zero).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from harness.results.catalogue import by_source
from harness.scoring.winrate import bootstrap_over_prompts, winrate

NAN = math.nan

# per-sample / per-pair column -> the `evals` metric it averages to: the catalogue's samples and pairs entries
SAMPLE_METRICS = {m.column: m.name for m in by_source("samples", "pairs")}


def row(run_id: str, metric: str, value: float, ci_low: float = NAN, ci_high: float = NAN,
        n: int | None = None, **extra) -> dict:
    return {"run_id": run_id, "metric": metric, "value": float(value), "ci_low": float(ci_low),
            "ci_high": float(ci_high), "n": n, **extra}


def sample_metrics(run_id: str, prompt_ids: Sequence[str], columns: dict[str, Sequence[float]], *,
                   iters: int = 2000, seed: int = 0, level: float = 0.95) -> list[dict]:
    rows = []
    for column, metric in SAMPLE_METRICS.items():
        values = columns.get(column)
        if values is None:
            continue
        est = bootstrap_over_prompts([NAN if v is None else float(v) for v in values], prompt_ids,
                                     iters=iters, seed=seed, level=level)
        if est.n:
            rows.append(row(run_id, metric, est.value, est.ci_low, est.ci_high, est.n))
    return rows


def winrate_row(run_id: str, policy: dict[tuple[str, int], float], reference: dict[tuple[str, int], float], *,
                iters: int = 2000, seed: int = 0) -> dict | None:
    """`winrate_vs_ref` over the (prompt_id, sample) keys both runs scored."""
    keys = [k for k in policy if k in reference]
    if not keys:
        return None
    est = winrate([policy[k] for k in keys], [reference[k] for k in keys], [k[0] for k in keys],
                  iters=iters, seed=seed)
    return row(run_id, "winrate_vs_ref", est.value, est.ci_low, est.ci_high, est.n) if est.n else None
