"""One writer per results folder: a second `harness run` is refused, naming the holder; a killed
holder's lock is taken over."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from harness.cli import main

SUITE = """\
name: lock
base: {model: {name: tiny-arith-sft}, data: {train: arith, options: {n_pairs: 64}, eval_size: 8},
       train: {steps: 1, batch_size: 4, threads: 1}}
report: {enabled: false}
"""
HOLD = textwrap.dedent("""
    import sys, time
    from harness.results.lock import out_lock
    with out_lock(sys.argv[1], "a test holder", log=lambda s: None):
        print("locked", flush=True)
        time.sleep(120)
""")


@pytest.fixture
def holder(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path / "out")], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    yield proc
    proc.kill()
    proc.wait()


def test_a_second_run_on_a_locked_folder_is_refused_naming_the_holder(tmp_path, holder, capsys):
    suite = tmp_path / "s.yaml"
    suite.write_text(SUITE)
    assert main(["run", str(suite), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert f"pid {holder.pid}" in err and "a test holder" in err and "in use by another harness process" in err
    assert not (tmp_path / "out" / "runs").exists()
    # the holder is SIGKILLed: the kernel drops its flock, and the next run takes the folder over
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    lines: list[str] = []
    from harness.suite.runner import run_suite
    from harness.suite.spec import load_suite

    summary = run_suite(load_suite(suite), tmp_path / "out", log=lines.append)
    assert summary.incomplete == []
    assert any(f"taking over the lock of pid {holder.pid}" in line for line in lines)
