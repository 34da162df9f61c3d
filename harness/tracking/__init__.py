"""Experiment trackers: each run's config, step metrics and evaluation metrics streamed to
TensorBoard, Weights & Biases or MLflow, one tracker run per harness run.

    loggers: [tensorboard, {name: wandb, options: {project: minordpo}}, mlflow]   # run or suite YAML

    trackers = open_trackers(cfg.loggers, out, run_id=rid, config=to_dict(cfg), info=run_info(cfg, suite))
    trackers.log_step(row)          # a `steps` row: train or eval split, at its step
    trackers.log_evals(rows)        # `evals` rows of this run (metric, value, ci_low, ci_high)
    trackers.finish("completed")

The Parquet tables stay the truth: trackers are a view. A tracker that fails (its package is not
installed, it is offline, the credentials are wrong, its server is down) prints one warning and
is switched off for that run; training goes on and no row is lost. Tracker runs are named
`<suite>/<variant> β=.. lr=.. seed=..`, tagged with suite, loss, β, lr, seed and run id, and a
suite's runs are grouped (a W&B group, an MLflow experiment, a TensorBoard folder per suite).
The evaluation of a run happens after its training, maybe in another process: the tracker run
is found again by the harness run id (W&B `id` + `resume="allow"`, an MLflow tag, the same
TensorBoard folder) and the evaluation metrics join it.

Loggers are placement, not content: they are not part of any run id or suite hash.
Backends register in LOGGERS (harness/tracking/backends.py, imported lazily: `import harness`
never imports tensorboardX, wandb or mlflow).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

from harness.config import check, field
from harness.registry import Registry

LOGGERS: Registry[type] = Registry("logger")
LOGGERS.register("tensorboard", "harness.tracking.backends:TensorBoard")
LOGGERS.register("wandb", "harness.tracking.backends:WandB")
LOGGERS.register("mlflow", "harness.tracking.backends:MLflow")


def _known(name: str) -> str | None:
    return None if name in LOGGERS else LOGGERS.unknown_message(name)


def check_loggers(loggers) -> str | None:
    """The `loggers:` field's check (run config and suite): a bare name must be a logger too, so
    that a typo is exit 2 at load instead of a tracker silently missing from every run."""
    for x in loggers or ():
        problem = _known(x) if isinstance(x, str) else None
        if problem:
            return problem
    return None


@dataclasses.dataclass(frozen=True)
class LoggerSpec:
    """One tracker (`loggers:` takes these, or their names alone)."""

    name: str = field(meta=check(_known), help="`harness ls loggers`: tensorboard | wandb | mlflow")
    options: dict[str, Any] = field(factory=dict,
        help="tensorboard: {dir}; wandb: {project, entity, mode, dir}; mlflow: {tracking_uri, experiment}")


def specs(loggers) -> list[LoggerSpec]:
    """`loggers` as LoggerSpecs (a bare name is a spec with no options)."""
    return [LoggerSpec(name=x) if isinstance(x, str) else x for x in loggers or ()]


@dataclasses.dataclass(frozen=True)
class RunInfo:
    """What a tracker run is called and tagged with."""

    run_id: str
    suite: str
    name: str
    tags: dict[str, str]

    @property
    def title(self) -> str:
        return f"{self.suite}/{self.name}" if self.suite else self.name


def run_info(cfg, run_id: str, suite: str = "") -> RunInfo:
    """Tags from the catalogue's always-shown grid keys (loss, beta, lr, seed); the title is the
    variant with its β, lr and seed (its loss is usually its name)."""
    from harness.config import to_dict
    from harness.results.catalogue import shown_keys

    def value(d, key: str):
        for part in key.split("."):
            d = d[part]
        return d if isinstance(d, str) else f"{d:g}"

    keys = [k for k in shown_keys() if k.key != "name"]
    values = {k.short: value(to_dict(cfg), k.key) for k in keys}
    tags = {"suite": suite or "", **values, "run_id": run_id}
    label = " ".join([cfg.name] + [f"{k.header}={values[k.short]}" for k in keys if k.key != "loss.name"])
    return RunInfo(run_id, suite.split("#")[0], label, tags)


class Trackers:
    """Fan-out to the opened trackers; each failure switches that tracker off, with one warning."""

    def __init__(self, trackers: list):
        self._live = list(trackers)

    def __bool__(self) -> bool:
        return bool(self._live)

    def _each(self, method: str, *args) -> None:
        for t in list(self._live):
            try:
                getattr(t, method)(*args)
            except Exception as e:  # a tracker is a view: never fail the run for it
                self._live.remove(t)
                _warn(t.name, e)

    def log_step(self, row: dict) -> None:
        split, step = row.get("split", "train"), int(row["step"])
        metrics = {f"{split}/{k}": float(v) for k, v in row.items()
                   if k not in ("run_id", "step", "split", "schema_version") and _number(v)}
        self._each("log", metrics, step)

    def log_evals(self, rows: list[dict]) -> None:
        metrics = {}
        for r in rows:
            for col in ("value", "ci_low", "ci_high"):
                if _number(r.get(col)):
                    metrics[f"eval/{r['metric']}" + ("" if col == "value" else f"_{col}")] = float(r[col])
        if metrics:
            self._each("log_summary", metrics)

    def finish(self, status: str) -> None:
        self._each("finish", status)


def open_trackers(loggers, out: str | Path, *, info: RunInfo, config: dict | None = None) -> Trackers:
    """Start (or find again) one tracker run per configured logger."""
    opened = []
    for spec in specs(loggers):
        try:
            opened.append(LOGGERS.get(spec.name)(spec, Path(out), info, config or {}))
        except Exception as e:  # not installed, offline, bad credentials
            _warn(spec.name, e)
    return Trackers(opened)


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _warn(name: str, e: Exception) -> None:
    from harness.notices import warn

    line = str(e).strip().splitlines()[0][:300] if str(e).strip() else ""
    # on the console of `harness run` too, whichever process the run trained in (harness.notices)
    warn(f"warning: logger {name} failed ({type(e).__name__}: {line}); it is off for this run, "
         f"and the Parquet tables have every row")
