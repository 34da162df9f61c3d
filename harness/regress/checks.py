"""Stated expectations: small declarative checks a baseline carries, evaluated on current results.

    expectations:
      - name: MinorDPO keeps the SFT control's verifier accuracy
        metric: verifier_accuracy
        where: {name: minor_dpo}                  # every matching cell is checked ("at every β")
        op: ">="
        than: {where: {name: sft}, offset: -0.03}
      - name: DPO at the high learning rate displaces the chosen answer
        metric: final_logratio_chosen
        where: {name: dpo, lr: max}              # `max`/`min` pick the extreme value of a key
        op: "<"
        value: 0
        stat: max                                # every seed, not just the mean (also: min, mean,
                                                 # ci_low / ci_high: a bound of the 95% t-interval)

Keys are grid keys (`harness.analysis.frame`), with the aliases loss, beta, lr, variant. For `than`,
the other cell is the one matching its `where` that agrees with the checked cell on every other
key that distinguishes the candidates: an SFT control run at one β is compared with every β,
one run per learning rate is matched on the learning rate. Zero or several candidates, an
unknown key or a metric without data is bad input (exit 2), never a silent pass.
"""

from __future__ import annotations

import dataclasses
import math
import operator

from harness.analysis.cells import grid_cells, partner, select
from harness.errors import HarnessError

OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


@dataclasses.dataclass(frozen=True)
class CheckResult:
    name: str
    cell: dict
    lhs: float
    op: str
    rhs: float
    ok: bool

    def describe(self) -> str:
        cell = ", ".join(f"{k}={v}" for k, v in self.cell.items())
        verdict = "ok" if self.ok else "FAILED"
        return f"{verdict}: {self.name} [{cell}]: {self.lhs:.4g} {self.op} {self.rhs:.4g}"


def _stat(row: dict, stat: str) -> float:
    if stat in ("mean", "ci_low", "ci_high"):
        return float(row[stat])
    vals = [v for v in row["values"] if v is not None and math.isfinite(v)]
    return (max if stat == "max" else min)(vals) if vals else math.nan


def check_expectations(file, res, agg) -> list[CheckResult]:
    """Evaluate `file.expectations` (a BaselineFile) on results `res` aggregated as `agg`."""
    from harness.analysis.cells import display_keys

    keys = list(res.keys)
    shown = display_keys(res)  # loss.name is implied by the variant name: name a cell by what identifies it
    by = {(r["cell"], r["metric"]): r for r in agg.to_dict("records")}
    cells = grid_cells(res)
    results = []
    for e in file.expectations:
        lhs_cells = select(cells, e.where, keys, f"expectation {e.name}")
        if not lhs_cells:
            raise HarnessError(f"expectation {e.name!r}: no grid cell matches {e.where}")
        for cell in lhs_cells:
            lhs = _value(by, cell, e.metric, e.stat, e.name)
            if e.than is None:
                rhs = float(e.value)
            else:
                other = partner(cells, cell, e.than.where, keys, f"expectation {e.name}")
                rhs = _value(by, other, e.than.metric or e.metric, e.stat, e.name) + e.than.offset
            label = {k: cell[k] for k in shown}
            results.append(CheckResult(e.name, label, lhs, e.op, rhs, bool(OPS[e.op](lhs, rhs))))
    return results


def _value(by: dict, cell: dict, metric: str, stat: str, name: str) -> float:
    row = by.get((cell["_cell"], metric))
    if row is None:
        raise HarnessError(f"expectation {name!r}: no {metric!r} for cell "
                           f"{ {k: v for k, v in cell.items() if k != '_cell'} }")
    return _stat(row, stat)
