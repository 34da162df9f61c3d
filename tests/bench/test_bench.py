"""The benchmarks' code paths (their figures are not asserted: benchmarks are not timed tests).

What is asserted is what makes a figure trustworthy: both sides of `bench train` see the same
inputs (reference log-probs agree, first losses are log 2), results reach Parquet with the
machine's description, and the GPU script's code path runs (on CPU here, in float32).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest


def _bench(name: str, out) -> tuple[str, dict]:
    """`harness bench NAME` at its smallest (3 steps of 4 pairs, one repeat, one thread): (stdout, its JSON).
    It runs with a TMPDIR of its own, which must be empty afterwards: a bench's run folders, caches and
    pairs file are scratch, and used to be left in /tmp at every run."""
    cmd = [sys.executable, "-m", "harness", "bench", name, "--steps", "3", "--batch-size", "4", "--repeats", "1",
           "--threads", "1", "--out", str(out / "rows"), "--json"]
    tmp = out / "tmp"
    tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp), "TORCHINDUCTOR_CACHE_DIR": str(out / "inductor")}  # a cache: kept
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not list(tmp.iterdir()), f"left behind: {sorted(p.name for p in tmp.iterdir())}"
    return proc.stdout, json.loads(proc.stdout.strip().splitlines()[-1])


def test_bench_train_compares_equal_inputs_and_writes_parquet(tmp_path):
    stdout, result = _bench("train", tmp_path)
    harness, trl = result["sides"]["harness-train"], result["sides"]["trl-train"]
    assert result["ratio"] == pytest.approx(harness["tokens_per_s"] / trl["tokens_per_s"])
    assert harness["first_loss"] == pytest.approx(math.log(2), abs=1e-4) == trl["first_loss"]
    line = next(ln for ln in stdout.splitlines() if ln.startswith("reference log-probs"))
    assert float(line.rsplit("=", 1)[1]) < 1e-3  # the same token ids on both sides
    assert result["machine"]["torch_threads"] >= 1 and "python" in json.dumps(result["machine"]).lower()

    from harness.results import ResultStore

    rows = ResultStore(tmp_path / "rows").read("bench")
    assert set(rows.side) == {"harness-train", "trl-train", "ratio"}
    ratios = rows[rows.side == "ratio"].set_index("repeat").value
    assert ratios[-1] == pytest.approx(result["ratio"]) and ratios[0] == pytest.approx(result["paired_ratios"][0])
    assert "(per repeat" not in stdout  # one repeat: no spread to show
    assert rows.machine_json.str.contains("cpu", case=False).all()


def test_bench_precision_runs_both_dtypes_from_one_seed_and_reports_agreement(tmp_path):
    stdout, result = _bench("precision", tmp_path)
    bf16, fp32 = result["sides"]["harness-bf16"], result["sides"]["harness-fp32"]
    assert result["ratio"] == pytest.approx(bf16["tokens_per_s"] / fp32["tokens_per_s"])
    assert fp32["first_loss"] == pytest.approx(math.log(2), abs=1e-4)
    assert bf16["first_loss"] == pytest.approx(math.log(2), abs=0.05)  # bf16 log-probs round differently
    loss = next(ln for ln in stdout.splitlines() if ln.startswith("bf16 vs fp32 per-step loss:"))
    assert float(loss.split("max |diff|")[1].split(",")[0]) < 0.05
    assert "fp32 through oneDNN" in stdout or "matmul, 1 thread" in stdout  # the probe line


def test_bench_train_gives_trl_the_same_precision():
    from harness.bench.train import _trl_bf16

    assert _trl_bf16({"dtype": "bfloat16"}) is True
    assert _trl_bf16({"dtype": "float32"}) is False and _trl_bf16({}) is False  # auto: fp32 on CPU


def _gpu_args(**kw):
    base = dict(layers=1, hidden=64, intermediate=128, heads=2, kv_heads=1, vocab=101, pairs=2, prompt_len=6,
                response_len=5, warmup=1, timed=2, compile=False, layout="shared", cpu=True)
    return SimpleNamespace(**{**base, **kw})


@pytest.mark.parametrize("layout", ["shared", "rows"])
def test_gpu_script_code_path_on_cpu(layout, capsys):
    from harness.bench import gpu

    assert gpu.run(_gpu_args(layout=layout)) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["minor_dpo_first_step_equals_dpo"] and report["layout"] == layout
    assert report["pair_tokens_per_step"] == 2 * (2 * 6 + 5 + 5)
    # shared: the prompt and the responses' common first half (2 tokens) once
    assert report["processed_tokens_per_step"] == 2 * (6 + 5 + 5 - 2 if layout == "shared" else 2 * 6 + 5 + 5)
    for row in report["losses"].values():
        assert row["finite"] and row["tokens_per_s"] > 0 and row["mfu"] > 0


def test_gpu_script_refuses_without_cuda():
    import torch

    from harness.bench import gpu
    from harness.errors import HarnessError

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(HarnessError, match="needs a CUDA device"):
        gpu.run(_gpu_args(cpu=False))


def test_gpu_check_script_cpu_mode_runs_every_part(tmp_path, capsys):
    """`harness bench gpu-check --cpu`: the four parts (bench, bf16 vs fp32, FSDP, a mini suite end
    to end) run and pass on CPU at a small size, and leave their figures in one folder."""
    from harness.cli import main

    assert main(["bench", "gpu-check", "--cpu", "--out", str(tmp_path)]) == 0
    folder = tmp_path / "gpu-check"
    result = json.loads((folder / "gpucheck.json").read_text())
    assert result["ok"] and all(result[p]["ok"] for p in ("bench", "precision", "fsdp", "suite"))
    assert set(result["bench"]["sizes"]["cpu-tiny"]["losses"]) == {"dpo", "minor_dpo"}
    assert 0 < result["precision"]["max_abs_gap"]["loss"] <= result["precision"]["bound_loss"]  # bf16 really ran
    assert result["suite"]["states"] and set(result["suite"]["states"].values()) == {"done"}
    assert "verifier_accuracy" in result["suite"]["eval_metrics"] and (folder / "suite" / "report.md").is_file()
    assert "| cpu-tiny" in (folder / "gpucheck.md").read_text()


def test_gpu_check_refuses_without_cuda(tmp_path):
    import torch

    from harness.bench import gpucheck
    from harness.errors import HarnessError

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(HarnessError, match="needs a CUDA device"):
        gpucheck.run(SimpleNamespace(out=str(tmp_path), cpu=False, pairs=2, steps=2))


@pytest.mark.gpu
def test_gpu_check_on_cuda(tmp_path):
    """The GPU check itself, on the card: every part passes (its figures are recorded, not asserted)."""
    from harness.cli import main

    assert main(["bench", "gpu-check", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "gpu-check" / "gpucheck.json").read_text())
    assert result["ok"] and "CUDA" in result["device"]
    assert set(result["bench"]["sizes"]) == {"0.5B", "1.1B"}


def test_bench_scratch_is_removed_and_keeps_inductors_cache_where_it_was(monkeypatch):
    import tempfile

    from torch._inductor.runtime.cache_dir_utils import default_cache_dir

    from harness.bench.common import scratch

    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    cache = default_cache_dir()
    with scratch() as root:
        assert tempfile.gettempdir() == os.environ["TMPDIR"] == root
        assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == cache  # not under the scratch folder
    assert not os.path.exists(root) and "TORCHINDUCTOR_CACHE_DIR" not in os.environ
    assert tempfile.gettempdir() != root


def test_bench_ratio_comes_with_the_spread_of_its_repeats(capsys):
    from harness.bench.common import Comparison, print_table

    runs = {"a": [{"tok": 10.0}, {"tok": 12.0}, {"tok": 9.0}], "b": [{"tok": 5.0}, {"tok": 5.0}, {"tok": 6.0}]}
    cmp = Comparison("t", ("a", "b"), "tok", True, {}, runs)
    assert cmp.paired_ratios() == pytest.approx([2.0, 2.4, 1.5])
    assert cmp.ratio == pytest.approx(10 / 5)
    print_table(cmp)
    assert "2.000 (per repeat 1.50-2.40, n=3)" in capsys.readouterr().out
    lower = Comparison("t", ("a", "b"), "tok", False, {}, runs)  # lower is better: b / a
    assert lower.paired_ratios() == pytest.approx([0.5, 5 / 12, 6 / 9])
