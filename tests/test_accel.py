"""harness.accel: every CPU/GPU decision, tested on CPU by passing what a GPU machine would report.

Each decision is a pure function of (settings, what the machine has); `has_cuda=` / `gpus=` stand
in for a CUDA machine. What needs real processes (the pool giving each worker its own GPU) runs
real spawned workers.
"""

from __future__ import annotations

import os
import time

import pytest
import torch

from harness import accel, probe
from harness.errors import ConfigError


def test_device_auto_follows_the_machine_and_cuda_without_it_names_the_key():
    assert accel.resolve_device("auto", has_cuda=True) == "cuda"
    assert accel.resolve_device("auto", has_cuda=False) == "cpu"
    assert accel.resolve_device("cuda:1", has_cuda=True) == "cuda:1"
    with pytest.raises(ConfigError, match=r"eval\.device: 'cuda' requested but CUDA is not available"):
        accel.resolve_device("cuda", key="eval.device", has_cuda=False)


def test_precision_is_bf16_autocast_on_cuda_and_fp32_on_cpu():
    assert accel.compute_dtype("auto", "cuda") is torch.bfloat16
    assert accel.compute_dtype("auto", "cuda:1") is torch.bfloat16
    assert accel.compute_dtype("auto", "cpu") is None  # plain float32, no autocast
    assert accel.compute_dtype("bfloat16", "cpu") is torch.bfloat16  # asked for: honoured
    with accel.autocast("cpu", torch.bfloat16):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype is torch.bfloat16
    with accel.autocast("cpu", None):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype is torch.float32


def test_vllm_uses_cuda_graphs_on_a_gpu_and_eager_on_cpu_unless_asked():
    gpu = accel.vllm_engine_kwargs(gpu_memory_utilization=0.4, has_cuda=True)
    assert gpu == {"dtype": "bfloat16", "enforce_eager": False, "gpu_memory_utilization": 0.4}
    cpu = accel.vllm_engine_kwargs(gpu_memory_utilization=0.4, has_cuda=False)
    assert cpu == {"dtype": "float32", "enforce_eager": True}  # no GPU memory share on CPU
    assert accel.vllm_engine_kwargs(enforce_eager=True, has_cuda=True)["enforce_eager"] is True
    assert accel.vllm_engine_kwargs(enforce_eager=False, has_cuda=False)["enforce_eager"] is False
    assert accel.vllm_engine_kwargs(dtype="float16", has_cuda=True)["dtype"] == "float16"


def test_eval_config_leaves_the_vllm_mode_to_the_device():
    from harness.evaluation.config import GenerationConfig

    assert GenerationConfig().enforce_eager is None


def test_nccl_between_gpus_gloo_on_cpu():
    assert accel.dist_backend("cuda:0") == "nccl"
    assert accel.dist_backend("cpu") == "gloo"


def test_fsdp_gathers_in_bf16_and_reduces_in_fp32():
    policy = accel.fsdp_mp_policy(torch.bfloat16)
    assert policy.param_dtype is torch.bfloat16 and policy.reduce_dtype is torch.float32
    assert accel.fsdp_mp_policy(None) is None  # float32 training: FSDP's defaults


def test_pool_plan_one_gpu_per_worker_and_says_when_it_runs_fewer(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert accel.pool_gpu_plan(2, 0) == accel.GpuPlan(2, ())  # a CPU machine: nothing to place
    assert accel.pool_gpu_plan(2, 4) == accel.GpuPlan(2, ("0", "1"))
    fewer = accel.pool_gpu_plan(4, 2)
    assert fewer.workers == 2 and fewer.devices == ("0", "1")
    assert "4 workers asked for, 2 GPU(s) visible: running 2 worker(s)" in fewer.note
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")  # the driver's own view is respected
    assert accel.pool_gpu_plan(2, 2).devices == ("3", "5")


def test_reference_cache_key_holds_device_and_dtype():
    from harness.data.tokenize import TokenizedPair
    from harness.logprobs.refcache import cache_key

    pairs = [TokenizedPair(0, "p", (1, 2), (3,), (4,))]
    keys = {cache_key("fp", pairs, dtype=d, device=dev) for d in (None, torch.bfloat16) for dev in ("cpu", "cuda:0")}
    assert len(keys) == 4
    assert cache_key("fp", pairs, dtype=None, device="cuda:0") == cache_key("fp", pairs, dtype=None, device="cuda:1")


def _visible(*, deps):
    time.sleep(0.5)  # both workers busy at once
    return os.environ.get("CUDA_VISIBLE_DEVICES")


def test_pool_workers_each_see_their_own_gpu(monkeypatch):
    from harness.suite.executors import Task
    from harness.suite.pool import PoolExecutor

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "6,7")  # what the driver may use; workers get one each
    pool = PoolExecutor(workers=4, gpus=2)
    assert pool.workers == pool.slots == 2 and "2 GPU(s) visible" in pool.note
    out = pool.run([Task(f"t{i}", _visible) for i in range(2)])
    assert sorted(o.value for o in out.values()) == ["6", "7"]
    assert PoolExecutor(workers=3, gpus=0).workers == 3  # CPU machine: unchanged, no note
    assert PoolExecutor(workers=3, gpus=0).note == ""


def test_fastest_takes_bf16_only_where_the_probe_measures_it_faster(monkeypatch):
    monkeypatch.setattr(probe, "_PROBE", {"size": 512, "fp32_gflops": 95.0, "bf16_gflops": 420.0, "speedup": 4.4})
    assert accel.resolve_dtype("fastest", "cpu") == "bfloat16"
    assert "bf16 420 GFLOP/s (4.40x) -> model.dtype fastest = bfloat16" in accel.probe_line()
    monkeypatch.setattr(probe, "_PROBE", {"size": 512, "fp32_gflops": 95.0, "bf16_gflops": 40.0, "speedup": 0.42})
    assert accel.resolve_dtype("fastest", "cpu") == "float32"  # emulated bf16 (AVX2): slower, not taken
    assert accel.compute_dtype("fastest", "cpu") is None
    assert accel.resolve_dtype("auto", "cpu") == "float32"  # auto never measures: portable numbers
    assert accel.resolve_dtype("float16", "cpu") == "float16"


def test_the_probe_is_measured_once_per_machine_and_read_back_by_every_process(monkeypatch, tmp_path):
    """The first process measures (threads restored after) and writes $HARNESS_CACHE/probe/; another
    process reads the same numbers back, so every worker of a suite makes the same choices."""
    import json
    import subprocess
    import sys

    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path))
    monkeypatch.setattr(probe, "_PROBE", {})
    threads = torch.get_num_threads()
    first = probe.bf16_probe()
    assert torch.get_num_threads() == threads
    assert first["fp32_gflops"] > 0 and first["bf16_gflops"] > 0
    assert first["speedup"] == pytest.approx(first["bf16_gflops"] / first["fp32_gflops"])
    (stored,) = (tmp_path / "probe").glob("*.json")
    assert json.loads(stored.read_text()) == first
    code = "import json; from harness.probe import bf16_probe; print(json.dumps(bf16_probe()))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**__import__("os").environ, "HARNESS_CACHE": str(tmp_path)}).stdout
    assert json.loads(out) == first  # read back, not measured again


def test_a_cpu_build_of_torch_is_not_taken_for_cuda_without_importing_it():
    """Suites are planned torch-free (dry runs): `cuda_likely` reads torch's version file instead."""
    import subprocess
    import sys

    code = ("import sys; from harness import accel; "
            "print(accel.cuda_likely(), accel.config_device('auto'), accel.config_device('cuda:1'), 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout.split()
    assert out == [str(torch.cuda.is_available()), "cuda" if torch.cuda.is_available() else "cpu", "cuda:1", "False"]
