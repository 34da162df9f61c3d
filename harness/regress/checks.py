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
        stat: max                                # every seed, not just the mean

Keys are grid keys (`harness.summary`), with the aliases loss, beta, lr, variant. For `than`,
the other cell is the one matching its `where` that agrees with the checked cell on every other
key that distinguishes the candidates: an SFT control run at one β is compared with every β,
one run per learning rate is matched on the learning rate. Zero or several candidates, an
unknown key or a metric without data is bad input (exit 2), never a silent pass.
"""

from __future__ import annotations

import dataclasses
import json
import math
import operator
from typing import Any

from harness.errors import HarnessError

ALIASES = {"loss": "loss.name", "beta": "loss.beta", "lr": "train.learning_rate",
           "learning_rate": "train.learning_rate", "variant": "name"}
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


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and not isinstance(a, bool):
        try:
            return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
        except (TypeError, ValueError):
            return False
    return str(a) == str(b)


def _select(cells: list[dict], where: dict, keys: list[str], name: str) -> list[dict]:
    out = cells
    for raw_key, want in where.items():
        key = ALIASES.get(raw_key, raw_key)
        if key not in keys:
            raise HarnessError(f"expectation {name!r}: {raw_key!r} is not a grid key (keys: {', '.join(keys)})")
        if want in ("max", "min"):
            vals = [c[key] for c in out]
            want = (max if want == "max" else min)(vals) if vals else None
        out = [c for c in out if _same(c[key], want)]
    return out


def _stat(row: dict, stat: str) -> float:
    if stat == "mean":
        return float(row["mean"])
    vals = [v for v in row["values"] if v is not None and math.isfinite(v)]
    return (max if stat == "max" else min)(vals) if vals else math.nan


def check_expectations(file, res, agg) -> list[CheckResult]:
    """Evaluate `file.expectations` (a BaselineFile) on results `res` aggregated as `agg`."""
    keys = list(res.keys)
    by = {(r["cell"], r["metric"]): r for r in agg.to_dict("records")}
    cells = [dict(zip(keys, json.loads(c), strict=True), _cell=c) for c in dict.fromkeys(res.runs["cell"])]
    results = []
    for e in file.expectations:
        lhs_cells = _select(cells, e.where, keys, e.name)
        if not lhs_cells:
            raise HarnessError(f"expectation {e.name!r}: no grid cell matches {e.where}")
        for cell in lhs_cells:
            lhs = _value(by, cell, e.metric, e.stat, e.name)
            if e.than is None:
                rhs = float(e.value)
            else:
                other = _partner(cells, cell, e.than.where, keys, e.name)
                rhs = _value(by, other, e.than.metric or e.metric, e.stat, e.name) + e.than.offset
            label = {k: cell[k] for k in keys}
            results.append(CheckResult(e.name, label, lhs, e.op, rhs, bool(OPS[e.op](lhs, rhs))))
    return results


def _value(by: dict, cell: dict, metric: str, stat: str, name: str) -> float:
    row = by.get((cell["_cell"], metric))
    if row is None:
        raise HarnessError(f"expectation {name!r}: no {metric!r} for cell "
                           f"{ {k: v for k, v in cell.items() if k != '_cell'} }")
    return _stat(row, stat)


def _partner(cells: list[dict], cell: dict, where: dict, keys: list[str], name: str) -> dict:
    cands = _select(cells, where, keys, name)
    fixed = {ALIASES.get(k, k) for k in where}
    for k in keys:
        if k not in fixed and len({repr(c[k]) for c in cands}) > 1:
            cands = [c for c in cands if _same(c[k], cell[k])]
    if len(cands) != 1:
        raise HarnessError(f"expectation {name!r}: {len(cands)} cells match {where} for "
                           f"{ {k: cell[k] for k in keys} } (need exactly one)")
    return cands[0]
