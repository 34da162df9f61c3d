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

from harness import accel
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
