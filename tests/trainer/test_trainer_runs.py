"""Run-level behaviour: reference cache across a sweep, divergence, failures, kill + resume, CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from harness.config import from_dict, to_dict
from harness.errors import ConfigError, HarnessError
from harness.results import ResultStore
from harness.results.records import run_id as run_id_for
from harness.trainer import train_run
from harness.trainer.config import RunConfig

METRICS = ["loss", "grad_norm", "learning_rate", "logratio_chosen", "logratio_rejected", "reward_margin",
           "reward_accuracy", "logps_chosen", "logps_rejected", "tokens"]


def make_cfg(**sections) -> RunConfig:
    base = {"name": "t", "model": {"name": "tiny"},
            "data": {"train": "arith", "options": {"n_pairs": 64}, "eval_size": 16,
                     "max_prompt_len": 16, "max_response_len": 32},
            "loss": {"name": "dpo", "beta": 0.1},
            "train": {"steps": 2, "batch_size": 8, "learning_rate": 2e-3, "threads": 1, "save_final": False}}
    for key, value in sections.items():
        base[key] = {**base.get(key, {}), **value}
    return from_dict(RunConfig, base)


def test_beta_sweep_computes_reference_logps_once(tmp_path):
    ids = [train_run(make_cfg(loss={"beta": beta}), tmp_path).run_id for beta in (0.05, 0.1, 0.5)]
    runs = ResultStore(tmp_path).read("runs").set_index("run_id").loc[ids]
    assert runs.ref_cache_hit.tolist() == [False, True, True]
    assert len(set(ids)) == 3 and (runs.status == "completed").all()
    assert len(list((tmp_path / "cache" / "refs").glob("*.parquet"))) == 2  # train + held-out pairs
    # a different loss and learning rate over the same data and reference also hit
    assert train_run(make_cfg(loss={"name": "ipo"}, train={"learning_rate": 1e-3}), tmp_path).ref_cache_hit is True


PARALLEL = """
import sys
from harness.config import from_dict
from harness.trainer import train_run
from harness.trainer.config import RunConfig
from test_trainer_runs import make_cfg
r = train_run(make_cfg(loss={"beta": float(sys.argv[2])}), sys.argv[1])
print("HIT" if r.ref_cache_hit else "MISS")
"""


def test_two_runs_starting_at_once_compute_the_reference_once(tmp_path):
    """Two workers of a suite start their first runs together: one computes the cache while the
    other waits for it (a lock per cache key), instead of both computing it."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}
    procs = [subprocess.Popen([sys.executable, "-c", PARALLEL, str(tmp_path), beta], stdout=subprocess.PIPE,
                              text=True, env=env) for beta in ("0.1", "0.5")]
    outs = sorted(p.communicate(timeout=300)[0].strip().splitlines()[-1] for p in procs)
    assert all(p.returncode == 0 for p in procs)
    assert outs == ["HIT", "MISS"]


def test_huge_learning_rate_is_recorded_diverged_and_the_next_run_still_runs(tmp_path):
    # lr 1e12 overflows the weights on every kernel path. At 1e4 the outcome depends on the attention
    # kernel: flash attention's gradients turn NaN (diverged); products and a softmax (short rows,
    # harness.models.fused) saturate, and a collapsed model with zero gradients is not a divergence.
    bad = train_run(make_cfg(train={"steps": 20, "learning_rate": 1e12, "max_grad_norm": None,
                                    "save_final": True}), tmp_path)
    assert bad.status == "diverged" and bad.diverged_step is not None and 1 < bad.diverged_step <= 20
    assert bad.checkpoint is None and bad.steps == bad.diverged_step - 1
    steps = ResultStore(tmp_path).read("steps", bad.run_id)
    assert steps.step.max() == bad.diverged_step
    last = steps.sort_values("step").iloc[-1]
    assert not (abs(last.loss) < 1e30) or last.nonfinite > 0 or last.loss > 100 * steps.iloc[0].loss
    runs = ResultStore(tmp_path).read("runs").set_index("run_id")
    assert runs.loc[bad.run_id, "status"] == "diverged" and runs.loc[bad.run_id, "diverged_step"] == bad.diverged_step
    good = train_run(make_cfg(), tmp_path)
    assert good.status == "completed"


def test_an_exception_mid_run_is_recorded_as_failed_with_the_rows_so_far(tmp_path, monkeypatch):
    from harness.trainer.loop import Loop

    real = Loop.train_step

    def flaky(self, step):
        if step == 2:
            raise RuntimeError("boom at step 3")
        return real(self, step)

    monkeypatch.setattr(Loop, "train_step", flaky)
    result = train_run(make_cfg(train={"steps": 5}), tmp_path)
    assert result.status == "failed" and "boom at step 3" in result.error
    assert ResultStore(tmp_path).read("steps", result.run_id).step.tolist() == [1, 2]
    assert "boom" in ResultStore(tmp_path).read("runs").iloc[0].error


@pytest.mark.parametrize("sections, error", [
    ({"loss": {"name": "dpp"}}, HarnessError),
    ({"loss": {"params": {"lambda_": 5}}}, ConfigError),
    ({"model": {"name": "tiny", "tiny": {"hidden_size": 100}}}, ConfigError),
    ({"data": {"train": "arith", "options": {"n_pairs": 0}}}, HarnessError),
])
def test_bad_config_or_data_raise_before_training_and_record_nothing(tmp_path, sections, error):
    with pytest.raises(error):
        train_run(make_cfg(**sections), tmp_path)
    assert not (tmp_path / "runs").exists()


def test_run_id_is_the_hash_of_the_resolved_config():
    a, b = make_cfg(), make_cfg()
    assert run_id_for(a) == run_id_for(b) != run_id_for(make_cfg(loss={"beta": 0.2}))
    assert run_id_for(from_dict(RunConfig, to_dict(a))) == run_id_for(a)


def _write_cfg(path: Path, steps: int) -> Path:
    cfg = to_dict(make_cfg(train={"steps": steps, "batch_size": 4, "checkpoint_every": 5, "eval_every": 10}))
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_sigkill_mid_run_then_resume_gives_the_same_metrics_as_an_uninterrupted_run(tmp_path):
    steps = 40
    cfg_path = _write_cfg(tmp_path / "cfg.yaml", steps)
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    cmd = [sys.executable, "-m", "harness", "train", str(cfg_path), "--out", str(killed)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = None
    try:
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            found = list(killed.glob("checkpoints/*/last/state.json"))
            if found:
                state = found[0]
                break
            time.sleep(0.02)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert state is not None, "no checkpoint appeared before the process ended"
    assert proc.returncode == -signal.SIGKILL and not (killed / "runs").exists()  # died mid-run

    cfg = from_dict(RunConfig, yaml.safe_load(cfg_path.read_text()))
    resumed = train_run(cfg, killed)
    assert resumed.status == "completed" and resumed.steps == steps
    assert resumed.resumed_from >= 5  # it continued from the checkpoint, not from scratch
    reference = train_run(cfg, clean)
    a = ResultStore(killed).read("steps", resumed.run_id).sort_values(["split", "step"]).reset_index(drop=True)
    b = ResultStore(clean).read("steps", reference.run_id).sort_values(["split", "step"]).reset_index(drop=True)
    assert len(a) == len(b) == steps + steps // 10
    assert a[["split", "step"]].equals(b[["split", "step"]])
    assert a[METRICS].equals(b[METRICS])  # bit-identical (NaN where both have NaN), not merely close
    assert not (killed / "checkpoints" / resumed.run_id / "last").exists()  # cleared once final


def test_cli_train_with_overrides_and_bad_input(tmp_path, capsys):
    from harness.cli import main

    example = Path(__file__).resolve().parents[2] / "suites" / "examples" / "train-tiny.yaml"
    rc = main(["train", str(example), "train.steps=2", "train.warmup_steps=1", "train.threads=1", "data.options.n_pairs=100",
               "--out", str(tmp_path)])
    assert rc == 0 and "completed" in capsys.readouterr().out
    runs = ResultStore(tmp_path).read("runs")
    assert runs.iloc[0].steps == 2 and runs.iloc[0]["name"] == "dpo-tiny-arith"
    assert main(["train", str(example), "train.steps=abc", "--out", str(tmp_path)]) == 2
    assert "train.steps" in capsys.readouterr().err


def test_bf16_autocast_path_runs_and_keys_its_own_reference_cache(tmp_path):
    fp32 = train_run(make_cfg(), tmp_path)
    bf16 = train_run(make_cfg(model={"name": "tiny", "dtype": "bfloat16"}), tmp_path)
    assert fp32.status == bf16.status == "completed"
    assert bf16.ref_cache_hit is False  # other precision, other reference numbers
    runs = ResultStore(tmp_path).read("runs").set_index("run_id")
    assert runs.loc[bf16.run_id, "dtype"] == "bfloat16" and runs.loc[fp32.run_id, "dtype"] == "float32"
    assert bf16.run_id != fp32.run_id


def test_the_run_id_holds_the_resolved_precision(monkeypatch):
    """auto / fastest are resolved before hashing: a run measured into bf16 gets the id of an explicit
    bf16 run, and an fp32 one keeps the id it had before dtypes were resolved ("auto" hashed)."""
    from harness import probe
    from harness.hashing import content_hash
    from harness.results.records import content
    from harness.trainer.config import pin_dtype

    auto = make_cfg()
    old_id = content_hash(content(auto))  # the unresolved config, hashed as before dtypes were resolved
    assert pin_dtype(auto).model.dtype == "float32"
    assert run_id_for(pin_dtype(auto)) == old_id == run_id_for(pin_dtype(make_cfg(model={"name": "tiny", "dtype": "float32"})))
    assert content(pin_dtype(auto))["model"]["dtype"] == "auto"
    explicit = run_id_for(pin_dtype(make_cfg(model={"name": "tiny", "dtype": "bfloat16"})))
    monkeypatch.setattr(probe, "_PROBE", {"size": 512, "fp32_gflops": 95.0, "bf16_gflops": 420.0, "speedup": 4.4})
    assert run_id_for(pin_dtype(make_cfg(model={"name": "tiny", "dtype": "fastest"}))) == explicit != old_id
    monkeypatch.setattr(probe, "_PROBE", {"size": 512, "fp32_gflops": 95.0, "bf16_gflops": 40.0, "speedup": 0.4})
    assert run_id_for(pin_dtype(make_cfg(model={"name": "tiny", "dtype": "fastest"}))) == old_id


def test_held_out_pairs_from_an_eval_spec_with_their_own_options(tmp_path):
    from harness.trainer.data import load_run_pairs

    cfg = make_cfg(data={"eval": "arith", "eval_options": {"split": "eval", "n_pairs": 40}, "eval_size": 32})
    raw = load_run_pairs(cfg.data)
    assert len(raw.eval) == 32 and len(raw.train) == 64  # nothing taken from the training pairs
    assert not {p.prompt for p in raw.eval} & {p.prompt for p in raw.train}
    result = train_run(cfg, tmp_path)
    evals = ResultStore(tmp_path).read("steps", result.run_id).query("split == 'eval'")
    assert result.status == "completed" and evals.step.tolist() == [2]


@pytest.mark.slow  # a cold inductor compile takes ~40 s on 2 cores
def test_compiled_layers_train_like_eager(tmp_path, monkeypatch):
    """train.compile: each decoder layer compiled in place; the same losses to rounding, same names.
    Over batches of at least three lengths: the first compiles static, the second with a symbolic
    length, the third reuses that (where a stride baked in at the second once failed)."""
    import harness.trainer.loop as loop

    lengths = []

    def collate(*a, **kw):
        batch = real(*a, **kw)
        lengths.append(batch["input_ids"].shape[1])
        return batch

    real = loop.collate_shared
    monkeypatch.setattr(loop, "collate_shared", collate)
    eager = train_run(make_cfg(train={"steps": 8, "batch_size": 2}), tmp_path / "eager")
    compiled = train_run(make_cfg(train={"steps": 8, "batch_size": 2, "compile": True}), tmp_path / "compiled")
    assert len(set(lengths)) >= 3, lengths
    assert eager.status == compiled.status == "completed" and eager.run_id != compiled.run_id, compiled.error
    a = ResultStore(tmp_path / "eager").read("steps").query("split == 'train'").sort_values("step")
    b = ResultStore(tmp_path / "compiled").read("steps").query("split == 'train'").sort_values("step")
    assert abs(a["loss"].to_numpy() - b["loss"].to_numpy()).max() < 1e-4


def test_a_final_checkpoint_that_cannot_be_written_fails_the_run(tmp_path, monkeypatch):
    """A full disk at the final save (measured: `No space left on device` from safetensors) used to
    leave the run `completed` with no checkpoint; it is `failed`, with the error, and its rows kept."""
    import harness.trainer.checkpoint as checkpoint

    def full_disk(*a, **kw):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint, "save_final", full_disk)
    result = train_run(make_cfg(train={"save_final": True}), tmp_path)
    assert result.status == "failed" and "No space left on device" in result.error
    runs = ResultStore(tmp_path).read("runs")
    assert runs.status.tolist() == ["failed"]
    assert len(ResultStore(tmp_path).read("steps").query("split == 'train'")) == 2  # the training rows are kept
