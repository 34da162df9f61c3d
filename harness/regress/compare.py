"""Compare a results folder with a baseline: behaviour, not rounding.

    report = compare("results/minordpo-arith", "baselines/minordpo-arith")
    print(report.text()); sys.exit(report.exit_code)      # 0 no regression, 1 regression

Two kinds of evidence, both must hold for exit 0:
- **Stated expectations** (baseline.yaml `expectations:`): the claims the suite exists to show,
  e.g. "MinorDPO keeps the chosen log-ratio above 0 at every β". These are the contract.
- **Cells**: for each (grid cell, metric), Welch's t-test of the current seeds against the
  baseline's, using both sides' seed spread; p-values are adjusted over every tested cell x
  metric (Holm–Bonferroni by default: the chance of any false alarm on a clean rerun is <= alpha).
  A cell is flagged only when the adjusted p < alpha *and* |move| exceeds the metric's practical
  floor, so a move within seed noise, or a significant move of no practical size, is not a
  regression; the largest unflagged moves are listed for information.

Why not a fixed tolerance per cell: a CPU that rounds differently (AVX2 vs AVX-512 kernels) sends
each seed's chaotic run somewhere else within the cell's seed distribution; only the two sides'
seed spread can say whether a cell mean moved more than that.

Metrics without signal are not tested: when the reward model's held-out accuracy interval
includes 0.5 (on either side), its rewards and win-rates are skipped, with a note.
Bad input is a HarnessError (exit 2): a baseline keyed by other grid keys, cells missing on
either side (a mismatched grid), or a metric the baseline has and the results lack. Metrics the
results have and the baseline lacks are new and ignored until the baseline is re-recorded.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from harness.analysis.bound import CheckResult
from harness.errors import HarnessError
from harness.regress.baseline import Baseline, load_baseline, run_dtypes
from harness.regress.checks import check_expectations

SHOW_UNFLAGGED = 5  # the largest moves (in units of their standard error) that did not flag


@dataclasses.dataclass(frozen=True)
class Delta:
    cell: dict
    metric: str
    base: float
    current: float
    floor: float  # practical floor: |move| up to this never flags
    base_std: float
    cur_std: float
    n: tuple[int, int]  # seeds (baseline, current)
    t: float = math.nan
    p: float = math.nan  # raw p-value (nan: not tested)
    p_adj: float = math.nan
    ok: bool = True
    exact: bool = False  # decided on the floor alone (crash counts)

    @property
    def delta(self) -> float:
        return self.current - self.base


@dataclasses.dataclass
class RegressReport:
    baseline: Baseline
    deltas: list[Delta]
    checks: list[CheckResult]
    notes: list[str] = dataclasses.field(default_factory=list)
    skipped: list[str] = dataclasses.field(default_factory=list)  # metrics not tested (no signal)

    @property
    def regressions(self) -> list[Delta]:
        return [d for d in self.deltas if not d.ok]

    @property
    def exit_code(self) -> int:
        return 1 if self.regressions or any(not c.ok for c in self.checks) else 0

    def text(self) -> str:
        b = self.baseline.file
        t = b.test
        lines = [f"baseline {self.baseline.path} (suite {b.suite}, recorded {b.recorded})", *self.notes]
        failed = [c for c in self.checks if not c.ok]
        lines += ["", f"stated expectations: {len(self.checks) - len(failed)}/{len(self.checks)} checks hold"]
        lines += [f"  {c.describe()}" for c in failed]
        tested = [d for d in self.deltas if not math.isnan(d.p) or d.exact]
        method = {"holm": "Holm–Bonferroni, family-wise", "bh": "Benjamini–Hochberg, false-discovery rate",
                  "none": "no multiple-comparison correction,"}[t.correction]
        lines += ["", f"cells: {len(tested)} cell x metric tests, Welch's t over seeds ({method} alpha {t.alpha}), "
                      f"flagged only beyond each metric's practical floor"]
        if self.skipped:
            lines.append(f"  not tested (no signal): {', '.join(self.skipped)}")
        if self.regressions:
            lines += ["  moved beyond seed noise and floor:", *_table(self.regressions)]
        quiet = sorted((d for d in self.deltas if d.ok and d.delta != 0 and not math.isnan(d.t) and math.isfinite(d.t)),
                       key=lambda d: -abs(d.t))[:SHOW_UNFLAGGED]
        if quiet:
            lines += ["  largest moves within noise (not regressions):", *_table(quiet)]
        verdict = "REGRESSION" if self.exit_code else "ok"
        lines.append(f"\n{len(tested) - len(self.regressions)}/{len(tested)} cell tests within noise, "
                     f"{len(self.checks) - len(failed)}/{len(self.checks)} expectation checks hold: {verdict}")
        return "\n".join(lines)


def _table(deltas: list[Delta]) -> list[str]:
    rows = [["cell", "metric", "baseline", "current", "delta", "floor", "t", "p (adj.)"]]
    for d in deltas:
        rows.append([", ".join(f"{k}={v}" for k, v in d.cell.items()) or "-", d.metric,
                     _ms(d.base, d.base_std, d.n[0]), _ms(d.current, d.cur_std, d.n[1]), f"{d.delta:+.4g}",
                     f"{d.floor:.3g}", "exact" if d.exact else f"{d.t:+.1f}",
                     "-" if math.isnan(d.p_adj) else f"{d.p_adj:.2g}"])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["    " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]


def _ms(mean: float, std: float, n: int) -> str:
    return f"{mean:.4g}" + ("" if math.isnan(std) else f" ± {std:.2g}") + f" (n={n})"


def _alternative(direction: str, higher_is_better: bool | None) -> str:
    if direction == "worse" and higher_is_better is not None:
        return "less" if higher_is_better else "greater"
    return "two-sided"


def _beyond_floor(d: Delta, alternative: str) -> bool:
    move = {"less": -d.delta, "greater": d.delta}.get(alternative, abs(d.delta))
    return move > d.floor + 1e-12


def compare(results_dir: str | Path, baseline_dir: str | Path) -> RegressReport:
    from harness.analysis.cells import cell_id, display_keys, plain
    from harness.analysis.frame import aggregate, load_results
    from harness.analysis.stats import benjamini_hochberg, holm, welch
    from harness.regress.baseline import default_tolerance, suite_identity
    from harness.results.catalogue import metric

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

    base_rm = baseline.file.rm_informative
    no_signal = (res.rm is not None and not res.rm.informative) or base_rm is False
    notes = [f"note: {res.rm.describe()}"] if res.rm is not None else []
    skipped = sorted({m for m in base["metric"] if metric(m).needs_rm}) if no_signal else []

    shown = display_keys(res)  # loss.name is implied by the variant name: do not print it twice
    deltas, alts = [], []
    for r in sorted(base.to_dict("records"), key=lambda r: (r["cell"], r["metric"])):
        if r["metric"] in skipped:
            continue
        m = metric(r["metric"])
        cur = current[(r["cell"], r["metric"])]
        tol = baseline.file.tolerances.get(r["metric"]) or default_tolerance(r["metric"])
        alt = _alternative(tol.direction, m.higher_is_better)
        b_vals, c_vals = list(r["values"]), list(cur["values"])
        b_mean, c_mean = float(r["mean"]), float(cur["mean"])
        if m.cell == "sum":  # counts: test the per-seed 0/1 outcomes, floor on the count
            b_mean, c_mean = float(sum(v for v in b_vals if v == v)), float(sum(v for v in c_vals if v == v))
        test = welch(b_vals, c_vals, alternative=alt) if not m.exact else None
        d = Delta({k: plain(r[k]) for k in shown}, r["metric"], b_mean, c_mean, tol.floor(b_mean),
                  _std(b_vals), _std(c_vals), (len(b_vals), len(c_vals)),
                  t=test.t if test else math.nan, p=test.p if test else math.nan, exact=m.exact)
        if math.isnan(b_mean) != math.isnan(c_mean):  # a metric appeared or vanished in a cell
            d = dataclasses.replace(d, p=0.0, t=math.inf)
        deltas.append(d)
        alts.append(alt)

    adjust = {"holm": holm, "bh": benjamini_hochberg, "none": list}[baseline.file.test.correction]
    p_adj = adjust([d.p for d in deltas])
    alpha = baseline.file.test.alpha
    out = []
    for d, p, alt in zip(deltas, p_adj, alts, strict=True):
        moved = _beyond_floor(d, alt) or (math.isnan(d.base) != math.isnan(d.current))
        flagged = moved if d.exact else (not math.isnan(p) and p < alpha and moved)
        out.append(dataclasses.replace(d, p_adj=p, ok=not flagged))
    checks = check_expectations(baseline.file, res, agg)
    _, suite_hash = suite_identity(Path(results_dir), res)
    if baseline.file.suite_hash and suite_hash and suite_hash != baseline.file.suite_hash:
        notes.append(f"note: the suite definition changed since the baseline (hash {suite_hash}, "
                     f"baseline {baseline.file.suite_hash}); re-record it if the change is intended")
    note = dtype_note(baseline.file.dtype, run_dtypes(res))
    if note:
        notes.insert(0, note)
    return RegressReport(baseline, out, checks, notes, skipped)


def dtype_note(recorded: str, current: str) -> str:
    """One line when the baseline and the results were computed in different precisions: moves
    may then be rounding of another precision, not behaviour (empty when they agree or either is unknown)."""
    if not recorded or not current or recorded == current:
        return ""
    return (f"ACROSS PRECISIONS: the baseline was recorded in {recorded}, these results were computed in {current}; "
            f"a flagged move may be the precision, not the code (re-record in {current}, or rerun in {recorded}, "
            f"to compare like with like)")


def _std(values) -> float:
    from harness.analysis.stats import std

    return std(values)
