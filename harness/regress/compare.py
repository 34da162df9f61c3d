"""Compare a results folder with a baseline: per (grid cell, metric) under the baseline's
tolerances, plus its stated expectations.

    report = compare("results/minordpo-arith", "baselines/minordpo-arith")
    print(report.text()); sys.exit(report.exit_code)      # 0 within tolerance, 1 regression

Bad input is a HarnessError (exit 2): a baseline keyed by other grid keys, cells missing on
either side (a mismatched grid), or a metric the baseline has and the results lack. Metrics the
results have and the baseline lacks are new and ignored until the baseline is re-recorded.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from harness.errors import HarnessError
from harness.regress.baseline import Baseline, Tolerance, load_baseline
from harness.regress.checks import CheckResult, check_expectations


@dataclasses.dataclass(frozen=True)
class Delta:
    cell: dict
    metric: str
    base: float
    current: float
    allowed: float
    spread: float  # baseline seed std (nan with one seed)
    ok: bool

    @property
    def delta(self) -> float:
        return self.current - self.base


@dataclasses.dataclass
class RegressReport:
    baseline: Baseline
    deltas: list[Delta]
    checks: list[CheckResult]
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def regressions(self) -> list[Delta]:
        return [d for d in self.deltas if not d.ok]

    @property
    def exit_code(self) -> int:
        return 1 if self.regressions or any(not c.ok for c in self.checks) else 0

    def text(self) -> str:
        b = self.baseline.file
        lines = [f"baseline {self.baseline.path} (suite {b.suite}, recorded {b.recorded}: {b.reason})", *self.notes]
        if self.regressions:
            lines += ["", "moved beyond tolerance:", *_table(self.regressions)]
        failed = [c for c in self.checks if not c.ok]
        if failed:
            lines += ["", "expectations that no longer hold:", *(f"  {c.describe()}" for c in failed)]
        lines.append(f"\n{len(self.deltas) - len(self.regressions)}/{len(self.deltas)} metric cells within "
                     f"tolerance, {len(self.checks) - len(failed)}/{len(self.checks)} expectation checks hold: "
                     + ("REGRESSION" if self.exit_code else "ok"))
        return "\n".join(lines)


def _table(deltas: list[Delta]) -> list[str]:
    rows = [["cell", "metric", "baseline", "current", "delta", "allowed", "delta/std"]]
    for d in deltas:
        z = d.delta / d.spread if d.spread > 1e-12 else math.nan  # nan > x is False: one seed prints "-"
        rows.append([", ".join(f"{k}={v}" for k, v in d.cell.items()) or "-", d.metric, f"{d.base:.4g}",
                     f"{d.current:.4g}", f"{d.delta:+.4g}", f"{d.allowed:.4g}", "-" if math.isnan(z) else f"{z:+.1f}"])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]


def allowed_move(tol: Tolerance, spread: float) -> float:
    if tol.seeds is not None and spread is not None and not math.isnan(spread):
        return max(tol.abs, tol.seeds * spread)
    return tol.abs


def within(tol: Tolerance, base: float, current: float, spread: float, higher_is_better: bool | None) -> bool:
    if math.isnan(base) and math.isnan(current):
        return True
    if math.isnan(base) or math.isnan(current):
        return False
    delta = current - base
    if tol.direction == "worse" and higher_is_better is not None:
        delta = min(0.0, delta) if higher_is_better else max(0.0, delta)
    return abs(delta) <= allowed_move(tol, spread) + 1e-12


def compare(results_dir: str | Path, baseline_dir: str | Path) -> RegressReport:
    from harness.regress.baseline import default_tolerance
    from harness.summary import aggregate, cell_id, display_keys, load_results, metric, plain

    baseline = load_baseline(baseline_dir)
    res = load_results(results_dir)
    keys = baseline.file.keys
    if list(res.keys) != list(keys):
        raise HarnessError(f"mismatched grid: baseline {baseline.path} has cells keyed by {keys}, "
                           f"{results_dir} by {list(res.keys)}")
    agg = aggregate(res)
    base = baseline.metrics.copy()
    base["cell"] = [cell_id(row) for row in base[keys].itertuples(index=False)]
    base_cells, cur_cells = set(base["cell"]), set(res.runs["cell"])
    if base_cells != cur_cells:
        raise HarnessError(f"mismatched grid: cells only in the baseline {sorted(base_cells - cur_cells)}, "
                           f"only in the results {sorted(cur_cells - base_cells)}")
    current = {(r["cell"], r["metric"]): r for r in agg.to_dict("records")}
    missing = sorted({r["metric"] for r in base.to_dict("records") if (r["cell"], r["metric"]) not in current})
    if missing:
        raise HarnessError(f"{results_dir}: missing metric(s) {missing} that baseline {baseline.path} has")
    deltas = []
    shown = display_keys(res)  # loss.name is implied by the variant name: do not print it twice
    for r in sorted(base.to_dict("records"), key=lambda r: (r["cell"], r["metric"])):
        cur = current[(r["cell"], r["metric"])]
        tol = baseline.file.tolerances.get(r["metric"]) or default_tolerance(r["metric"])
        spread = float(r["std"]) if r["std"] is not None else math.nan
        ok = within(tol, float(r["mean"]), float(cur["mean"]), spread, metric(r["metric"]).higher_is_better)
        cell = {k: plain(r[k]) for k in shown}
        deltas.append(Delta(cell, r["metric"], float(r["mean"]), float(cur["mean"]), allowed_move(tol, spread), spread, ok))
    checks = check_expectations(baseline.file, res, agg)
    from harness.regress.baseline import suite_identity

    _, suite_hash = suite_identity(Path(results_dir), res)
    notes = []
    if baseline.file.suite_hash and suite_hash and suite_hash != baseline.file.suite_hash:
        notes.append(f"note: the suite definition changed since the baseline (hash {suite_hash}, "
                     f"baseline {baseline.file.suite_hash}); re-record it if the change is intended")
    return RegressReport(baseline, deltas, checks, notes)
