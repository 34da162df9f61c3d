"""Multi-process training on CPU with gloo: `harness train --nproc 2` under torchrun, DDP and FSDP2.

The global batch stays `train.batch_size` and each rank takes half of it, so two processes must
make the update one process makes: per-step loss within 1e-5, log-ratios and final weights within
tolerances scaled to their size (float sums in a different order, nothing more). Rank 0 alone
writes the rows and a full safetensors checkpoint. A rank that dies ends the run as failed (never a hang), and running it again resumes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

CONFIG = """\
name: dist
model: {name: tiny-arith-sft}
data: {train: arith, options: {n_pairs: 200, seed: 0}, eval_size: 16, max_prompt_len: 16, max_response_len: 32}
loss: {name: dpo, beta: 0.1}
train: {steps: 6, batch_size: 8, learning_rate: 1.0e-3, warmup_steps: 2, eval_every: 3, checkpoint_every: 2,
        threads: 1, strategy: ddp}
"""
KILL_HOOK = """\
import os
if os.environ.get("KILL_RANK") == os.environ.get("RANK"):
    import signal
    from harness.trainer import loop

    step = loop.Loop.train_step
    def train_step(self, i):
        if i == int(os.environ["KILL_AT"]):
            os.kill(os.getpid(), signal.SIGKILL)
        return step(self, i)
    loop.Loop.train_step = train_step
"""


def _env(**extra):
    return {**os.environ, "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "1", **extra}


def _train(cfg: Path, out: Path, *args, env=None, timeout=240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness.cli", "train", str(cfg), "--out", str(out), *args],
                          capture_output=True, text=True, timeout=timeout, env=env or _env())


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    d = tmp_path_factory.mktemp("single")
    cfg = d / "run.yaml"
    cfg.write_text(CONFIG)
    p = _train(cfg, d / "out", "train.strategy=single")
    assert p.returncode == 0, p.stderr
    return cfg, d / "out"


def _steps(out: Path) -> pd.DataFrame:
    return pd.read_parquet(out / "steps").sort_values(["split", "step"]).reset_index(drop=True)


def _final(out: Path) -> dict[str, torch.Tensor]:
    (f,) = out.glob("checkpoints/*/final/model.safetensors")
    return load_file(f)


@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_two_processes_make_the_one_process_update(single, tmp_path, strategy):
    cfg, one = single
    two = tmp_path / strategy
    scratch = tmp_path / "tmp"  # torchrun's temporary files: removed when it ends (torchelastic_* used to stay)
    scratch.mkdir()
    env = _env(TMPDIR=str(scratch), TORCHINDUCTOR_CACHE_DIR=str(tmp_path / "inductor"))  # a cache: kept, elsewhere
    p = _train(cfg, two, f"train.strategy={strategy}", "--nproc", "2", env=env)
    assert p.returncode == 0, p.stderr[-3000:]
    assert not list(scratch.iterdir()), sorted(x.name for x in scratch.iterdir())
    a, b = _steps(one), _steps(two)
    assert len(a) == len(b) == 6 + 2  # the ranks' rows are reduced into one row per step, not duplicated
    # Tolerances, measured 2026-12-02 on an AMD EPYC under its default, `default` and `avx2` kernel
    # paths (ATEN_CPU_CAPABILITY), against what a real bug does. Float sums in another order, grown
    # by 6 steps of training: loss ≤ 2.6e-6; log-ratios and grad norm ≤ 3.9e-5 × max(1, |value|)
    # (they are sums over ~20 tokens, so their error scales with them); weights ≤ 7.5e-6, 0.2% of
    # the largest update. Each rank stepping on its own half batch (no gradient sync) moves the
    # loss by 0.23, the log-ratios by 8.2 and the weights by 7e-3, more than the update itself.
    assert (a["loss"] - b["loss"]).abs().max() < 1e-5
    assert (a["tokens"] == b["tokens"]).all()
    # a share of 8 pairs: equal on all 6 paths above, but a margin at float noise (step 1, where the
    # policy is the reference) may flip one pair on some other machine
    assert (a["reward_accuracy"] - b["reward_accuracy"]).abs().max() <= 1 / 8 + 1e-9
    for col in ["logratio_chosen", "logratio_rejected", "grad_norm"]:  # grad norm: over every rank's gradient
        rel = ((a[col] - b[col]).abs() / a[col].abs().clip(lower=1)).max()
        assert rel < 2e-4, (col, rel)
    wa, wb = _final(one), _final(two)
    assert wa.keys() == wb.keys()  # FSDP: a full state dict, not shards, in the model's own names
    from harness.models.pinned import pinned_dir

    w0 = load_file(pinned_dir("tiny-arith-sft") / "model.safetensors")  # where every run started
    update = max((wa[k] - w0[k]).abs().max().item() for k in wa)
    assert max((wa[k] - wb[k]).abs().max().item() for k in wa) < 0.01 * update  # ≈ 4e-5 here
    runs = pd.read_parquet(two / "runs")
    assert len(runs) == 1 and runs["world_size"].iloc[0] == 2 and runs["status"].iloc[0] == "completed"
    # the reference log-probs: computed in two shards, gathered, cached under the one-process key
    ca, cb = sorted((one / "cache" / "refs").glob("*.parquet")), sorted((two / "cache" / "refs").glob("*.parquet"))
    assert [f.name for f in ca] == [f.name for f in cb] and len(ca) == 2  # train and eval pairs
    for fa, fb in zip(ca, cb):
        ra, rb = pd.read_parquet(fa), pd.read_parquet(fb)
        assert ra["prompt_id"].tolist() == rb["prompt_id"].tolist()
        assert (ra[["chosen", "rejected"]] - rb[["chosen", "rejected"]]).abs().max().max() < 1e-5


def test_the_checkpoint_loads_and_evaluates(tmp_path, single):
    """What rank 0 wrote is a plain checkpoint: transformers loads it, and it scores like the run's."""
    from harness.models.load import load_causal_lm

    cfg, _ = single
    p = _train(cfg, tmp_path, "train.strategy=fsdp", "--nproc", "2")
    assert p.returncode == 0, p.stderr[-3000:]
    (final,) = tmp_path.glob("checkpoints/*/final")
    model = load_causal_lm(str(final), device="cpu")
    ids = torch.tensor([[1, 2, 3, 4]])
    assert torch.isfinite(model(ids).logits).all()


@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_a_dead_rank_fails_the_run_and_a_rerun_resumes(single, tmp_path, strategy):
    cfg, one = single
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(KILL_HOOK)
    env = _env(KILL_RANK="1", KILL_AT="3", PYTHONPATH=f"{hook}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    started = time.monotonic()
    p = _train(cfg, tmp_path / "out", f"train.strategy={strategy}", "--nproc", "2", env=env)
    assert p.returncode != 0
    assert time.monotonic() - started < 180  # torchrun stopped rank 0; the collectives did not hang it
    runs = pd.read_parquet(tmp_path / "out" / "runs")
    assert runs["status"].tolist() == ["failed"], runs.to_dict("records")
    assert runs["error"].iloc[0]  # rank 0 says why: the launcher stopped it, or the peer vanished

    p = _train(cfg, tmp_path / "out", f"train.strategy={strategy}", "--nproc", "2")  # resumes at step 2
    assert p.returncode == 0, p.stderr[-3000:]
    runs = pd.read_parquet(tmp_path / "out" / "runs")
    assert runs["status"].tolist() == ["completed"] and runs["resumed_from"].iloc[0] == 2
    a, b = _steps(one), _steps(tmp_path / "out")
    assert len(b) == 8 and not b.duplicated(["split", "step"]).any()  # no row lost or duplicated
    assert (a["loss"] - b["loss"]).abs().max() < 1e-5


def test_nproc_needs_a_distributed_strategy(single, tmp_path):
    cfg, _ = single
    p = _train(cfg, tmp_path, "train.strategy=single", "--nproc", "2")
    assert p.returncode == 2 and "needs train.strategy: ddp or fsdp" in p.stderr
    assert "Traceback" not in p.stderr


def test_accelerate_launch_runs_the_same_run_as_nproc(tmp_path):
    """`accelerate launch` (its multi-process launcher is torch.distributed.run) gives the run
    `harness train --nproc 2` gives: the same run id, world size and rows, and one progress stream."""
    pytest.importorskip("accelerate")
    cfg = tmp_path / "run.yaml"
    cfg.write_text(CONFIG)
    p = _train(cfg, tmp_path / "nproc", "--nproc", "2")
    assert p.returncode == 0, p.stderr[-3000:]
    acc = subprocess.run([sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
                          "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
                          "-m", "harness.cli", "train", str(cfg), "--out", str(tmp_path / "acc")],
                         capture_output=True, text=True, timeout=240, env=_env())
    assert acc.returncode == 0, acc.stderr[-3000:]
    a, b = pd.read_parquet(tmp_path / "nproc" / "runs"), pd.read_parquet(tmp_path / "acc" / "runs")
    assert b["run_id"].tolist() == a["run_id"].tolist() and b["world_size"].tolist() == [2]
    pd.testing.assert_frame_equal(_steps(tmp_path / "nproc").drop(columns=["elapsed_s", "step_s"]),
                                  _steps(tmp_path / "acc").drop(columns=["elapsed_s", "step_s"]))
    assert acc.stderr.count("dist: step 6/6") == 1  # rank 0 alone reports progress


def test_a_single_strategy_run_refuses_several_launched_processes(single, tmp_path):
    cfg, _ = single  # one of 2 ranks that a launcher started, with strategy single: each would write a copy
    p = _train(cfg, tmp_path, "train.strategy=single", env=_env(WORLD_SIZE="2", RANK="0", LOCAL_RANK="0"))
    assert p.returncode == 2 and "train.strategy is single" in p.stderr and "Traceback" not in p.stderr
    assert not (tmp_path / "runs").exists()
