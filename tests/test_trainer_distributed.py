"""Multi-process training on CPU with gloo: `harness train --nproc 2` under torchrun, DDP and FSDP2.

The global batch stays `train.batch_size` and each rank takes half of it, so two processes must
make the update one process makes: per-step loss and final weights within 1e-5 (float sums in a
different order, nothing more). Rank 0 alone writes the rows and a full safetensors checkpoint.
A rank that dies ends the run as failed (never a hang), and running it again resumes.
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
    p = _train(cfg, two, f"train.strategy={strategy}", "--nproc", "2")
    assert p.returncode == 0, p.stderr[-3000:]
    a, b = _steps(one), _steps(two)
    assert len(a) == len(b) == 6 + 2  # the ranks' rows are reduced into one row per step, not duplicated
    for col in ["loss", "logratio_chosen", "logratio_rejected", "reward_accuracy", "tokens"]:
        diff = (a[col] - b[col]).abs().max()
        assert diff < (1e-5 if col == "loss" else 5e-5), (col, diff)  # log-ratios are sums over ~20 tokens
    assert (a["grad_norm"] - b["grad_norm"]).abs().max() < 1e-4  # the norm over every rank's gradient
    wa, wb = _final(one), _final(two)
    assert wa.keys() == wb.keys()  # FSDP: a full state dict, not shards, in the model's own names
    assert max((wa[k] - wb[k]).abs().max().item() for k in wa) < 1e-5
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
