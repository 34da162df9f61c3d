"""The ray executor, on a real local Ray instance: the rows of the local executor, placement by
logical resources, faults (a SIGKILLed worker, an out-of-memory kill), and a run that asks for two
processes trained as a Ray Train TorchTrainer.

One `ray.init(num_cpus=2, num_gpus=2)` serves the module (start and stop cost seconds each); the
GPUs are logical (this machine has none): Ray only counts them and sets CUDA_VISIBLE_DEVICES.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pandas as pd
import pytest

ray = pytest.importorskip("ray")

from test_suite_pool import SUITE, _rows  # noqa: E402  (the same 4-run suite, compared the same way)

from harness.errors import HarnessError  # noqa: E402
from harness.suite.executors import Task  # noqa: E402
from harness.suite.ray_executor import RayExecutor  # noqa: E402
from harness.suite.runner import run_suite  # noqa: E402
from harness.suite.spec import Resources, suite_from_dict  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def cluster():
    assert "ray" not in sys.modules or not ray.is_initialized()
    ray.init(num_cpus=2, num_gpus=2, include_dashboard=False, log_to_driver=False,
             _system_config={"task_oom_retries": 1})
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import a test module
    yield
    ray.shutdown()


def test_ray_gives_the_rows_of_the_local_executor(tmp_path):
    suite = suite_from_dict(SUITE, source="ray.yaml")
    a, b = tmp_path / "local", tmp_path / "ray"
    run_suite(suite, a, executor="local", log=lambda s: None)
    lines: list[str] = []
    summary = run_suite(suite, b, executor="ray", log=lines.append)
    assert summary.incomplete == [] and "ray executor, 2 at a time" in lines[0]
    assert sorted(pd.read_parquet(a / "runs")["run_id"]) == sorted(pd.read_parquet(b / "runs")["run_id"])
    pd.testing.assert_frame_equal(_rows(a, "runs"), _rows(b, "runs"))
    pd.testing.assert_frame_equal(_rows(a, "steps"), _rows(b, "steps"))  # bit-identical on one machine
    assert ray.is_initialized()  # a cluster the executor found is left running


# ---------------------------------------------------------------- mechanics (module level: Ray pickles them)
def _where_and_when(delay, *, deps):
    start = time.time()
    time.sleep(delay)
    return {"pid": os.getpid(), "gpus": ray.get_gpu_ids(), "cuda": os.environ.get("CUDA_VISIBLE_DEVICES"),
            "span": (start, time.time()), "deps": sorted(deps)}


def _die_unless(marker, *, deps):
    """SIGKILLs its worker the first time (as the kernel would), succeeds when retried."""
    if not os.path.exists(marker):
        open(marker, "w").close()
        os.kill(os.getpid(), signal.SIGKILL)
    return "second attempt"


def _die(*, deps):
    os.kill(os.getpid(), signal.SIGKILL)


def _boom(*, deps):
    raise RuntimeError("a task failed")


def test_placement_follows_the_resources_of_each_kind():
    ex = RayExecutor(resources={"train": Resources(num_cpus=0.5, num_gpus=1), "eval": Resources(num_cpus=1)})
    tasks = [Task(f"t{i}", _where_and_when, (1.0,)) for i in range(3)] + \
            [Task("e", _where_and_when, (0.0,), after=("t0", "t1", "t2"), kind="eval")]
    out = ex.run(tasks)
    trains = [out[f"t{i}"].value for i in range(3)]
    assert all(len(v["gpus"]) == 1 and v["cuda"] == str(v["gpus"][0]) for v in trains)  # one GPU each
    spans = sorted(v["span"] for v in trains)
    assert spans[2][0] >= min(spans[0][1], spans[1][1]) - 0.05  # two GPUs: the third waited for one
    assert out["e"].value["gpus"] == [] and out["e"].value["deps"] == ["t0", "t1", "t2"]
    assert all(o.where for o in out.values())  # progress lines say where each task ran


def test_a_request_larger_than_the_cluster_is_an_error_not_a_hang():
    ex = RayExecutor(resources={"train": Resources(num_gpus=3)})
    with pytest.raises(HarnessError, match=r"executor.train.num_gpus: a task asks for 3 GPU, but the Ray cluster has 2"):
        ex.run([Task("t", _where_and_when, (0.0,))])


def test_a_killed_worker_is_retried_then_recorded_failed(tmp_path):
    ex = RayExecutor(max_retries=1)
    out = ex.run([Task("flaky", _die_unless, (str(tmp_path / "marker"),)), Task("dies", _die),
                  Task("raises", _boom), Task("later", _where_and_when, (0.0,), after=("dies",))])
    assert out["flaky"].ok and out["flaky"].value == "second attempt"  # the retry ran it
    assert not out["dies"].ok and "ActorDiedError" in out["dies"].error and "after 1 retry" in out["dies"].error
    assert not out["raises"].ok and "a task failed" in out["raises"].error  # a bug is not retried
    assert out["later"].ok  # the suite goes on


def _train_or_die(cfg, out, *, run_id, suite):
    if cfg.train.seed == 1 and cfg.loss.name == "dpo":
        os.kill(os.getpid(), signal.SIGKILL)
    from harness.trainer import train_run

    return train_run(cfg, out, run_id=run_id, suite=suite)


def test_a_run_whose_worker_dies_is_failed_and_a_rerun_completes_it(tmp_path):
    suite = suite_from_dict({**SUITE, "executor": {"name": "ray", "max_retries": 0}}, source="ray.yaml")
    summary = run_suite(suite, tmp_path, train_fn=_train_or_die, log=lambda s: None)
    runs = pd.read_parquet(tmp_path / "runs")
    assert sorted(runs["status"]) == ["completed", "completed", "completed", "failed"]
    failed = runs[runs["status"] == "failed"].iloc[0]
    assert failed["loss_name"] == "dpo" and failed["seed"] == 1 and "ActorDiedError" in failed["error"]
    assert len(summary.failed) == 1
    summary = run_suite(suite, tmp_path, log=lambda s: None)  # resumes: only the failed run trains
    runs = pd.read_parquet(tmp_path / "runs")
    assert summary.incomplete == [] and sorted(runs["status"]) == ["completed"] * 4 and len(runs) == 4


def test_a_run_asking_for_two_processes_trains_as_a_torch_trainer(tmp_path):
    """train.strategy ddp with nproc 2: two Ray Train workers (gloo), the one-process update."""
    grid = {"loss.name": ["dpo"], "train.seed": [0]}
    single = suite_from_dict({**SUITE, "grid": grid}, source="ray.yaml")
    base = {**SUITE["base"], "train": {**SUITE["base"]["train"], "strategy": "ddp", "nproc": 2}}
    ddp = suite_from_dict({**SUITE, "grid": grid, "base": base}, source="ray.yaml")
    run_suite(single, tmp_path / "one", executor="local", log=lambda s: None)
    lines: list[str] = []
    summary = run_suite(ddp, tmp_path / "two", executor="ray", log=lines.append)
    assert summary.incomplete == [], lines
    a, b = _rows(tmp_path / "one", "steps"), _rows(tmp_path / "two", "steps")
    assert len(a) == len(b) and (a["loss"] - b["loss"]).abs().max() < 1e-5
    runs = pd.read_parquet(tmp_path / "two" / "runs")
    assert runs["world_size"].tolist() == [2] and runs["status"].tolist() == ["completed"]


OOM = """
import os, psutil
vm = psutil.virtual_memory()
used = (vm.total - vm.available) / vm.total
os.environ["RAY_memory_usage_threshold"] = f"{min(used + 0.04, 0.9):.3f}"  # ~1 GB above what is in use
os.environ["RAY_memory_monitor_refresh_ms"] = "100"
from harness.suite.executors import Task
from harness.suite.ray_executor import RayExecutor

def hog(*, deps):
    import time
    blocks = []
    for _ in range(60):  # up to 6 GB, 100 MB at a time, touched so that it is resident
        blocks.append(bytearray(100 * 2**20))
        blocks[-1][::4096] = b"x" * len(range(0, 100 * 2**20, 4096))
        time.sleep(0.02)
    return "survived"

out = RayExecutor(workers=1, max_retries=1).run([Task("hog", hog)])["hog"]
print("RESULT", out.ok, out.error)
"""


def test_an_out_of_memory_worker_is_recorded_failed_with_the_reason(tmp_path):
    """Its own Ray instance (the memory threshold is set when Ray starts), in a fresh process."""
    script = tmp_path / "oom.py"
    script.write_text(textwrap.dedent(OOM))
    p = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=240)
    line = next((s for s in p.stdout.splitlines() if s.startswith("RESULT")), p.stdout + p.stderr[-2000:])
    assert line.startswith("RESULT False") and "OutOfMemoryError" in line and "low on memory" in line, line


# ---------------------------------------------------------------- an address that does not answer
def _closed_port() -> int:
    import socket

    with socket.socket() as s:  # bound, then closed: nothing listens there
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_address_gives_up_after_the_bound_naming_it(tmp_path):
    """Ray alone retries for ever, into its log files: exit 2 after executor.connect_timeout_s."""
    suite = tmp_path / "s.yaml"
    suite.write_text("name: s\nbase: {model: {name: tiny-arith-sft}, data: {train: arith}}\n"
                     "report: {enabled: false}\n")
    address = f"127.0.0.1:{_closed_port()}"
    t0 = time.monotonic()
    p = subprocess.run([sys.executable, "-m", "harness.cli", "run", str(suite), "--executor", "ray",
                        "--address", address, "--out", str(tmp_path / "out"), "executor.connect_timeout_s=2"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2, p.stderr[-2000:]
    err = p.stderr.strip()
    assert err.startswith("error: ") and "Traceback" not in err and len(err.splitlines()) == 1, err
    for word in (f"Ray address {address}", "within 2 s", "connection refused", "ray start --head",
                 "executor.connect_timeout_s"):
        assert word in err, (word, err)
    assert time.monotonic() - t0 < 60
    assert not (tmp_path / "out" / "runs").exists()


@pytest.mark.slow
def test_an_address_that_answers_but_is_not_ray_gives_up_too(tmp_path):
    """Something else listens there (an HTTP server): Ray alone retries 20 times ~35 s each; the
    harness lets it try once (about 35 s), then exit 2 naming the address."""
    import http.server
    import threading

    # every interface: Ray turns 127.0.0.1 into this node's address before it connects
    server = http.server.HTTPServer(("0.0.0.0", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    suite = tmp_path / "s.yaml"
    suite.write_text("name: s\nbase: {model: {name: tiny-arith-sft}, data: {train: arith}}\nreport: {enabled: false}\n")
    address = f"127.0.0.1:{server.server_address[1]}"
    try:
        p = subprocess.run([sys.executable, "-m", "harness.cli", "run", str(suite), "--address", address,
                            "--out", str(tmp_path / "out"), "executor.connect_timeout_s=2"],
                           capture_output=True, text=True, timeout=180)
    finally:
        server.shutdown()
    err = p.stderr.strip()
    assert p.returncode == 2 and "Traceback" not in err and len(err.splitlines()) == 1, err
    assert f"Ray address {address}" in err and "not as a Ray cluster" in err and "ray start --head" in err


def test_wait_for_port_is_bounded():
    from harness.suite.ray_executor import _wait_for_port

    t0 = time.monotonic()
    assert _wait_for_port("127.0.0.1", _closed_port(), 1.0) == "connection refused"
    assert time.monotonic() - t0 < 3


DRIVER = """
import os, sys, time
from harness.suite.executors import Task
from harness.suite.ray_executor import RayExecutor

def linger(path, *, deps):
    with open(path, "w") as f:
        f.write(str(os.getpid()))
    time.sleep(120)

RayExecutor(workers=1, max_retries=0).run([Task("linger", linger, (sys.argv[1],))])
"""


def test_a_local_instances_workers_end_with_a_killed_driver(tmp_path):
    """SIGKILL of the driver alone: its task's worker ends at once, not when Ray notices."""
    import psutil

    script, marker = tmp_path / "driver.py", tmp_path / "worker.pid"
    script.write_text(textwrap.dedent(DRIVER))
    proc = subprocess.Popen([sys.executable, str(script), str(marker)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while not (marker.exists() and marker.read_text()) and time.monotonic() < deadline:
            time.sleep(0.2)
        worker = psutil.Process(int(marker.read_text()))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        t0 = time.monotonic()
        while time.monotonic() - t0 < 10 and worker.is_running() and worker.status() != psutil.STATUS_ZOMBIE:
            time.sleep(0.01)
        assert time.monotonic() - t0 < 1.0  # Ray alone takes 2-3 s
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # whatever of the instance is left
        except ProcessLookupError:
            pass


def test_workers_are_reused_across_tasks_and_keep_their_gpu():
    """Six GPU tasks on two logical GPUs: two long-lived workers run three each (torch imported once
    per worker), and a worker's CUDA_VISIBLE_DEVICES never changes under it (ray-project/ray#29624)."""
    ex = RayExecutor(resources={"train": Resources(num_cpus=1, num_gpus=1)})
    out = ex.run([Task(f"t{i}", _where_and_when, (0.2,)) for i in range(6)])
    assert all(o.ok for o in out.values())
    gpus_of: dict[int, set] = {}
    for o in out.values():
        gpus_of.setdefault(o.value["pid"], set()).add(o.value["cuda"])
    assert len(gpus_of) == 2 and all(len(g) == 1 for g in gpus_of.values())
    assert {g for gs in gpus_of.values() for g in gs} == {"0", "1"}


def test_an_evaluation_ready_while_runs_still_train_gets_a_worker_once_they_end():
    """The runner's first evaluation part waits only for the first runs: its worker cannot start
    while training workers hold both CPUs; the training workers are ended when no run is left
    for them (a deadlock before: idle training workers kept the CPUs for ever)."""
    ex = RayExecutor(resources={"eval": Resources(num_cpus=2)})  # needs both CPUs the training workers hold
    tasks = [Task(f"t{i}", _where_and_when, (0.3,)) for i in range(5)]
    tasks += [Task("e1", _where_and_when, (0.0,), after=("t0",), kind="eval"),
              Task("e2", _where_and_when, (0.0,), after=tuple(f"t{i}" for i in range(5)), kind="eval")]
    out = ex.run(tasks)
    assert all(o.ok for o in out.values()) and len(out) == 7
    assert out["e1"].value["pid"] not in {out[f"t{i}"].value["pid"] for i in range(5)}  # its own worker
    assert out["e1"].value["span"][0] >= max(out[f"t{i}"].value["span"][1] for i in range(5)) - 0.05


def test_kinds_asking_for_the_same_resources_share_workers():
    """Default resources (1 CPU for every kind): the workers that trained evaluate too, no new imports."""
    out = RayExecutor().run([Task(f"t{i}", _where_and_when, (0.2,)) for i in range(4)]
                            + [Task("e", _where_and_when, (0.0,), after=("t0", "t1", "t2", "t3"), kind="eval")])
    assert out["e"].value["pid"] in {out[f"t{i}"].value["pid"] for i in range(4)}
