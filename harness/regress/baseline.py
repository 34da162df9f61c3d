"""Baselines: a reviewed snapshot of a suite's aggregated metrics, with the rules `harness regress`
decides by and stated expectations. A baseline is a folder:

    baselines/minordpo-arith/
      baseline.yaml     # suite, suite hash, reason, env, test, tolerances, expectations (edit by hand)
      metrics.parquet   # one row per (grid cell, metric): n, mean, std, ci_low, ci_high, values (per seed)

    record_baseline("results/minordpo-arith", "baselines/minordpo-arith", reason="calibrated sizes")
    base = load_baseline("baselines/minordpo-arith")

How a move is judged (harness.regress.compare): per (grid cell, metric), Welch's t-test of the
current seeds against the baseline's seeds (both sides' spread), with the family-wise error over
every tested cell x metric controlled by Holm–Bonferroni (`test:`); a cell is flagged only when
the test rejects *and* the move is larger than the metric's practical floor
``max(abs, rel x |baseline mean|)`` (`tolerances:`), so a significant but tiny move is not a
regression. `direction: worse` tests one-sided in the metric's bad direction (for metrics whose
good direction the catalogue in harness.analysis.frame does not know, such as lm-eval's, it is the same
as `both`). Metrics marked `exact` (failed runs) are not tested: any count change is flagged.
Re-recording keeps the file's test settings, tolerances and expectations (they are reviewed
text), refuses a baseline of another suite, and refuses data that breaks a stated expectation
unless forced: a baseline change must come with a reason, never silently.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
from pathlib import Path
from typing import Any, Literal

import yaml

from harness.analysis.claims import ClaimSpec, claim_dict, from_expectation
from harness.config import field, from_dict, in_range, load_yaml, nonnegative, to_dict
from harness.errors import HarnessError
from harness.hashing import file_hash

BASELINE_FILE, METRICS_FILE = "baseline.yaml", "metrics.parquet"


@dataclasses.dataclass(frozen=True)
class Tolerance:
    """The practical floor of one metric: moves up to max(abs, rel x |baseline mean|) never flag."""

    abs: float = field(0.05, meta=nonnegative, help="moves up to this absolute size never flag")
    rel: float = field(0.0, meta=nonnegative, help="... nor up to this share of |baseline mean|")
    direction: Literal["both", "worse"] = field("both", help="both: any move; worse: only moves in the metric's bad direction (one-sided test)")

    def floor(self, base: float) -> float:
        return max(self.abs, self.rel * abs(base)) if base == base else self.abs


@dataclasses.dataclass(frozen=True)
class TestSettings:
    """How cells are tested: Welch's t over seeds, corrected for multiple comparisons."""

    alpha: float = field(0.05, meta=in_range(1e-9, 0.5), help="family-wise (holm) or false-discovery (bh) error rate of the cell tests")
    correction: Literal["holm", "bh", "none"] = field("holm",
        help="holm: family-wise error <= alpha over all tested cells x metrics (no false alarm in 1 - alpha of clean reruns); bh: Benjamini–Hochberg false-discovery rate; none: each test at alpha")


@dataclasses.dataclass(frozen=True)
class BaselineFile:
    suite: str = field(help="the suite this baseline belongs to (re-recording another suite over it is refused)")
    reason: str = field(help="why these numbers are the reference (required, reviewed)")
    keys: list[str] = field(help="the grid keys that identify a cell")
    suite_hash: str = field("", help="the suite definition's hash when recorded")
    recorded: str = field("", help="when it was recorded (UTC)")
    results: str = field("", help="the results folder it was recorded from")
    rm_informative: bool | None = field(None,
        help="whether the reward model judged better than chance when recorded (None: no RM); its metrics are not tested when either side's RM is at chance (harness.analysis.frame.RMSignal)")
    test: TestSettings = field(factory=TestSettings, help="how cells are tested (Welch's t over seeds, corrected)")
    tolerances: dict[str, Tolerance] = field(factory=dict, help="per metric: the practical floor and direction")
    expectations: list[ClaimSpec] = field(factory=list,
        help="claims that must keep holding (harness.analysis.claims: bound, sign, difference)")
    dtype: str = field("", help="the compute dtype(s) of the recorded runs (runs.dtype, comma-separated when mixed); "
                                  "regress says when it compares results of another precision. Empty: not recorded")
    env: dict[str, Any] = field(factory=dict, help="machine and library versions when recorded")
    metrics_sha256: str = field("", help="of metrics.parquet: the two files are one unit (save_baseline)")


@dataclasses.dataclass
class Baseline:
    path: Path
    file: BaselineFile
    metrics: Any


def load_baseline(path: str | Path, *, verify: bool = True) -> Baseline:
    import pandas as pd

    path = Path(path)
    yml, pq = path / BASELINE_FILE, path / METRICS_FILE
    if not yml.is_file() or not pq.is_file():
        raise HarnessError(f"{path}: not a baseline (needs {BASELINE_FILE} and {METRICS_FILE}); "
                           f"record one with `harness baseline record RESULTS --to {path} --reason ...`")
    data = load_yaml(yml)
    if isinstance(data, dict) and isinstance(data.get("expectations"), list):  # older files: no kinds
        data = {**data, "expectations": [from_expectation(e) for e in data["expectations"]]}
    file = from_dict(BaselineFile, data, source=str(yml))
    if verify and file.metrics_sha256 and file_hash(pq, n=64) != file.metrics_sha256:
        raise HarnessError(f"{pq}: does not match the metrics_sha256 in {yml} (a recording was interrupted, or "
                           "one file was edited without the other); re-record the baseline")
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


def run_dtypes(res) -> str:
    """The compute dtypes of a results folder's grid runs ("float32", "bfloat16", or both, sorted)."""
    from harness.results.store import ResultStore

    runs = ResultStore(res.root).read("runs")
    if "dtype" not in runs:
        return ""
    ids = set(res.runs["run_id"])
    return ",".join(sorted(set(runs.loc[runs["run_id"].isin(ids), "dtype"].dropna().astype(str))))


def default_tolerance(name: str) -> Tolerance:
    from harness.results.catalogue import metric

    m = metric(name)
    return Tolerance(abs=float(m.tol_abs), rel=float(m.tol_rel))


def record_baseline(results_dir: str | Path, to: str | Path, *, reason: str, force: bool = False) -> Baseline:
    from harness.analysis.frame import aggregate, load_results
    from harness.env import snapshot
    from harness.regress.checks import check_expectations

    results_dir, to = Path(results_dir), Path(to)
    if not reason.strip():
        raise HarnessError("a baseline needs a --reason (why these numbers are the new reference)")
    if to.exists() and not to.is_dir():  # checked before reading: save_baseline's mkdir would fail last
        raise HarnessError(f"--to {to}: is a file, not a baseline folder")
    if to.is_symlink() and not to.exists():
        raise HarnessError(f"--to {to}: a symbolic link to {os.readlink(to)}, which does not exist")
    res = load_results(results_dir)
    suite, suite_hash = suite_identity(results_dir, res)
    agg = aggregate(res)
    # the old file's reviewed text is kept, even when an interrupted recording left its numbers behind
    old = load_baseline(to, verify=False) if (to / BASELINE_FILE).is_file() else None
    if old is not None and old.file.suite != suite:
        raise HarnessError(f"{to}: holds a baseline of suite {old.file.suite!r}; refusing to record suite "
                           f"{suite!r} over it (choose another --to)")
    tolerances = dict(old.file.tolerances) if old else {}
    for name in sorted(set(agg["metric"])):
        tolerances.setdefault(name, default_tolerance(name))
    expectations = list(old.file.expectations) if old else []
    file = BaselineFile(suite=suite, reason=reason.strip(), keys=list(res.keys), suite_hash=suite_hash,
                        recorded=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                        results=str(results_dir), test=old.file.test if old else TestSettings(),
                        rm_informative=res.rm.informative if res.rm is not None else None,
                        tolerances=tolerances, expectations=expectations,
                        dtype=run_dtypes(res), env=snapshot())
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
# `harness regress` flags a (cell, metric) when Welch's t over seeds rejects at the family-wise `test.alpha`
# (Holm) AND the move exceeds its tolerance floor max(abs, rel x |baseline|); direction: both|worse.
# Edit test, tolerances and expectations (checks that must keep holding) by hand; re-recording keeps them.
"""


def save_baseline(b: Baseline) -> None:
    """metrics.parquet first, then baseline.yaml carrying its sha256, each atomic and fsynced: the
    yaml is the commit point. A kill between the two leaves the old yaml with the old hash, which
    `load_baseline` refuses, rather than new numbers under the old reason (the replacement is one
    unit). Stray temporaries of an earlier interrupted recording are removed."""
    from harness.atomic import write_atomic, write_text_atomic

    b.path.mkdir(parents=True, exist_ok=True)
    for stray in b.path.glob(".*.tmp"):
        stray.unlink()
    metrics = write_atomic(b.path / METRICS_FILE, lambda tmp: b.metrics.to_parquet(tmp, index=False))
    b.file = dataclasses.replace(b.file, metrics_sha256=file_hash(metrics, n=64))
    doc = _prune(to_dict(b.file))
    doc["expectations"] = [claim_dict(c) for c in b.file.expectations]
    text = HEADER.format(suite=b.file.suite) + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)
    write_text_atomic(b.path / BASELINE_FILE, text)


def _prune(d: Any) -> Any:
    """Drop None-valued keys so the YAML stays short and re-loads to the same dataclasses."""
    if isinstance(d, dict):
        return {k: _prune(v) for k, v in d.items() if v is not None}
    if isinstance(d, list):
        return [_prune(v) for v in d]
    return d
