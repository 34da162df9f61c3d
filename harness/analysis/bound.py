"""The `bound` claim kind: in every matching cell, a statistic over seeds compared with a constant
or with the partner cell's value. What a baseline requires to keep holding ("every DPO seed at the
high lr ends below 0"); registered in harness.analysis.claims.CLAIM_KINDS.

    finding = bound_claim(claim, ctx)        # ctx: harness.analysis.verdict._Context
    finding.checks                           # one CheckResult per cell, as `harness regress` lists them
"""

from __future__ import annotations

import dataclasses
import math
import operator

from harness.analysis.cells import partner, select
from harness.analysis.claims import ClaimSpec
from harness.analysis.verdict import Finding


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """One comparison a claim made: a bound claim's cell, or (with `detail`) a whole claim."""

    name: str
    cell: dict
    lhs: float
    op: str
    rhs: float
    ok: bool
    detail: str = ""

    def describe(self) -> str:
        verdict = "ok" if self.ok else "FAILED"
        if self.detail:
            return f"{verdict}: {self.name}: {self.detail}"
        cell = ", ".join(f"{k}={v}" for k, v in self.cell.items())
        return f"{verdict}: {self.name} [{cell}]: {self.lhs:.4g} {self.op} {self.rhs:.4g}"


OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def bound_claim(c: ClaimSpec, ctx) -> Finding:
    """Every matching cell's `stat` over seeds compared `op` with `value` or the partner's value +
    `offset`. No cell, no partner, or no value for a cell is bad input (a HarnessError), never a pass."""
    from harness.analysis.cells import display_keys
    from harness.errors import HarnessError

    if ctx.no_signal(c.metric):
        return Finding(c, "no signal", "the reward model is at chance")
    cells = select(ctx.cells, c.where, ctx.keys, f"claim {c.text}")
    if not cells:
        raise HarnessError(f"claim {c.text!r}: no grid cell matches {c.where}")
    shown = display_keys(ctx.res)  # loss.name is implied by the variant name: name a cell by what identifies it
    checks = []
    for cell in cells:
        lhs = _stat_of(ctx, cell, c.metric, c.stat, c.text)
        if c.than is None:
            rhs = float(c.value)
        else:
            other = partner(ctx.cells, cell, c.than, ctx.keys, f"claim {c.text}")
            rhs = _stat_of(ctx, other, c.than_metric or c.metric, c.stat, c.text) + c.offset
        checks.append(CheckResult(c.text, {k: cell[k] for k in shown}, lhs, c.op, rhs, bool(OPS[c.op](lhs, rhs))))
    failed = [x for x in checks if not x.ok]
    worst = failed[0] if failed else min(checks, key=lambda x: abs(x.lhs - x.rhs))
    where = ", ".join(f"{k}={v}" for k, v in worst.cell.items()) or "the cell"
    detail = (f"{len(checks) - len(failed)} of {len(checks)} cells hold ({c.stat} over seeds); "
              f"{'first failing' if failed else 'tightest'}: {where}: {worst.lhs:.4g} {c.op} {worst.rhs:.4g}")
    return Finding(c, "fails" if failed else "holds", detail, tuple(x.describe() for x in failed), tuple(checks))


def _stat_of(ctx, cell: dict, metric: str, stat: str, name: str) -> float:
    from harness.errors import HarnessError

    row = ctx.by.get((cell["_cell"], metric))
    if row is None:
        raise HarnessError(f"claim {name!r}: no {metric!r} for cell {({k: v for k, v in cell.items() if k != '_cell'})}")
    if stat in ("mean", "ci_low", "ci_high"):
        return float(row[stat])
    vals = [v for v in row["values"] if v is not None and math.isfinite(v)]
    return (max if stat == "max" else min)(vals) if vals else math.nan
