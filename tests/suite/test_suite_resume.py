"""End to end with the real trainer: `harness run` SIGKILLed in the middle of a suite, then run
again, finishes with every run recorded once and no step row lost or duplicated."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from harness.results.store import ResultStore

STEPS = 60  # long enough that the kill lands inside the second grid run on a quiet machine too
SUITE = {
    "name": "resume",
    "base": {"model": {"name": "tiny", "tiny": {"hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 2}},
             "data": {"train": "arith", "options": {"n_pairs": 128}, "eval_size": 16,
                      "max_prompt_len": 16, "max_response_len": 32},
             "train": {"steps": STEPS, "batch_size": 4, "learning_rate": 1e-3, "checkpoint_every": 10,
                       "eval_every": STEPS // 2, "threads": 1}},
    "sft": {"train": {"steps": 10}},
    "grid": {"loss.name": ["dpo", "minor_dpo"], "train.seed": [0, 1]},
    "eval": {"prompts": {"data": "arith", "options": {"split": "test", "n_pairs": 8}},
             "generation": {"backend": "hf", "n_prompts": 8, "max_new_tokens": 24, "max_prompt_len": 32,
                            "max_model_len": 128}, "bootstrap_iters": 100},
    "report": {"enabled": False},
}


def _harness(args, **kw):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    return subprocess.Popen([sys.executable, "-m", "harness", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True, **kw)


@pytest.mark.slow
def test_sigkill_mid_suite_then_resume(tmp_path):
    suite, out = tmp_path / "resume.yaml", tmp_path / "out"
    suite.write_text(yaml.safe_dump(SUITE))
    store = ResultStore(out)
    proc = _harness(["run", str(suite), "--out", str(out)])
    deadline = time.time() + 240
    # kill once the SFT stage and the first run are recorded and the second run has begun
    while time.time() < deadline and proc.poll() is None:
        if len(store.keys("runs")) >= 2 and len(list((out / "checkpoints").glob("*"))) >= 3:
            break
        time.sleep(0.2)
    assert proc.poll() is None, f"suite ended before it could be killed:\n{proc.stdout.read()}"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = {k: store.path("runs", k).stat().st_mtime for k in store.keys("runs")}
    assert 2 <= len(done_before) < 5

    again = _harness(["run", str(suite), "--out", str(out)])
    log, _ = again.communicate(timeout=300)
    assert again.returncode == 0, log
    runs = store.read("runs")
    assert len(runs) == 5 and runs["run_id"].is_unique and set(runs["status"]) == {"completed"}
    for k, mtime in done_before.items():  # what was finished before the kill was not redone
        assert store.path("runs", k).stat().st_mtime == mtime
    steps = store.read("steps")
    assert not steps.duplicated(["run_id", "step", "split"]).any()
    grid = runs.loc[~runs["suite"].str.contains("#"), "run_id"]
    for rid in grid:
        train = steps[(steps["run_id"] == rid) & (steps["split"] == "train")]
        assert sorted(train["step"]) == list(range(1, STEPS + 1)), rid
        assert sorted(steps[(steps["run_id"] == rid) & (steps["split"] == "eval")]["step"]) == [STEPS // 2, STEPS]
    evals = store.read("evals")
    per_run = evals[evals["metric"] == "verifier_accuracy"].groupby("run_id").size()
    assert set(grid) <= set(per_run.index) and (per_run == 1).all()
    assert len(store.read("generations").drop_duplicates(["run_id", "prompt_id", "sample"])) == len(store.read("generations"))
