"""The pool executor: runs side by side in worker processes give the rows the local executor
gives; dependencies are respected; a worker killed mid-task fails that task, not the suite."""

from __future__ import annotations

import os
import signal
import sys
import time

import pandas as pd
import pytest

from harness.suite.executors import EXECUTORS, Task
from harness.suite.runner import run_suite
from harness.suite.spec import suite_from_dict

SUITE = {
    "name": "pool",
    "base": {"model": {"name": "tiny-arith-sft"},
             "data": {"train": "arith", "options": {"n_pairs": 200, "seed": 0}, "eval_size": 16,
                      "max_prompt_len": 16, "max_response_len": 32},
             "train": {"steps": 8, "batch_size": 8, "learning_rate": 1.0e-3, "threads": 1}},
    "grid": {"loss.name": ["dpo", "minor_dpo"], "train.seed": [0, 1]},
    "report": {"enabled": False},
}
# how long, and whether a worker found the reference cache already filled by the other: execution
# order, not results
TIMING = ["wall_s", "elapsed_s", "step_s", "ref_cache_hit"]


def _rows(out, table):
    df = pd.read_parquet(out / table)
    keep = [c for c in df.columns if c not in TIMING + ["env_json", "threads", "checkpoint", "model_dir"]]
    key = ["run_id", "split", "step"] if table == "steps" else ["run_id"]
    return df[keep].sort_values(key).reset_index(drop=True)


def test_pool_gives_the_rows_of_the_local_executor(tmp_path):
    suite = suite_from_dict(SUITE, source="pool.yaml")
    a, b = tmp_path / "local", tmp_path / "pool"
    run_suite(suite, a, executor="local", log=lambda s: None)
    lines: list[str] = []
    summary = run_suite(suite, b, executor="pool", workers=2, log=lines.append)
    assert summary.incomplete == [] and "pool executor, 2 at a time" in lines[0]
    pd.testing.assert_frame_equal(_rows(a, "runs"), _rows(b, "runs"))
    pd.testing.assert_frame_equal(_rows(a, "steps"), _rows(b, "steps"))  # bit-identical training


# ---------------------------------------------------------------- executor mechanics (module level: picklable)
def _sleep_then(value, delay, *, deps):
    time.sleep(delay)
    return {"value": value, "pid": os.getpid(), "deps": sorted(deps)}


def _die(*, deps):
    os.kill(os.getpid(), signal.SIGKILL)


def _boom(*, deps):
    raise RuntimeError("a task failed")


@pytest.fixture(scope="module")
def pool():
    return EXECUTORS.get("pool")(workers=2)


def test_tasks_run_side_by_side_and_after_their_dependencies(pool):
    tasks = [Task("a", _sleep_then, ("a", 1.0)), Task("b", _sleep_then, ("b", 1.0)),
             Task("c", _sleep_then, ("c", 0.0), after=("a", "b"))]
    started = time.perf_counter()
    out = pool.run(tasks)
    assert time.perf_counter() - started < 4.0  # a and b overlapped (spawning two workers costs ~1-2 s)
    assert out["a"].value["pid"] != out["b"].value["pid"]
    assert out["c"].value["deps"] == ["a", "b"]


def test_a_killed_worker_fails_its_task_and_the_rest_goes_on(pool):
    tasks = [Task("dies", _die), Task("bystander", _sleep_then, ("ok", 0.5)), Task("raises", _boom),
             Task("later", _sleep_then, ("ok", 0.0), after=("dies",))]
    out = pool.run(tasks)
    assert not out["dies"].ok and "worker process died while running dies alone" in out["dies"].error
    assert out["bystander"].ok  # in flight when the pool broke: run again, and finished
    assert not out["raises"].ok and "a task failed" in out["raises"].error  # an exception is a failure at once
    assert out["later"].ok and out["later"].value["value"] == "ok"  # a fresh pool took over


def _train_or_die(cfg, out, *, run_id, suite):
    if cfg.train.seed == 1 and cfg.loss.name == "dpo":
        os.kill(os.getpid(), signal.SIGKILL)  # as the kernel's OOM killer would
    from harness.trainer import train_run

    return train_run(cfg, out, run_id=run_id, suite=suite)


def test_a_run_whose_worker_is_killed_is_recorded_failed_and_the_suite_goes_on(tmp_path):
    suite = suite_from_dict(SUITE, source="pool.yaml")
    summary = run_suite(suite, tmp_path, executor="pool", workers=2, train_fn=_train_or_die, log=lambda s: None)
    runs = pd.read_parquet(tmp_path / "runs")
    assert sorted(runs["status"]) == ["completed", "completed", "completed", "failed"]
    failed = runs[runs["status"] == "failed"].iloc[0]
    assert failed["loss_name"] == "dpo" and failed["seed"] == 1 and "worker process died" in failed["error"]
    assert len(summary.failed) == 1  # and a rerun retries it (failed runs are not done)


DRIVER = """
import sys, time
from harness.suite.executors import EXECUTORS, Task
from test_suite_pool import _write_pid_then_sleep
EXECUTORS.get("pool")(workers=2).run([Task(f"t{i}", _write_pid_then_sleep, (sys.argv[1], i)) for i in range(2)])
"""


def _write_pid_then_sleep(folder, i, *, deps):
    with open(os.path.join(folder, f"{i}.pid"), "w") as f:
        f.write(str(os.getpid()))
    time.sleep(60)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie has exited
        return f.read().split()[2] != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_workers_die_with_their_driver(tmp_path):
    """A driver killed alone (SIGKILL, not its process group) takes its workers with it: an orphan
    would go on training and writing rows beside the next driver."""
    import subprocess

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.path.dirname(__file__), os.environ.get("PYTHONPATH", "")])}
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, str(tmp_path)], env=env)
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("*.pid"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    pids = [int(p.read_text()) for p in tmp_path.glob("*.pid")]
    assert len(pids) == 2 and all(_alive(p) for p in pids)
    driver.kill()
    driver.wait()
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(p) for p in pids), "a worker outlived its driver"
