"""The suite's reward-model stage (`eval.reward_model.train`): validated up front, trained once per
recipe into OUT/rm/<hash>/ after the SFT stage it starts from, part of the hash that decides what
is evaluated, and a failure that fails the evaluations with its reason. The trainer, evaluator and
the RM training itself are fakes here (the real ones run in test_suite_smoke.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_suite_runner import SUITE, _calls, _log, fake_eval, fake_train

import harness.reward.classifier_train as rm_train
from harness.errors import ConfigError
from harness.suite.grid import expand
from harness.suite.reward_stage import resolved_eval, stage_of
from harness.suite.runner import run_suite
from harness.suite.spec import suite_from_dict

RECIPE = {"data": "arith", "options": {"n_pairs": 40}, "backbone": "@sft", "epochs": 1}


def rm_suite(recipe=None, **changes):
    ev = {**SUITE["eval"], "reward_model": {"train": {**RECIPE, **(recipe or {})}}}
    return suite_from_dict({**SUITE, "grid": {"loss.name": ["dpo", "minor_dpo"], "train.seed": [0]}, "eval": ev,
                            **changes}, source="rm.yaml")


@pytest.fixture
def fake_rm(monkeypatch):
    """Stands in for rm_train.train_reward_model: logs the call and writes what the stage checks."""
    def train(pairs, out_dir, *, backbone, extra, **kw):
        out = Path(out_dir)
        root = out.parent.parent
        _log(root, f"rm:{out.name}")
        if kw.get("epochs") == 99:
            raise RuntimeError("rm exploded")
        assert (Path(backbone) / "weights").is_file()  # the SFT checkpoint (fake_train's layout)
        out.mkdir(parents=True)
        info = {"heldout_accuracy": 0.5, "heldout_pairs": 8, "train_pairs": len(pairs), **extra}
        (out / "rm.json").write_text(json.dumps(info))
        return {**info, "train_s": 0.0}

    monkeypatch.setattr(rm_train, "train_reward_model", train)


def test_rm_trained_once_after_sft_and_before_evaluation(tmp_path, fake_rm):
    s = rm_suite()
    plan = expand(s)
    stage = stage_of(resolved_eval(plan))
    assert stage.train.backbone == f"@sft:{plan.sft[0].run_id}" and stage.sft_id == plan.sft[0].run_id
    seen = []

    def eval_fn(eval_cfg, **kw):  # the evaluator gets the resolved recipe; its RM is already there
        seen.append(eval_cfg.reward.train.backbone)
        assert (stage.dir(tmp_path) / "rm.json").is_file()
        return fake_eval(eval_cfg, **kw)

    run_suite(s, tmp_path, train_fn=fake_train, eval_fn=eval_fn, log=lambda m: None)
    calls = _calls(tmp_path)
    assert calls.index(f"train:{plan.sft[0].run_id}") < calls.index(f"rm:{stage.hash}") < \
        min(i for i, c in enumerate(calls) if c.startswith("eval:"))
    assert calls.count(f"rm:{stage.hash}") == 1 and seen == [stage.train.backbone]
    info = json.loads((tmp_path / "rm" / stage.hash / "rm.json").read_text())
    assert info["hash"] == stage.hash and info["backbone"] == stage.train.backbone

    again = run_suite(s, tmp_path, train_fn=fake_train, eval_fn=eval_fn, log=lambda m: None)
    assert again.skipped == 2 and _calls(tmp_path) == calls  # no RM, no training, no evaluation


def test_changed_recipe_trains_a_new_rm_and_reevaluates_without_retraining(tmp_path, fake_rm):
    run_suite(rm_suite(), tmp_path, train_fn=fake_train, eval_fn=fake_eval, log=lambda m: None)
    n = len(_calls(tmp_path))
    other = rm_suite({"epochs": 2})
    stage = stage_of(resolved_eval(expand(other)))
    run_suite(other, tmp_path, train_fn=fake_train, eval_fn=fake_eval, log=lambda m: None)
    new = _calls(tmp_path)[n:]
    assert new[0] == f"rm:{stage.hash}" and sorted(new[1:]) == sorted(f"eval:{r.run_id}" for r in expand(other).runs)
    assert len(list((tmp_path / "rm").iterdir())) == 2  # the old one stays: switching back costs nothing
    threads = rm_suite({"epochs": 2, "threads": 1})  # how fast is not what: same RM, nothing to do
    assert stage_of(resolved_eval(expand(threads))).hash == stage.hash


def test_failed_rm_fails_the_evaluations_with_its_reason_then_resumes(tmp_path, fake_rm):
    lines = []
    summary = run_suite(rm_suite({"epochs": 99}), tmp_path, train_fn=fake_train, eval_fn=fake_eval, log=lines.append)
    assert set(summary.states.values()) == {"trained"}  # trained, evaluation owed (exit status 1)
    assert not any(c.startswith("eval:") for c in _calls(tmp_path)) and not list(tmp_path.glob("rm/*/rm.json"))
    assert any("rm exploded" in line for line in lines)
    assert any("reward model" in line and "was not trained" in line for line in lines)
    # the recipe fixed: trains the RM and evaluates, trains no run again
    n_train = sum(c.startswith("train:") for c in _calls(tmp_path))
    summary = run_suite(rm_suite(), tmp_path, train_fn=fake_train, eval_fn=fake_eval, log=lambda m: None)
    assert set(summary.states.values()) == {"done"}
    assert sum(c.startswith("train:") for c in _calls(tmp_path)) == n_train


def test_dry_run_shows_the_stage(tmp_path, capsys):
    import yaml

    from harness.cli import main
    from harness.config import to_dict

    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(to_dict(rm_suite().spec)))
    assert main(["run", str(path), "--dry-run", "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    stage = stage_of(resolved_eval(expand(rm_suite())))
    assert f"reward model {stage.hash}: pending (backbone @sft:" in out


@pytest.mark.parametrize("reward_model, key", [
    ({"train": {**RECIPE, "epoch": 1}}, "eval.reward_model.train.epoch"),
    ({"train": {**RECIPE, "heldout": 1.0}}, "eval.reward_model.train.heldout"),
    ({"train": {**RECIPE, "backbone": "@reference"}}, "eval.reward_model.train.backbone"),
    ({"train": {k: v for k, v in RECIPE.items() if k != "data"}}, "eval.reward_model.train.data"),
    ({"path": "x", "train": RECIPE}, "eval.reward_model.path"),
    ({"pth": "x"}, "eval.reward_model.pth"),
])
def test_recipe_errors_name_the_key(reward_model, key):
    with pytest.raises(ConfigError) as err:
        suite_from_dict({**SUITE, "eval": {**SUITE["eval"], "reward_model": reward_model}}, source="rm.yaml")
    assert str(err.value).startswith(f"rm.yaml: {key}: "), str(err.value)


def test_sft_backbone_needs_exactly_one_sft_stage(tmp_path):
    with pytest.raises(ConfigError, match=r"rm.yaml: eval.reward_model.train.backbone: '@sft' .*no sft: stage"):
        rm_suite(sft=None)
    two = rm_suite(grid={"model.tiny.hidden_size": [64, 128]})
    with pytest.raises(ConfigError, match=r"eval.reward_model.train.backbone: '@sft' needs exactly one SFT stage"):
        run_suite(two, tmp_path, train_fn=fake_train, eval_fn=fake_eval, log=lambda m: None)
    assert not _calls(tmp_path)  # refused before anything trained


def test_path_shorthand():
    s = suite_from_dict({**SUITE, "eval": {**SUITE["eval"], "reward_model": "results/rm-hh"}})
    assert s.spec.eval.reward.path == "results/rm-hh" and stage_of(resolved_eval(expand(s))) is None
