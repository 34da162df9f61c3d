"""One renderer-agnostic table model, and the report's tables built from aggregated metrics.

    table = main_table(res, aggregate(res))      # loss x beta (x lr) rows, mean ± 95% CI columns
    render_markdown(table); render_latex(table); render_html(table)   (see render.py)

A `Table` holds display-ready cells plus the numbers behind them (mean, CI half-width, n), so
each renderer only decides markup. Cells over seeds read ``mean ± h`` where h is the half-width
of the t-based 95% interval over seeds; with one seed there is no interval and the cell is the
mean alone; counts read ``k/n``; a metric a cell has no value for is ``–``.
"""

from __future__ import annotations

import dataclasses
import json
import math

from harness.analysis.cells import display_keys, fmt_value, key_header
from harness.analysis.frame import Results, main_columns
from harness.results.catalogue import metric

DASH = "–"


@dataclasses.dataclass(frozen=True)
class Cell:
    text: str
    mean: float | None = None
    half: float | None = None  # 95% CI half-width
    n: int = 0


@dataclasses.dataclass(frozen=True)
class Column:
    key: str
    header: str
    description: str = ""
    is_label: bool = False  # a grid key (left, text) rather than a metric (right, numeric)


@dataclasses.dataclass(frozen=True)
class Table:
    title: str
    columns: list[Column]
    rows: list[list[Cell]]
    notes: list[str] = dataclasses.field(default_factory=list)


def metric_cell(row: dict | None) -> Cell:
    if row is None:
        return Cell(DASH)
    m = metric(row["metric"])
    if m.cell == "sum":
        return Cell(f"{int(row['mean'])}/{row['n']}", row["mean"], None, row["n"])
    mean, lo, hi, n = row["mean"], row["ci_low"], row["ci_high"], row["n"]
    if n == 0 or math.isnan(mean):
        return Cell(DASH, None, None, n)
    text = f"{mean:.{m.digits}f}"
    if not math.isnan(lo):
        half = (hi - lo) / 2
        return Cell(f"{text} ± {half:.{m.digits}f}", mean, half, n)
    return Cell(text, mean, None, n)


def main_table(res: Results, agg, *, metrics: list[str] | None = None, title: str = "") -> Table:
    names = metrics or main_columns(agg["metric"] if len(agg) else [])
    keys = display_keys(res)
    columns = [Column(k, key_header(k), is_label=True) for k in keys] + [Column("n", "seeds", is_label=True)]
    columns += [Column(n, metric(n).header, metric(n).description) for n in names]
    by = {(r["cell"], r["metric"]): r for r in agg.to_dict("records")} if len(agg) else {}
    rows = []
    for cell, g in res.runs.groupby("cell", sort=False):
        values = dict(zip(res.keys, json.loads(cell), strict=True))
        label = [Cell(fmt_value(values[k])) for k in keys] + [Cell(str(len(g)))]
        rows.append((_sort_key([values[k] for k in keys]), label + [metric_cell(by.get((cell, n))) for n in names]))
    rows.sort(key=lambda r: r[0])
    for ref_id, values in sorted(res.reference.items()):  # the reference policy, evaluated like the runs
        if any(n in values for n in names):
            label = [Cell(f"reference {ref_id}")] + [Cell("")] * (len(keys) - 1) + [Cell(DASH)]
            cells = [Cell(f"{values[n]:.{metric(n).digits}f}", values[n], None, 1) if n in values else Cell(DASH)
                     for n in names]
            rows.append(((), (label if keys else label[1:]) + cells))
    notes = ["mean ± half-width of the 95% t-interval over seeds (mean alone with one seed); "
             "counts are k/n runs; means are over completed runs (diverged and failed runs are counted, not averaged)."]
    notes += [f"{metric(n).header}: {metric(n).description}" for n in names if metric(n).description]
    return Table(title or "Results", columns, [r for _, r in rows], notes)


def runs_table(res: Results) -> Table:
    """Per-run appendix: what each run did, including failures and divergences."""
    keys = display_keys(res)
    wide = res.metrics.pivot_table(index="run_id", columns="metric", values="value", aggfunc="last")
    cols = [c for c in ("final_logratio_chosen", "final_reward_accuracy") if c in wide.columns]
    columns = [Column("run_id", "run", is_label=True)] + [Column(k, key_header(k), is_label=True) for k in keys]
    columns += [Column("seed", "seed", is_label=True), Column("status", "status", is_label=True),
                Column("steps", "steps")] + [Column(c, metric(c).header) for c in cols]
    rows = []
    for r in res.runs.to_dict("records"):
        status = r["status"] + (f" @ {int(r['diverged_step'])}" if r["status"] == "diverged"
                                and not _nan(r["diverged_step"]) else "")
        row = [Cell(r["run_id"])] + [Cell(fmt_value(r[k])) for k in keys]
        row += [Cell(fmt_value(r.get("seed"))), Cell(status), Cell(fmt_value(r["steps"]))]
        row += [Cell(fmt_value(wide.at[r["run_id"], c]) if r["run_id"] in wide.index else DASH) for c in cols]
        rows.append((_sort_key([r[k] for k in keys] + [r.get("seed")]), row))
    rows.sort(key=lambda x: x[0])
    return Table("Runs", columns, [r for _, r in rows])


def _nan(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def ordered_cells(res) -> list[dict]:
    """The grid cells (harness.analysis.cells.grid_cells) in the main table's row order."""
    from harness.analysis.cells import grid_cells

    keys = display_keys(res)
    return sorted(grid_cells(res), key=lambda c: _sort_key([c[k] for k in keys]))


def _sort_key(values: list) -> tuple:
    return tuple((0, v, "") if isinstance(v, (int, float)) and not _nan(v) else (1, 0, str(v)) for v in values)
