"""Baselines: a reviewed snapshot of a suite's aggregated metrics, with tolerances and stated
expectations. A baseline is a folder:

    baselines/minordpo-arith/
      baseline.yaml     # suite, suite hash, reason, env, tolerances, expectations (edit by hand)
      metrics.parquet   # one row per (grid cell, metric): n, mean, std, ci_low, ci_high, values

    record_baseline("results/minordpo-arith", "baselines/minordpo-arith", reason="calibrated sizes")
    base = load_baseline("baselines/minordpo-arith")

Tolerances (per metric): a move of the cell mean is within tolerance when
``|current - baseline| <= max(abs, seeds * baseline seed std)``; `seeds` applies only where the
baseline has >= 2 seeds; `direction: worse` only flags moves in the bad direction of the metric
(for metrics whose good direction the catalogue in harness.summary does not know, such as
lm-eval's, it is the same as `both`).
Re-recording keeps the file's tolerances and expectations (they are reviewed text), refuses a
baseline of another suite, and refuses data that breaks a stated expectation unless forced:
a baseline change must come with a reason, never silently.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
from pathlib import Path
from typing import Any, Literal

import yaml

from harness.config import from_dict, load_yaml, nonnegative, to_dict
from harness.errors import HarnessError

F = dataclasses.field
BASELINE_FILE, METRICS_FILE = "baseline.yaml", "metrics.parquet"


@dataclasses.dataclass(frozen=True)
class Tolerance:
    abs: float = F(default=0.05, metadata=nonnegative)
    seeds: float | None = F(default=None, metadata=nonnegative)  # multiples of the baseline's seed std
    direction: Literal["both", "worse"] = "both"


@dataclasses.dataclass(frozen=True)
class Comparand:
    where: dict[str, Any]  # the other cell(s), e.g. {name: sft}
    metric: str | None = None  # default: the expectation's metric
    offset: float = 0.0  # added to the other cell's value


@dataclasses.dataclass(frozen=True)
class Expectation:
    """`metric` of every cell matching `where` must be `op` a constant `value` or another cell's."""

    name: str
    metric: str
    op: Literal["<", "<=", ">", ">="]
    where: dict[str, Any] = F(default_factory=dict)
    value: float | None = None
    than: Comparand | None = None
    stat: Literal["mean", "min", "max"] = "mean"  # over seeds: max < 0 means "every seed"

    def validate(self):
        if (self.value is None) == (self.than is None):
            return "value", "give exactly one of `value` and `than`"
        return None


@dataclasses.dataclass(frozen=True)
class BaselineFile:
    suite: str
    reason: str
    keys: list[str]
    suite_hash: str = ""
    recorded: str = ""
    results: str = ""
    tolerances: dict[str, Tolerance] = F(default_factory=dict)
    expectations: list[Expectation] = F(default_factory=list)
    env: dict[str, Any] = F(default_factory=dict)


@dataclasses.dataclass
class Baseline:
    path: Path
    file: BaselineFile
    metrics: Any  # pandas DataFrame


def load_baseline(path: str | Path) -> Baseline:
    import pandas as pd

    path = Path(path)
    yml, pq = path / BASELINE_FILE, path / METRICS_FILE
    if not yml.is_file() or not pq.is_file():
        raise HarnessError(f"{path}: not a baseline (needs {BASELINE_FILE} and {METRICS_FILE}); "
                           f"record one with `harness baseline record RESULTS --to {path} --reason ...`")
    file = from_dict(BaselineFile, load_yaml(yml), source=str(yml))
    metrics = pd.read_parquet(pq)
    return Baseline(path, file, metrics)


def suite_identity(results_dir: Path, res) -> tuple[str, str]:
    """(suite name, suite hash) of a results folder: from suite.json, else the runs table."""
    try:
        doc = json.loads((results_dir / "suite.json").read_text())
        return doc["name"], doc.get("hash", "")
    except (OSError, ValueError, KeyError):
        names = sorted(set(res.runs["suite"].dropna()))
        if len(names) != 1:
            raise HarnessError(f"{results_dir}: runs from several suites {names}; record one suite per baseline") from None
        return names[0], ""


def default_tolerance(name: str) -> Tolerance:
    from harness.summary import metric

    m = metric(name)
    return Tolerance(abs=float(m.tol_abs), seeds=m.tol_seeds)


def record_baseline(results_dir: str | Path, to: str | Path, *, reason: str, force: bool = False) -> Baseline:
    from harness.env import snapshot
    from harness.regress.checks import check_expectations
    from harness.summary import aggregate, load_results

    results_dir, to = Path(results_dir), Path(to)
    if not reason.strip():
        raise HarnessError("a baseline needs a --reason (why these numbers are the new reference)")
    res = load_results(results_dir)
    suite, suite_hash = suite_identity(results_dir, res)
    agg = aggregate(res)
    old = load_baseline(to) if (to / BASELINE_FILE).is_file() else None
    if old is not None and old.file.suite != suite:
        raise HarnessError(f"{to}: holds a baseline of suite {old.file.suite!r}; refusing to record suite "
                           f"{suite!r} over it (choose another --to)")
    tolerances = dict(old.file.tolerances) if old else {}
    for name in sorted(set(agg["metric"])):
        tolerances.setdefault(name, default_tolerance(name))
    expectations = list(old.file.expectations) if old else []
    file = BaselineFile(suite=suite, reason=reason.strip(), keys=list(res.keys), suite_hash=suite_hash,
                        recorded=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                        results=str(results_dir), tolerances=tolerances, expectations=expectations,
                        env=snapshot())
    new = Baseline(to, file, agg.drop(columns=["cell"]))
    broken = [c for c in check_expectations(new.file, res, agg) if not c.ok]
    if broken and not force:
        lines = "\n".join(f"  {c.describe()}" for c in broken)
        raise HarnessError(f"{results_dir}: breaks the stated expectations of {to}:\n{lines}\n"
                           "fix the results, edit the expectations, or pass --force")
    save_baseline(new)
    return new


HEADER = """\
# Baseline of suite {suite}: reviewed reference numbers for `harness regress`.
# Recorded with `harness baseline record`; metrics.parquet holds the per-cell numbers.
# Edit tolerances (abs; seeds = multiples of the baseline's seed std; direction: both|worse) and
# expectations (declarative checks that must keep holding) by hand; re-recording keeps them.
"""


def save_baseline(b: Baseline) -> None:
    b.path.mkdir(parents=True, exist_ok=True)
    doc = _prune(to_dict(b.file))
    text = HEADER.format(suite=b.file.suite) + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)
    tmp = b.path / f".{BASELINE_FILE}.tmp"
    tmp.write_text(text)
    b.metrics.to_parquet(b.path / f".{METRICS_FILE}.tmp", index=False)
    (b.path / f".{METRICS_FILE}.tmp").replace(b.path / METRICS_FILE)
    tmp.replace(b.path / BASELINE_FILE)


def _prune(d: Any) -> Any:
    """Drop None-valued keys so the YAML stays short and re-loads to the same dataclasses."""
    if isinstance(d, dict):
        return {k: _prune(v) for k, v in d.items() if v is not None}
    if isinstance(d, list):
        return [_prune(v) for v in d]
    return d
