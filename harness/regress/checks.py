"""Stated expectations: a baseline's claims (harness.analysis.claims), required to keep holding.

    expectations:
      - kind: bound
        text: MinorDPO keeps the SFT control's verifier accuracy
        metric: verifier_accuracy
        where: {variant: minor_dpo}               # every matching cell is checked ("at every β")
        op: ">="
        than: {variant: sft}
        offset: -0.03
      - kind: bound
        text: DPO at the high learning rate displaces the chosen answer
        metric: final_logratio_chosen
        where: {variant: dpo, lr: max}            # `max`/`min` pick the extreme value of a key
        op: "<"
        value: 0
        stat: max                                 # every seed, not just the mean (also: min, mean,
                                                  # ci_low / ci_high: a bound of the 95% t-interval)
      - {kind: sign, text: ..., metric: ..., where: ..., op: ">", value: 0}   # any claim kind works here

Keys are grid keys (harness.results.catalogue.KEYS), with their aliases loss, beta, lr, variant.
A `bound` claim is checked cell by cell (each comparison is listed); a `sign` or `difference`
claim must hold as the verdict judges it. Zero or several partner cells, an unknown key or a
metric without data is bad input (exit 2), never a silent pass. Older files' expectations
(`name`, `than: {where, offset}`, no kind) load as `bound` claims (claims.from_expectation).
"""

from __future__ import annotations

from harness.analysis.bound import CheckResult
from harness.analysis.verdict import verdict


def check_expectations(file, res, agg) -> list[CheckResult]:
    """Judge `file.expectations` (a BaselineFile's claims) on results `res` aggregated as `agg`:
    a bound claim's per-cell comparisons, one line for any other kind."""
    out: list[CheckResult] = []
    for f in verdict(res, file.expectations, agg):
        if f.checks:
            out += list(f.checks)
        else:  # a reward-model claim while the RM is at chance tests nothing: it cannot fail
            out.append(CheckResult(f.claim.text, {}, float("nan"), f.claim.op, float("nan"),
                                   f.status in ("holds", "no signal"), detail=f.detail))
    return out
