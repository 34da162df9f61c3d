"""The suite runner with injected fake trainer/evaluator: skipping, sharing the SFT stage,
recording failures, and resuming after a crash (an exception, and a real SIGKILL) with no row
lost or duplicated. The fakes write the same tables, keyed the same way, as the real ones."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from harness.config import to_dict
from harness.hashing import content_hash
from harness.results.store import ResultStore
from harness.suite.grid import expand
from harness.suite.runner import run_suite
from harness.suite.spec import suite_from_dict

SUITE = {
    "name": "fake",
    "base": {"model": {"name": "tiny"}, "data": {"train": "arith"}, "train": {"steps": 4}},
    "sft": {"train": {"steps": 3}},
    "grid": {"loss.name": ["dpo", "minor_dpo"], "loss.beta": [0.1, 0.5], "train.seed": [0, 1]},
    "eval": {"generation": {"backend": "hf", "n_prompts": 3}},
    "report": {"enabled": False},
}


def suite(**changes):
    return suite_from_dict({**SUITE, **changes}, source="fake.yaml")


@dataclasses.dataclass
class FakeResult:
    run_id: str
    status: str
    diverged_step: int | None
    steps: int
    checkpoint: Path | None


def _log(out, line):
    with open(Path(out) / "calls.log", "a") as f:
        f.write(line + "\n")


def _calls(out, *, refs: bool = False) -> list[str]:
    """train:/eval: calls in order (and the references evaluations used, with refs=True)."""
    p = Path(out) / "calls.log"
    calls = p.read_text().split() if p.exists() else []
    return calls if refs else [c for c in calls if not c.startswith("reference:")]


def fake_train(cfg, out, *, run_id, suite):
    """Writes steps, a final checkpoint, then the runs row, like harness.trainer.train_run."""
    _log(out, f"train:{run_id}")
    store = ResultStore(out)
    if cfg.name != "sft" and os.environ.get("FAKE_NO_SFT") != "1":  # grid runs start from the SFT checkpoint
        assert cfg.model.init_from and (Path(cfg.model.init_from) / "weights").is_file(), cfg.model.init_from
    diverge = os.environ.get("FAKE_DIVERGE") == f"{cfg.loss.name}/{cfg.loss.beta}/{cfg.train.seed}"
    steps = 2 if diverge else cfg.train.steps
    store.write("steps", run_id, [{"run_id": run_id, "step": s, "split": "train", "loss": 0.7 - 0.1 * s,
                                   "logratio_chosen": 0.1 * s, "logratio_rejected": -0.1 * s}
                                  for s in range(1, steps + 1)])
    _maybe_crash(out, "after-steps")
    status = "diverged" if diverge else "completed"
    ckpt = None
    if status == "completed":
        ckpt = Path(out) / "checkpoints" / run_id / "final"
        ckpt.mkdir(parents=True, exist_ok=True)
        (ckpt / "weights").write_text(run_id)
    store.write("runs", run_id, [{"run_id": run_id, "suite": suite, "name": cfg.name, "loss": cfg.loss.name,
                                  "beta": cfg.loss.beta, "seed": cfg.train.seed, "status": status,
                                  "diverged_step": 2 if diverge else None, "steps": steps,
                                  "config_json": json.dumps(dataclasses.asdict(cfg))}])
    return FakeResult(run_id, status, 2 if diverge else None, steps, ckpt)


def fake_eval(eval_cfg, *, targets, reference, store, prompts):
    assert eval_cfg.generation.n_prompts == 3  # the suite's validated EvalConfig
    _log(store.root, f"reference:{reference[0]}")
    for run_id, ckpt in targets:
        _log(store.root, f"eval:{run_id}")
        assert Path(ckpt, "weights").read_text() == run_id
        store.write("scores", run_id, [{"run_id": run_id, "prompt_id": f"p{i}", "sample": 0, "reward": 1.0,
                                        "correct": 1.0, "kl": 0.5} for i in range(3)])
        _maybe_crash(store.root, "mid-eval")
        store.write("evals", run_id, [{"run_id": run_id, "metric": "winrate_vs_ref", "value": 0.5, "n": 3,
                                       "eval_hash": content_hash(to_dict(eval_cfg))}])  # as harness.evaluation does


class Crash(BaseException):
    """Stands in for a kill: not an Exception, so nothing in the runner may swallow it."""


def _maybe_crash(out, where):
    """Crash at the N-th time `where` is reached, as set by FAKE_CRASH=where:N[:kill]."""
    spec = os.environ.get("FAKE_CRASH", "")
    if not spec.startswith(where + ":"):
        return
    _, n, *how = spec.split(":")
    count_file = Path(out) / f"crash-{where}.count"
    count = int(count_file.read_text()) + 1 if count_file.exists() else 1
    count_file.write_text(str(count))
    if count == int(n):
        if how == ["kill"]:
            os.kill(os.getpid(), signal.SIGKILL)
        raise Crash(where)


def _assert_complete_and_unique(out, plan):
    store = ResultStore(out)
    runs = store.read("runs")
    grid_ids = {r.run_id for r in plan.runs}
    assert sorted(runs["run_id"]) == sorted(grid_ids | {s.run_id for s in plan.sft})  # one row each
    assert set(runs["status"]) == {"completed"}
    steps = store.read("steps")
    assert not steps.duplicated(["run_id", "step", "split"]).any()
    assert steps.groupby("run_id").size().to_dict() == {rid: 4 if rid in grid_ids else 3 for rid in runs["run_id"]}
    for table, per_run in (("evals", 1), ("scores", 3)):
        df = store.read(table)
        assert set(df["run_id"]) == grid_ids and len(df) == per_run * len(grid_ids)


def test_runs_everything_once_then_skips(tmp_path):
    s = suite()
    plan = expand(s)
    summary = run_suite(s, tmp_path, train_fn=fake_train, eval_fn=fake_eval, log=lambda m: None)
    assert summary.total == 8 and summary.skipped == 0 and set(summary.states.values()) == {"done"}
    calls = _calls(tmp_path)
    assert calls[0] == f"train:{plan.sft[0].run_id}" and calls.count(f"train:{plan.sft[0].run_id}") == 1
    assert sum(c.startswith("train:") for c in calls) == 9 and sum(c.startswith("eval:") for c in calls) == 8
    assert [c for c in _calls(tmp_path, refs=True) if c.startswith("reference:")] == [f"reference:{plan.sft[0].run_id}"]
    _assert_complete_and_unique(tmp_path, plan)
    again = run_suite(s, tmp_path, train_fn=fake_train, eval_fn=fake_eval, log=lambda m: None)
    assert again.skipped == 8 and _calls(tmp_path) == calls  # nothing retrained or re-evaluated
    doc = json.loads((tmp_path / "suite.json").read_text())
    assert doc["name"] == "fake" and doc["hash"] == s.hash and len(doc["runs"]) == 9


@pytest.mark.parametrize("where", ["after-steps:5", "mid-eval:3"])
def test_resume_after_crash_loses_and_duplicates_nothing(tmp_path, monkeypatch, where):
    s = suite()
    plan = expand(s)
    monkeypatch.setenv("FAKE_CRASH", where)
    with pytest.raises(Crash):
        run_suite(s, tmp_path, train_fn=fake_train, eval_fn=fake_eval, log=lambda m: None)
    first = _calls(tmp_path)
    monkeypatch.delenv("FAKE_CRASH")
    run_suite(s, tmp_path, train_fn=fake_train, eval_fn=fake_eval, log=lambda m: None)
    _assert_complete_and_unique(tmp_path, plan)
    resumed = _calls(tmp_path)[len(first):]
    assert f"train:{plan.sft[0].run_id}" not in resumed  # the SFT checkpoint is reused
    finished = [c for c in first[:-1] if c.startswith("train:")] if where.startswith("after") else \
        [c for c in first if c.startswith("train:")]
    assert not set(finished) & set(resumed)  # completed runs are not trained again


def test_resume_after_sigkill(tmp_path):
    """A real SIGKILL of the driver in the middle of writing a run, then a normal resume."""
    s = suite()
    plan = expand(s)
    code = ("import sys; sys.path.insert(0, sys.argv[2]);"
            "import test_suite_runner as t;"
            "t.run_suite(t.suite(), sys.argv[1], train_fn=t.fake_train, eval_fn=t.fake_eval)")
    env = {**os.environ, "FAKE_CRASH": "after-steps:4:kill"}
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path), str(Path(__file__).parent)],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    store = ResultStore(tmp_path)
    assert len(store.keys("runs")) == 3  # SFT + 2 runs finished before the kill; the 3rd has steps only
    run_suite(s, tmp_path, train_fn=fake_train, eval_fn=fake_eval, log=lambda m: None)
    _assert_complete_and_unique(tmp_path, plan)


def test_failed_and_diverged_runs_are_recorded_and_the_suite_goes_on(tmp_path, monkeypatch):
    s = suite()
    plan = expand(s)
    bad = next(r for r in plan.runs if r.config.loss.name == "minor_dpo" and r.config.loss.beta == 0.5)

    def flaky(cfg, out, *, run_id, suite):
        if run_id == bad.run_id:
            raise RuntimeError("out of memory")
        return fake_train(cfg, out, run_id=run_id, suite=suite)

    monkeypatch.setenv("FAKE_DIVERGE", "dpo/0.1/0")
    summary = run_suite(s, tmp_path, train_fn=flaky, eval_fn=fake_eval, log=lambda m: None)
    assert summary.failed == [bad.run_id]
    runs = ResultStore(tmp_path).read("runs").set_index("run_id")
    assert runs.at[bad.run_id, "status"] == "failed" and "out of memory" in runs.at[bad.run_id, "error"]
    assert (runs["status"] == "diverged").sum() == 1
    diverged = runs.index[runs["status"] == "diverged"][0]
    assert not ResultStore(tmp_path).has("evals", diverged)  # diverged runs are not evaluated
    assert len(ResultStore(tmp_path).keys("evals")) == 6
    # the next invocation retries only the failed run
    before = len(_calls(tmp_path))
    summary = run_suite(s, tmp_path, train_fn=fake_train, eval_fn=fake_eval, log=lambda m: None)
    assert not summary.failed
    assert _calls(tmp_path)[before:] == [f"train:{bad.run_id}", f"eval:{bad.run_id}"]


def test_failed_sft_stage_fails_its_runs_without_training_them(tmp_path):
    s = suite()

    def broken_sft(cfg, out, *, run_id, suite):
        if cfg.name == "sft":
            raise RuntimeError("sft exploded")
        return fake_train(cfg, out, run_id=run_id, suite=suite)

    summary = run_suite(s, tmp_path, train_fn=broken_sft, eval_fn=fake_eval, log=lambda m: None)
    assert len(summary.failed) == 8
    errors = ResultStore(tmp_path).read("runs")["error"]
    assert errors.str.contains("sft exploded").sum() == 1 and errors.str.contains("SFT stage").sum() == 8


def test_progress_lines_and_executor_registry(tmp_path):
    from harness.errors import HarnessError

    lines = []
    run_suite(suite(grid={"loss.name": ["dpo"], "train.seed": [0, 1]}), tmp_path, train_fn=fake_train,
              eval_fn=fake_eval, log=lines.append)
    assert any(line.startswith("[1/4] sft stage") for line in lines)
    assert any("run 2/2" in line for line in lines)
    with pytest.raises(HarnessError, match="unknown executor 'dask'"):
        run_suite(suite(), tmp_path / "x", executor="dask", train_fn=fake_train, eval_fn=fake_eval, log=lines.append)
    with pytest.raises(HarnessError, match="--address auto is for the ray executor, not pool"):
        run_suite(suite(), tmp_path / "y", executor="pool", address="auto", train_fn=fake_train, log=lines.append)


def test_unknown_loss_fails_before_training(tmp_path):
    from harness.errors import HarnessError

    with pytest.raises(HarnessError, match="unknown loss 'dpoo'"):
        run_suite(suite(grid={"loss.name": ["dpoo"]}), tmp_path, train_fn=fake_train, log=lambda m: None)
    assert not _calls(tmp_path)


def test_dry_run_shows_states(tmp_path, capsys):
    from harness.cli import main
    from harness.config import to_dict

    path = tmp_path / "s.yaml"
    import yaml

    path.write_text(yaml.safe_dump(to_dict(suite().spec)))
    out = tmp_path / "out"
    run_suite(suite(grid={"loss.name": ["dpo"], "loss.beta": [0.1], "train.seed": [0]}), out,
              train_fn=fake_train, eval_fn=fake_eval, log=lambda m: None)
    assert main(["run", str(path), "--dry-run", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "8 runs + 1 SFT stage(s)" in text and "1 done, 7 pending" in text


def test_deleted_checkpoints_are_rebuilt_only_when_needed(tmp_path):
    import shutil

    s = suite(grid={"loss.name": ["dpo"], "train.seed": [0, 1]})
    plan = expand(s)
    run_suite(s, tmp_path, train_fn=fake_train, eval_fn=fake_eval, log=lambda m: None)
    shutil.rmtree(tmp_path / "checkpoints")  # "safe to delete" once everything is evaluated
    n = len(_calls(tmp_path))
    run_suite(s, tmp_path, train_fn=fake_train, eval_fn=fake_eval, log=lambda m: None)
    assert len(_calls(tmp_path)) == n
    # an evaluation is owed but the weights are gone: SFT stage and run are trained again
    victim = plan.runs[0].run_id
    ResultStore(tmp_path).delete("evals", victim)
    run_suite(s, tmp_path, train_fn=fake_train, eval_fn=fake_eval, log=lambda m: None)
    assert _calls(tmp_path)[n:] == [f"train:{plan.sft[0].run_id}", f"train:{victim}", f"eval:{victim}"]
    ids = ResultStore(tmp_path).read("runs")["run_id"]
    assert ids.is_unique and len(ids) == 3


def test_changing_the_eval_block_reevaluates_without_retraining(tmp_path):
    s = suite(grid={"loss.name": ["dpo"], "train.seed": [0, 1]})
    run_suite(s, tmp_path, train_fn=fake_train, eval_fn=fake_eval, log=lambda m: None)
    n = len(_calls(tmp_path))
    other = suite(grid={"loss.name": ["dpo"], "train.seed": [0, 1]},
                  eval={"generation": {"backend": "hf", "n_prompts": 3, "max_new_tokens": 8}})
    assert [r.run_id for r in expand(other).runs] == [r.run_id for r in expand(s).runs]
    run_suite(other, tmp_path, train_fn=fake_train, eval_fn=fake_eval, log=lambda m: None)
    assert sorted(_calls(tmp_path)[n:]) == sorted(f"eval:{r.run_id}" for r in expand(s).runs)


def test_without_sft_each_initial_policy_is_its_own_reference(tmp_path, monkeypatch):
    """No SFT stage: the reference is the base model, which for the locally built tiny model
    depends on the seed; one evaluation (and one reference) per initial policy."""
    monkeypatch.setenv("FAKE_NO_SFT", "1")
    s = suite_from_dict({**{k: v for k, v in SUITE.items() if k != "sft"},
                         "grid": {"loss.name": ["dpo", "minor_dpo"], "train.seed": [0, 1]}})
    run_suite(s, tmp_path, train_fn=fake_train, eval_fn=fake_eval, log=lambda m: None)
    refs = [c for c in _calls(tmp_path, refs=True) if c.startswith("reference:")]
    assert len(refs) == 2 and len(set(refs)) == 2 and all(r.startswith("reference:base-") for r in refs)
    assert len(ResultStore(tmp_path).keys("evals")) == 4
