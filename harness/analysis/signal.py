"""Whether a suite's reward model judges at all: its held-out accuracy and its agreement with the
verifier, each with a 95% interval (what reports and regress consult before presenting any
reward-model metric).

    rm = rm_signal(store)           # None when no reward model scored the suite
    rm.informative, rm.describe()
"""

from __future__ import annotations

import dataclasses
import math


@dataclasses.dataclass(frozen=True)
class RMSignal:
    """Whether the suite's reward model judges at all. Two checks, each with a 95% interval:
    - its held-out pairwise accuracy (Wilson interval over its held-out pairs);
    - where a verifier scored the same generations, its agreement with the verifier: the AUC of
      reward for correct vs wrong answers (Hanley–McNeil interval). A reward model can rank its
      own held-out pairs well and still reward what the policies produce for the wrong reasons
      (see harness.reward.implicit); this catches that on the very samples it scored.
    When either interval includes 0.5 the reward model is at chance for this suite, and every
    metric it produces (`Metric.needs_rm`) carries no information: reports do not present them
    as findings and `harness regress` does not test them."""

    accuracy: float
    n: int  # held-out pairs
    ci_low: float
    ci_high: float
    verifier_auc: float = math.nan  # nan: no verifier on these generations
    auc_low: float = math.nan
    auc_high: float = math.nan

    @property
    def informative(self) -> bool:
        return bool(self.ci_low > 0.5 and (math.isnan(self.verifier_auc) or self.auc_low > 0.5))

    def describe(self) -> str:
        text = (f"reward model's held-out pairwise accuracy is {self.accuracy:.3f} (95% CI {self.ci_low:.3f}–"
                f"{self.ci_high:.3f}, {self.n} pairs)")
        if not math.isnan(self.verifier_auc):
            text += (f" and its agreement with the verifier on the generations it scored is AUC {self.verifier_auc:.3f} "
                     f"(95% CI {self.auc_low:.3f}–{self.auc_high:.3f})")
        return text + (": it judges better than chance" if self.informative else
                       ": it is at chance here, so its rewards and win-rates are not findings")


def rm_signal(store) -> RMSignal | None:
    """The reward model's held-out accuracy as `evals` recorded it (one RM scores a whole suite)."""
    from harness.analysis.stats import wilson_interval

    evals = store.read("evals")
    if evals.empty or "metric" not in evals:
        return None
    rows = evals[evals["metric"] == "rm_heldout_accuracy"].dropna(subset=["value"])
    if rows.empty:
        return None
    acc, n = float(rows["value"].iloc[-1]), int(rows["n"].fillna(0).iloc[-1])
    lo, hi = wilson_interval(acc * n, n)
    auc = auc_interval(store.read("scores"))
    return RMSignal(acc, n, lo, hi, *auc)


def auc_interval(scores) -> tuple[float, float, float]:
    """AUC of `reward` separating `correct` from wrong samples, with a Hanley–McNeil 95% interval."""
    from harness.analysis.stats import auc_with_interval

    if scores.empty or not {"reward", "correct"} <= set(scores.columns):
        return math.nan, math.nan, math.nan
    both = scores[["reward", "correct"]].dropna()
    return auc_with_interval(both["reward"].tolist(), both["correct"].tolist())
