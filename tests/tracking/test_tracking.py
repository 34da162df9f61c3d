"""Experiment trackers, for real and offline: TensorBoard event files read back with tensorboard's
own reader, a W&B offline run read back from its transaction log, an MLflow file store read back
with MlflowClient; each compared with the `steps` table (the truth). A tracker that cannot start
warns once and the run loses nothing; loggers change no run id."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

from harness.config import from_dict
from harness.results.records import run_id
from harness.trainer import train_run
from harness.trainer.config import RunConfig

RUN = {"name": "tracked", "model": {"name": "tiny-arith-sft"},
       "data": {"train": "arith", "options": {"n_pairs": 120}, "eval_size": 16},
       "loss": {"name": "minor_dpo", "beta": 0.1},
       "train": {"steps": 6, "batch_size": 8, "eval_every": 3, "threads": 1}}


def _cfg(*loggers) -> RunConfig:
    return from_dict(RunConfig, {**RUN, "loggers": list(loggers)})


def _steps(out, split="train") -> pd.DataFrame:
    df = pd.read_parquet(out / "steps")
    return df[df["split"] == split].sort_values("step").reset_index(drop=True)


def test_loggers_change_no_run_id_and_no_config_json():
    assert run_id(_cfg()) == run_id(_cfg("tensorboard", {"name": "wandb", "options": {"project": "p"}}))


def test_tensorboard_events_match_the_steps_table(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = _cfg("tensorboard")
    result = train_run(cfg, tmp_path, suite="tb-suite")
    assert result.status == "completed"
    (folder,) = (tmp_path / "tensorboard" / "tb-suite").iterdir()
    assert folder.name == result.run_id  # one TensorBoard run per harness run, grouped by suite
    acc = EventAccumulator(str(folder))
    acc.Reload()
    want = _steps(tmp_path)
    got = acc.Scalars("train/loss")
    assert [e.step for e in got] == want["step"].tolist()
    assert [e.value for e in got] == pytest.approx(want["loss"].tolist(), rel=1e-6)  # float32 in the file
    evals = acc.Scalars("eval/logratio_chosen")
    assert [e.step for e in evals] == _steps(tmp_path, "eval")["step"].tolist() == [3, 6]


def test_wandb_offline_run_matches_the_steps_table(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    cfg = _cfg({"name": "wandb", "options": {"project": "harness-test"}})
    result = train_run(cfg, tmp_path, suite="wb-suite")
    assert result.status == "completed"
    import wandb

    # run.finish() does not promise that wandb-core's writer has flushed and closed the transaction
    # log (one CI run read a record that did not parse); teardown stops the service, which closes
    # it, as a process's exit does. Checksums below fail naming the byte if a record is still bad.
    wandb.teardown()
    (log,) = (tmp_path / "wandb").glob(f"offline-run-*-{result.run_id}/run-{result.run_id}.wandb")
    history, config, group, name = _read_wandb(log)
    assert group == "wb-suite" and name.startswith("wb-suite/tracked β=0.1")
    assert config["loss"]["name"] == "minor_dpo" and "loggers" not in config
    train = [h for h in history if "train/loss" in h]
    want = _steps(tmp_path)
    assert [int(h["harness_step"]) for h in train] == want["step"].tolist()
    assert [h["train/loss"] for h in train] == pytest.approx(want["loss"].tolist(), rel=1e-12)


def _wandb_records(path) -> list[bytes]:
    """The records of a W&B transaction log (`run-<id>.wandb`): a 7-byte header (":W&B", magic,
    version), then LevelDB-log blocks of 32 KiB (the file header counts in the first), each record a
    7-byte header (crc32 of the type byte and the bytes, little-endian length, type: 1 full, 2 first,
    3 middle, 4 last) and its bytes. wandb 0.31 ships no Python reader any more (its Go core reads
    these), so this is the format's reader, by its spec; a bad checksum fails naming the offset."""
    import zlib
    from pathlib import Path

    data, block = Path(path).read_bytes(), 32768
    assert data[:4] == b":W&B"
    pos, out, part = 7, [], b""
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a header is zero padding
            pos += block - pos % block
            continue
        crc, length, kind = (int.from_bytes(data[pos:pos + 4], "little"),
                             int.from_bytes(data[pos + 4:pos + 6], "little"), data[pos + 6])
        payload = data[pos + 7:pos + 7 + length]
        assert zlib.crc32(payload, zlib.crc32(bytes([kind]))) == crc, f"{path}: bad record at byte {pos}"
        pos += 7 + length
        if kind == 1:
            out.append(payload)
        elif kind in (2, 3):
            part += payload
        elif kind == 4:
            out.append(part + payload)
            part = b""
    return out


def _read_wandb(path):
    """History rows, config, group and name from an offline run's transaction log."""
    import json

    from wandb.proto import wandb_internal_pb2

    history, config, group, name = [], {}, None, None
    for data in _wandb_records(path):
        rec = wandb_internal_pb2.Record()
        rec.ParseFromString(data)
        kind = rec.WhichOneof("record_type")
        if kind == "history":
            history.append({item.key or "/".join(item.nested_key): json.loads(item.value_json)
                            for item in rec.history.item})
        elif kind == "run":
            group, name = rec.run.run_group, rec.run.display_name
            config.update({item.key: json.loads(item.value_json) for item in rec.run.config.update})
        elif kind == "config":
            config.update({item.key: json.loads(item.value_json) for item in rec.config.update})
    return history, config, group, name


def test_mlflow_file_store_matches_the_steps_table(tmp_path):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    cfg = _cfg("mlflow")
    result = train_run(cfg, tmp_path, suite="mlf-suite")
    assert result.status == "completed"
    client = MlflowClient(tracking_uri=(tmp_path / "mlruns").resolve().as_uri())
    exp = client.get_experiment_by_name("mlf-suite")  # a suite's runs: one experiment
    (run,) = client.search_runs([exp.experiment_id])
    assert run.data.tags["harness.run_id"] == result.run_id and run.info.status == "FINISHED"
    assert run.data.params["loss.name"] == "minor_dpo" and run.data.tags["harness.beta"] == "0.1"
    got = sorted(client.get_metric_history(run.info.run_id, "train/loss"), key=lambda m: m.step)
    want = _steps(tmp_path)
    assert [m.step for m in got] == want["step"].tolist()
    assert [m.value for m in got] == pytest.approx(want["loss"].tolist(), rel=1e-12)


def test_a_tracker_that_cannot_start_warns_once_and_loses_nothing(tmp_path, monkeypatch, capsys):
    pytest.importorskip("tensorboard")
    monkeypatch.setitem(sys.modules, "wandb", None)  # as if the package were not installed
    cfg = _cfg("wandb", "tensorboard")
    result = train_run(cfg, tmp_path)
    assert result.status == "completed"
    err = capsys.readouterr().err
    assert err.count("warning: logger wandb failed") == 1 and "Parquet tables have every row" in err
    assert len(_steps(tmp_path)) == 6 and (tmp_path / "tensorboard").is_dir()  # the other tracker still ran
    plain = tmp_path / "plain"
    train_run(_cfg(), plain)
    cols = ["step", "split", "loss", "logratio_chosen"]
    pd.testing.assert_frame_equal(_steps(tmp_path)[cols], _steps(plain)[cols])  # the same run, the same rows


def test_a_suite_groups_its_runs_and_adds_evaluations_to_them(tmp_path):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    from harness.suite.runner import run_suite
    from harness.suite.spec import suite_from_dict

    spec = {"name": "tracked-suite", "base": RUN, "grid": {"loss.name": ["dpo", "minor_dpo"]},
            "eval": {"prompts": {"data": "arith", "options": {"split": "test", "n_pairs": 4}},
                     "generation": {"backend": "hf", "n_prompts": 4, "max_new_tokens": 12, "max_prompt_len": 16,
                                    "max_model_len": 64}},
            "loggers": ["mlflow"], "report": {"enabled": False}}
    summary = run_suite(suite_from_dict(spec, source="t.yaml"), tmp_path, log=lambda s: None)
    assert summary.incomplete == []
    client = MlflowClient(tracking_uri=(tmp_path / "mlruns").resolve().as_uri())
    runs = client.search_runs([client.get_experiment_by_name("tracked-suite").experiment_id])
    assert sorted(r.data.tags["harness.loss"] for r in runs) == ["dpo", "minor_dpo"]  # one MLflow run each
    evals = pd.read_parquet(tmp_path / "evals")
    for r in runs:
        rid = r.data.tags["harness.run_id"]
        want = evals[(evals["run_id"] == rid) & (evals["metric"] == "verifier_accuracy")]["value"].iloc[0]
        assert r.data.metrics["eval/verifier_accuracy"] == pytest.approx(want)  # the evaluation joined its run
        assert client.get_metric_history(r.info.run_id, "train/loss")  # and the training is in the same run
    no_loggers = suite_from_dict({k: v for k, v in spec.items() if k != "loggers"}, source="t.yaml")
    from harness.suite.grid import expand

    assert sorted(r.run_id for r in expand(no_loggers).runs) == sorted(pd.read_parquet(tmp_path / "runs")["run_id"])


# ---------------------------------------------------------------- issue 21: names at load, failures on the console
SUITE_YAML = """name: s7
base: {model: {name: tiny-arith-sft}, data: {train: arith, options: {n_pairs: 64}, eval_size: 8},
       train: {steps: 2, batch_size: 4, threads: 1, eval_every: 0, checkpoint_every: 0}}
grid: {train.seed: [0]}
report: {enabled: false}
"""
TINY = Path(__file__).resolve().parents[2] / "suites" / "examples" / "train-tiny.yaml"


@pytest.mark.parametrize("command", ["train", "run"])
@pytest.mark.parametrize("loggers, words", [
    ("[nosuch]", ["loggers: unknown logger 'nosuch'", "known: mlflow, tensorboard, wandb"]),
    ("[tensorbord]", ["loggers: unknown logger 'tensorbord'", "did you mean 'tensorboard'"]),
    ("[{name: nosuch}]", ["loggers[0].name: unknown logger 'nosuch'"]),
], ids=["bare-name", "typo", "mapping"])
def test_an_unknown_logger_is_refused_at_load(tmp_path, capsys, command, loggers, words):
    from harness.cli import main

    suite = tmp_path / "s.yaml"
    suite.write_text(SUITE_YAML)
    out = tmp_path / "out"
    assert main([command, str(TINY if command == "train" else suite), "--out", str(out), f"loggers={loggers}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    for word in words:
        assert word in err, (word, err)
    assert "expected str | LoggerSpec" not in err and not out.exists()


def test_a_tracker_failing_at_run_time_warns_on_the_console_of_harness_run(tmp_path):
    """A bad wandb option and a TensorBoard folder that is a file: the run completes, and each
    warning is on the console (stdout of `harness run`), not only in OUT/logs."""
    import os
    import subprocess

    pytest.importorskip("wandb")
    afile = tmp_path / "afile"
    afile.write_text("x")
    suite = tmp_path / "s.yaml"
    suite.write_text(SUITE_YAML + f"loggers: [{{name: wandb, options: {{bogus: 1}}}}, "
                                  f"{{name: tensorboard, options: {{dir: {afile}}}}}]\n")
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    p = subprocess.run([sys.executable, "-m", "harness.cli", "run", str(suite), "--out", str(tmp_path / "out")],
                       capture_output=True, text=True, timeout=300, env=env)
    assert p.returncode == 0, p.stderr[-2000:]
    console = p.stdout + p.stderr
    assert console.count("warning: logger wandb failed") == 1 and "'bogus'" in console, console
    assert console.count("warning: logger tensorboard failed") == 1 and "Not a directory" in console, console
    assert "Traceback" not in console
    steps = pd.read_parquet(tmp_path / "out" / "steps")
    assert (steps["split"] == "train").sum() == 2  # the run lost nothing


class _FakeWandb:
    """Records wandb.init's arguments (the backend's choices), starts nothing."""

    def __init__(self):
        self.kwargs = {}

    def init(self, **kwargs):
        self.kwargs = kwargs
        return object()

    def Settings(self, **kwargs):  # noqa: N802  (wandb's name)
        return kwargs


def _info():
    from harness.tracking import RunInfo

    return RunInfo("rid0", "suite0", "tracked", {"run_id": "rid0"})


def test_wandb_honours_wandb_dir(tmp_path, monkeypatch):
    from harness.tracking import LoggerSpec
    from harness.tracking.backends import WandB

    fake = _FakeWandb()
    monkeypatch.setitem(sys.modules, "wandb", fake)
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "elsewhere"))
    WandB(LoggerSpec("wandb"), tmp_path / "out", _info(), {})
    assert fake.kwargs["dir"] == str(tmp_path / "elsewhere") and (tmp_path / "elsewhere").is_dir()
    WandB(LoggerSpec("wandb", {"dir": str(tmp_path / "mine")}), tmp_path / "out", _info(), {})
    assert fake.kwargs["dir"] == str(tmp_path / "mine")  # the logger's own option comes first
    monkeypatch.delenv("WANDB_DIR")
    WandB(LoggerSpec("wandb"), tmp_path / "out", _info(), {})
    assert fake.kwargs["dir"] == str(tmp_path / "out")


def test_mlflow_takes_the_users_own_file_uri(tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    from harness.tracking import LoggerSpec
    from harness.tracking.backends import MLflow

    uri = (tmp_path / "my-store").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    tracker = MLflow(LoggerSpec("mlflow"), tmp_path / "out", _info(), {"a": 1})
    tracker.finish("completed")
    (run,) = MlflowClient(tracking_uri=uri).search_runs([MlflowClient(tracking_uri=uri)
                                                         .get_experiment_by_name("suite0").experiment_id])
    assert run.data.tags["harness.run_id"] == "rid0" and not (tmp_path / "out" / "mlruns").exists()


def test_a_database_uri_without_the_mlflow_package_says_which_package(tmp_path, monkeypatch, capsys):
    import importlib.metadata

    pytest.importorskip("mlflow")
    try:
        importlib.metadata.version("mlflow")
        pytest.skip("the full mlflow package is installed: sqlite works")
    except importlib.metadata.PackageNotFoundError:
        pass
    from harness.tracking import LoggerSpec, open_trackers

    spec = LoggerSpec("mlflow", {"tracking_uri": f"sqlite:///{tmp_path}/mlflow.db"})
    assert not open_trackers([spec], tmp_path, info=_info())
    err = capsys.readouterr().err
    assert err.count("warning: logger mlflow failed") == 1 and "pip install mlflow" in err and "sqlite" in err
