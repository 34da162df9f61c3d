"""The console of `harness run`: one line per finished task with its numbers, library output in
OUT/logs/ (nothing lost), and `-v` showing it all as before."""

from __future__ import annotations

import subprocess
import sys

SUITE = """\
name: quiet
base: {model: {name: tiny-arith-sft}, data: {train: arith, options: {n_pairs: 64}, eval_size: 8},
       train: {steps: 3, batch_size: 4, threads: 1}}
grid: {loss.name: [dpo, minor_dpo]}
report: {enabled: false}
"""


def _run(tmp_path, *extra):
    suite = tmp_path / "quiet.yaml"
    suite.write_text(SUITE)
    out = tmp_path / ("out" + "".join(extra))
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "run", str(suite), "--out", str(out), *extra],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out, proc.stdout + proc.stderr


def test_default_console_is_one_line_per_task_and_logs_the_rest(tmp_path):
    out, printed = _run(tmp_path)
    lines = [line for line in printed.splitlines() if line.strip()]
    done = [line for line in lines if line.startswith("✓ run ")]
    assert len(done) == 2 and all("completed, 3 steps in" in line and "held-out r_w" in line for line in done)
    assert "Loading weights" not in printed and "step 3/3 loss" not in printed  # library and trainer chatter: logged
    (log,) = (out / "logs").glob("run-*.log")
    text = log.read_text()
    assert "step 3/3 loss" in text and "✓ run 1/2" in text  # nothing lost, and the harness's own lines too
    assert f"library and engine output -> {log}" in printed


def test_verbose_shows_everything_and_writes_no_log(tmp_path):
    out, printed = _run(tmp_path, "-v")
    assert "step 3/3 loss" in printed and "[1/2] run 1/2" in printed
    assert not (out / "logs").exists()
