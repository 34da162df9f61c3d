"""The package is whole when installed from a wheel (no `-e`, no source tree beside it): its
assets (shipped data, the pinned reference, the local lm-eval tasks) travel inside it.

Slow tier: it builds a wheel, installs it with the CPU lock into a fresh venv (a few minutes,
mostly pip), then runs `harness ls` and a 2-step `harness train` from a directory that is not the
repository, and checks the lm-eval tasks resolve inside site-packages.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONFIG = """\
name: wheel
model: {name: tiny-arith-sft}
data: {train: arith, options: {n_pairs: 64}, eval_size: 8}
loss: {name: minor_dpo, beta: 0.1}
train: {steps: 2, batch_size: 4, threads: 1}
"""


def _run(*cmd, cwd, timeout=1200):
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, (cmd, proc.stdout[-2000:], proc.stderr[-3000:])
    return proc.stdout


@pytest.mark.slow
def test_a_wheel_install_runs_from_anywhere(tmp_path):
    dist = tmp_path / "dist"
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", dist, ROOT, cwd=tmp_path)
    wheel = next(dist.glob("harness-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for asset in ("harness/assets/models/tiny-arith-sft/model.safetensors",
                  "harness/assets/lmeval_tasks/harness_arith.yaml", "harness/assets/lmeval_tasks/utils.py",
                  "harness/assets/data/hh-rlhf/harmless-base-test.jsonl.gz"):
        assert asset in names, asset
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    py = venv / "bin" / "python"
    _run(py, "-m", "pip", "install", "-q", "--no-deps", "-r", ROOT / ".ci" / "requirements-cpu.lock", cwd=tmp_path)
    _run(py, "-m", "pip", "install", "-q", "--no-deps", wheel, cwd=tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert "tiny-arith-sft" in _run(venv / "bin" / "harness", "ls", "models", cwd=elsewhere)
    (elsewhere / "run.yaml").write_text(CONFIG)
    out = _run(venv / "bin" / "harness", "train", "run.yaml", "--out", "out", cwd=elsewhere)
    assert "completed, 2 steps" in out
    where = _run(py, "-c", "import harness.evaluation.lmeval as m; print(m.LOCAL_TASKS, m.LOCAL_TASKS.is_dir())", cwd=elsewhere)
    assert "site-packages" in where and where.strip().endswith("True")
