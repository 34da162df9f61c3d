"""Results as frames: load a folder's Parquet tables, extract per-run metrics, aggregate per cell.

    res = load_results("results/minordpo-arith")
    res.runs          # one row per grid run: run_id, status, cell, and its flattened config keys
    res.keys          # the grid keys that identify a cell (varying keys minus seeds), e.g.
                      # ["name", "loss.beta", "train.learning_rate"]
    res.metrics       # long frame: run_id, metric, value
    agg = aggregate(res)   # one row per (cell, metric): n, mean, std, ci_low, ci_high (over seeds)

Cell identity (which keys make a cell) is harness.analysis.cells; the reward model's signal is
harness.analysis.signal. Metric names, sources and meanings live in one place, the catalogue
(harness.results.catalogue); this module reads the sources it names and aggregates, so report, verdict and regress always agree:
- `runs`: `diverged` (1/0) and `failed` (1/0), summed over seeds;
- `steps`: the final value of each catalogued steps column (`final_logratio_chosen`, ...);
  completed runs only: a diverged or failed run has no final state, it is counted instead;
- `evals`: every metric as written by `harness.evaluation` (with its own CI over prompts), except
  timings (`generation_s`, `scoring_s`) and `eval_failed` markers;
- `lmeval`: `lmeval/<task>/<metric>`.
Nothing is parsed from logs. SFT stages (`runs.suite` ending in `#sft`) and evaluation-only rows
(no training config) are not grid runs and are left out.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

from harness.analysis.cells import cell_id, cell_keys
from harness.analysis.signal import RMSignal, rm_signal
from harness.errors import HarnessError
from harness.results.catalogue import METRICS, NOT_RESULTS, by_source, metric
from harness.results.records import FINISHED

# the main table, in the catalogue's order (only columns with data are shown)
MAIN_COLUMNS = [m.name for m in sorted((m for m in (METRICS.get(n) for n in METRICS.names()) if m.main is not None),
                                       key=lambda m: m.main)]
STEP_FINALS = {m.column: m.name for m in by_source("steps")}  # steps column -> its final-value metric
# not results: machine timings, and the marker of a failed evaluation
SKIPPED_METRICS = set(NOT_RESULTS)


def main_columns(available) -> list[str]:
    """The main table's default columns: MAIN_COLUMNS, then lm-eval results, as far as there is data."""
    have = set(available)
    return [m for m in MAIN_COLUMNS if m in have] + sorted(m for m in have if m.startswith("lmeval/"))


@dataclasses.dataclass
class Results:
    root: Path
    runs: Any  # pandas DataFrame
    keys: list[str]
    metrics: Any  # pandas DataFrame: run_id, metric, value
    steps: Any  # the grid runs' steps rows
    reference: dict[str, dict[str, float]]  # reference policy id -> its evaluation metrics
    rm: RMSignal | None = None  # None: no reward model scored these runs
    roots: tuple = ()  # the results folders read (several for a multi-suite report); () means (root,)


def flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(d, dict):
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: json.dumps(d) if isinstance(d, list) else d}


def grid_runs(root: Path):
    """(store, grid runs, their flattened configs) of one results folder."""
    import pandas as pd

    from harness.results.store import ResultStore

    store = ResultStore(root)
    runs = store.read("runs")
    if not root.is_dir() or runs.empty:
        raise HarnessError(f"{root}: no runs table (is this a results folder?)")
    runs = runs[~runs["suite"].fillna("").str.contains("#") & runs["config_json"].notna()].copy()
    flat = [flatten(json.loads(c)) for c in runs["config_json"]]
    runs = runs[[bool(f.get("train.steps")) for f in flat]]
    flat = [f for f in flat if f.get("train.steps")]
    if runs.empty:
        raise HarnessError(f"{root}: no grid runs in the runs table")
    return store, runs, pd.DataFrame(flat, index=runs.index)


def load_results(root: str | Path) -> Results:
    """One results folder (several: harness.analysis.combine.load_many)."""
    root = Path(root)
    store, runs, config = grid_runs(root)
    keys = cell_keys(config)
    runs = cell_runs(runs, config, keys)
    steps = store.read("steps")
    steps = steps[steps["run_id"].isin(runs["run_id"])]
    metrics = run_metrics(store, runs, steps)
    return Results(root, runs, keys, metrics, steps, reference_metrics(store), rm_signal(store))


def cell_runs(runs, config, keys: list[str]):
    """The runs a report groups: id, suite, status and steps, the cell's keys, seed and cell id.
    `runs` and `config` are row-aligned (grid_runs's, or several folders' concatenated)."""
    import pandas as pd

    cols = ["run_id", "suite", "status", "diverged_step", "steps"]
    out = pd.concat([runs[cols].reset_index(drop=True),
                     config[[k for k in keys if k not in cols]].reset_index(drop=True)], axis=1)
    out["seed"] = config["train.seed"].to_numpy() if "train.seed" in config else None
    out["cell"] = [cell_id(row) for row in out[keys].itertuples(index=False)]
    return out


def reference_metrics(store) -> dict[str, dict[str, float]]:
    """Evaluation metrics of the reference policies (the SFT stage or the base model), which
    harness.evaluation evaluates like any run and marks `is_reference`: the row to beat."""
    evals = store.read("evals")
    if "is_reference" not in evals:
        return {}
    ref = evals[evals["is_reference"].fillna(False).astype(bool) & ~evals["metric"].isin(SKIPPED_METRICS)]
    out = {rid: dict(zip(g["metric"], g["value"].astype(float), strict=True)) for rid, g in ref.groupby("run_id")}
    lm = store.read("lmeval")
    for r in lm[lm["run_id"].isin(out)].itertuples():
        out[r.run_id][f"lmeval/{r.task}/{r.metric}"] = float(r.value)
    return out


def run_metrics(store, runs, steps):
    """Long frame (run_id, metric, value) for the grid runs, from the sources the catalogue names:
    `runs` (status counts), `steps` (final values), `evals` (as the evaluation wrote them, each
    metric once) and `lmeval`."""
    import pandas as pd

    ids = set(runs.loc[runs["status"] == "completed", "run_id"])  # see the module docstring
    rows = []
    for r in runs.itertuples():
        rows.append((r.run_id, "diverged", float(r.status == "diverged")))
        rows.append((r.run_id, "failed", float(r.status not in FINISHED)))
    rows += _step_finals(steps[steps["run_id"].isin(ids)])
    evals = store.read("evals")
    evals = evals[evals["run_id"].isin(ids) & ~evals["metric"].isin(SKIPPED_METRICS)]
    rows += [(r.run_id, r.metric, float(r.value)) for r in evals.itertuples()]
    if "winrate_vs_ref" in set(evals["metric"]):  # length-controlled beside it, from scores + generations
        from harness.analysis.length import lc_rows

        rows += lc_rows(store, sorted(ids))
    lm = store.read("lmeval")
    rows += [(r.run_id, f"lmeval/{r.task}/{r.metric}", float(r.value)) for r in lm[lm["run_id"].isin(ids)].itertuples()]
    return pd.DataFrame(rows, columns=["run_id", "metric", "value"])


def _step_finals(steps) -> list[tuple]:
    rows = []
    for rid, s in steps.groupby("run_id"):
        ev = s[s["split"] == "eval"]
        if len(ev):
            last = ev[ev["step"] == ev["step"].max()]
        else:
            tr = s[s["split"] == "train"].sort_values("step")
            last = tr.tail(max(1, len(tr) // 10))
        for col, name in STEP_FINALS.items():
            if col in last and last[col].notna().any():
                rows.append((rid, name, float(last[col].mean())))
    return rows


def aggregate(res: Results):
    """One row per (cell, metric): the cell's key values, n, mean, std, ci_low, ci_high, values."""
    import pandas as pd

    from harness.analysis.stats import finite, summarize

    merged = res.metrics.merge(res.runs[["run_id", "cell"] + res.keys], on="run_id")
    out = []
    for (cell, name), g in merged.groupby(["cell", "metric"], sort=False):
        values = [float(v) for v in g.sort_values("run_id")["value"]]
        keyvals = dict(zip(res.keys, json.loads(cell), strict=True))
        if metric(name).cell == "sum":
            total = sum(finite(values))
            out.append({**keyvals, "cell": cell, "metric": name, "n": len(values), "mean": total,
                        "std": math.nan, "ci_low": math.nan, "ci_high": math.nan, "values": values})
        else:
            s = summarize(values)
            out.append({**keyvals, "cell": cell, "metric": name, "n": s.n, "mean": s.mean, "std": s.std,
                        "ci_low": s.ci_low, "ci_high": s.ci_high, "values": values})
    return pd.DataFrame(out)
