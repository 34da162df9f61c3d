"""The trackers behind `loggers:` (harness.tracking): TensorBoard, Weights & Biases, MLflow.

Each is `Backend(spec, out, info, config)` with `log(metrics, step)`, `log_summary(metrics)` and
`finish(status)`; any exception switches it off for the run (harness.tracking.Trackers). Each
finds its run again by the harness run id, so that a resumed training and a later evaluation
(maybe in another process or on another machine) add to the same tracker run.

Defaults keep everything inside the results folder and offline-safe:
- tensorboard: event files in OUT/tensorboard/<suite>/<run_id>/ (`tensorboard --logdir OUT/tensorboard`);
- wandb: project = the suite name, group = the suite, files in the logger's `dir`, else WANDB_DIR,
  else OUT/wandb/; the mode is W&B's own (WANDB_MODE=offline writes runs to sync later with `wandb sync`);
- mlflow: the logger's `tracking_uri`, else MLFLOW_TRACKING_URI, else a file store OUT/mlruns;
  experiment = the suite name. A database URI (sqlite:///...) needs the full `mlflow` package.
"""

from __future__ import annotations

import json
from pathlib import Path


class TensorBoard:
    name = "tensorboard"

    def __init__(self, spec, out: Path, info, config: dict):
        from tensorboardX import SummaryWriter  # pinned in the lock (Ray Train uses it too)

        root = Path(spec.options.get("dir") or out / "tensorboard")
        self.writer = SummaryWriter(logdir=str(root / (info.suite or "runs") / info.run_id), flush_secs=10)
        self.writer.add_text("run", f"{info.title} ({info.run_id})")
        self.writer.add_text("config", "```json\n" + json.dumps(config, indent=1, sort_keys=True) + "\n```")
        self.writer.add_text("tags", json.dumps(info.tags, sort_keys=True))

    def log(self, metrics: dict, step: int) -> None:
        for k, v in metrics.items():
            self.writer.add_scalar(k, v, global_step=step)

    def log_summary(self, metrics: dict) -> None:
        for k, v in metrics.items():
            self.writer.add_scalar(k, v, global_step=0)
        self.writer.flush()

    def finish(self, status: str) -> None:
        self.writer.add_text("status", status)
        self.writer.close()


class WandB:
    name = "wandb"

    def __init__(self, spec, out: Path, info, config: dict):
        import os

        import wandb

        o = dict(spec.options)
        # W&B's own convention first: the logger's `dir`, else WANDB_DIR, else the results folder
        folder = Path(o.pop("dir", None) or os.environ.get("WANDB_DIR") or out)
        folder.mkdir(parents=True, exist_ok=True)
        # id = the harness run id: a resumed run or its later evaluation continues the same W&B run
        self.run = wandb.init(project=o.pop("project", None) or info.suite or "harness", group=info.suite or None,
                              name=info.title, id=info.run_id, resume="allow", tags=[f"{k}={v}" for k, v in
                                                                                   info.tags.items() if v],
                              config=config, dir=str(folder), reinit="create_new",
                              settings=wandb.Settings(console="off", silent=True), **o)

    def log(self, metrics: dict, step: int) -> None:
        self.run.log({**metrics, "harness_step": step})

    def log_summary(self, metrics: dict) -> None:
        self.run.summary.update(metrics)
        self.run.log(metrics)

    def finish(self, status: str) -> None:
        self.run.summary["status"] = status
        self.run.finish(exit_code=0 if status in ("completed", "diverged") else 1)


class MLflow:
    name = "mlflow"
    TAG = "harness.run_id"

    def __init__(self, spec, out: Path, info, config: dict):
        import os

        from mlflow.tracking import MlflowClient

        uri = spec.options.get("tracking_uri") or os.environ.get("MLFLOW_TRACKING_URI")
        if not uri:  # the default: a file store in the results folder
            uri = (Path(out).resolve() / "mlruns").as_uri()
        _check_store(uri)
        self.client = MlflowClient(tracking_uri=uri)
        name = spec.options.get("experiment") or info.suite or "harness"
        exp = self.client.get_experiment_by_name(name)
        exp_id = exp.experiment_id if exp else self.client.create_experiment(name)
        found = self.client.search_runs([exp_id], filter_string=f"tags.`{self.TAG}` = '{info.run_id}'", max_results=1)
        if found:  # the run's evaluation, or a resumed training: the same MLflow run
            self.run_id = found[0].info.run_id
            self.client.update_run(self.run_id, status="RUNNING")
        else:
            tags = {self.TAG: info.run_id, "mlflow.runName": info.title, **{f"harness.{k}": v for k, v in info.tags.items()}}
            self.run_id = self.client.create_run(exp_id, tags=tags, run_name=info.title).info.run_id
            from harness.analysis.frame import flatten

            params = {k: str(v)[:500] for k, v in flatten(config).items()}
            for i in range(0, len(params), 100):  # MLflow takes at most 100 params a batch
                from mlflow.entities import Param

                chunk = list(params.items())[i:i + 100]
                self.client.log_batch(self.run_id, params=[Param(k, v) for k, v in chunk])

    def log(self, metrics: dict, step: int) -> None:
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(_key(k), v, now, step) for k, v in metrics.items()])

    def log_summary(self, metrics: dict) -> None:
        self.log(metrics, 0)

    def finish(self, status: str) -> None:
        self.client.set_tag(self.run_id, "harness.status", status)
        self.client.set_terminated(self.run_id, status="FINISHED" if status in ("completed", "diverged") else "FAILED")


DATABASES = ("sqlite", "postgresql", "mysql", "mssql")  # SQLAlchemy stores: the full `mlflow` package only


def _check_store(uri: str) -> None:
    """What MLflow 3 needs before it opens `uri`. A file store (file:///..., or a plain path, ours
    or the user's) opens only when asked (MLFLOW_ALLOW_FILE_STORE; a user's own `false` stands).
    A database store is served by the `mlflow` package, not by `mlflow-skinny` alone, whose error
    would be about the model registry: say which package to install instead."""
    import importlib.metadata
    import os
    from urllib.parse import urlparse

    scheme = urlparse(uri).scheme.split("+")[0]
    if scheme in ("", "file"):
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    elif scheme in DATABASES:
        try:
            importlib.metadata.version("mlflow")
        except importlib.metadata.PackageNotFoundError:
            raise RuntimeError(f"tracking URI {uri} is a {scheme} database store, which needs the full MLflow "
                               f"package (pip install mlflow); mlflow-skinny alone serves file and http(s) "
                               f"URIs") from None


def _key(name: str) -> str:
    """MLflow metric names: letters, digits, _ - . / and space only."""
    return "".join(c if c.isalnum() or c in "_-./ " else "_" for c in name)
