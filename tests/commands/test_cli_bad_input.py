"""Bad input, one row per case: the command, its exit code, the words its one-line message must
name, no traceback, and nothing damaged (every result file byte-identical afterwards).

The results folder is tests/builders.py's synthetic one (real store, real suite expansion); each case
gets its own copy, damaged the way the case says, so cases never see each other's damage.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from builders import first_part
from builders import model_copy as _model_copy

from harness.cli import main

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "suites" / "examples" / "train-tiny.yaml"
FAST = ["train.steps=1", "train.warmup_steps=0", "train.eval_every=0", "train.checkpoint_every=0"]


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _garbage(path: Path) -> None:
    path.write_bytes(b"this is not parquet")


def _foreign(path: Path) -> None:
    import pandas as pd

    pd.DataFrame({"run_id": ["x"], "colour": ["red"]}).to_parquet(path)  # a Parquet file, not a harness part


def _snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


# (id, damage(folder) -> path named, argv(folder, baseline) , exit code, words)
RESULT_CASES = [
    ("report-truncated-runs", lambda d: _truncate(first_part(d, "runs")), lambda d, b: ["report", str(d)], 2,
     ["runs/", ".parquet", "unreadable Parquet part", "delete the file"]),
    ("regress-garbage-evals", lambda d: _garbage(first_part(d, "evals")), lambda d, b: ["regress", str(d), "--baseline", str(b)],
     2, ["evals/", "unreadable Parquet part"]),
    ("record-truncated-steps", lambda d: _truncate(first_part(d, "steps")),
     lambda d, b: ["baseline", "record", str(d), "--to", str(d.parent / "new-baseline"), "--reason", "x"], 2,
     ["steps/", "unreadable Parquet part"]),
    ("report-foreign-schema", lambda d: _foreign(first_part(d, "runs")), lambda d, b: ["report", str(d)], 2,
     ["runs/", "not a harness 'runs' part", "missing contract column"]),
]


@pytest.mark.parametrize("case, damage, argv, code, words", RESULT_CASES, ids=[c[0] for c in RESULT_CASES])
def test_damaged_results_are_named_errors(synthetic, tmp_path, capsys, case, damage, argv, code, words):
    folder = tmp_path / "results"
    shutil.copytree(synthetic, folder)
    baseline = tmp_path / "baseline"
    assert main(["baseline", "record", str(folder), "--to", str(baseline), "--reason", "before"]) == 0
    damage(folder)
    before = _snapshot(folder)
    capsys.readouterr()
    assert main(argv(folder, baseline)) == code
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    for word in words:
        assert word in err, (word, err)
    assert _snapshot(folder) == before  # nothing written, nothing moved by a read-only command


def test_dry_run_names_a_damaged_part_and_changes_nothing(tmp_path, capsys):
    from harness.results.store import ResultStore

    suite = tmp_path / "s.yaml"
    suite.write_text("name: s\nbase: {model: {name: tiny-arith-sft}, data: {train: arith}}\n"
                     "grid: {train.seed: [0, 1]}\nreport: {enabled: false}\n")
    out = tmp_path / "out"
    ResultStore(out).write("runs", "abc", [{"run_id": "abc", "status": "completed"}])
    _truncate(out / "runs" / "abc.parquet")
    before = _snapshot(out)
    assert main(["run", str(suite), "--out", str(out), "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert "damaged: " in printed and "abc.parquet" in printed and "moves it aside" in printed
    assert _snapshot(out) == before


# (id, argv, exit code, words in stderr)
TRAIN_CASES = [
    ("lr-inf", [*FAST, "train.learning_rate=.inf"], 2, ["train.learning_rate", "finite"]),
    ("lr-inf-string", [*FAST, 'train.learning_rate="inf"'], 2, ["train.learning_rate", "finite"]),
    ("beta-nan", [*FAST, "loss.beta=.nan"], 2, ["loss.beta", "finite"]),
    ("unknown-loss", [*FAST, "loss.name=dpoo"], 2, [str(TINY), "loss.name", "unknown loss 'dpoo'", "dpo"]),
    ("all-pairs-dropped", [*FAST, "data.max_response_len=1"], 2, ["data.max_response_len=1", "identical"]),
]


@pytest.mark.parametrize("case, overrides, code, words", TRAIN_CASES, ids=[c[0] for c in TRAIN_CASES])
def test_train_values_that_cannot_be_meant(tmp_path, capsys, case, overrides, code, words):
    out = tmp_path / "out"
    assert main(["train", str(TINY), "--out", str(out), *overrides]) == code  # overrides after --out: accepted
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("error: "), err
    for word in words:
        assert word in err, (word, err)
    assert not (out / "runs").exists()  # nothing ran


@pytest.mark.parametrize("case", ["corrupt-config", "truncated-weights"])
def test_bad_model_files_are_named_before_any_work(tmp_path, capsys, case):
    model = _model_copy(tmp_path)
    if case == "corrupt-config":
        (model / "config.json").write_text('{"hidden_size": 128,')
        named = "config.json: not valid JSON"
    else:
        _truncate(model / "model.safetensors")
        named = "model.safetensors: truncated"
    assert main(["train", str(TINY), f"model.init_from={model}", "--out", str(tmp_path / "out"), *FAST]) == 2
    err = capsys.readouterr().err
    assert named in err and "model.init_from" in err and "Traceback" not in err
    assert not (tmp_path / "out" / "runs").exists()


@pytest.mark.parametrize("case", ["out-is-a-file", "out-not-writable"])
def test_bad_out_is_named_before_any_work(tmp_path, capsys, case):
    if case == "out-is-a-file":
        out = tmp_path / "file"
        out.write_text("x")
        named = "is a file"
    else:
        out = Path("/proc/1/harness-out")  # exists-but-unwritable even for root
        named = "is not writable"
    assert main(["train", str(TINY), "--out", str(out), *FAST]) == 2
    err = capsys.readouterr().err
    assert str(out) in err and named in err and "Traceback" not in err


def test_an_oversized_batch_is_said_and_recorded(tmp_path, capsys):
    import pandas as pd

    assert main(["train", str(TINY), "--out", str(tmp_path), *FAST, "train.batch_size=100000000"]) == 0
    err = capsys.readouterr().err
    assert "train.batch_size=100000000 is more than the 448 training pairs" in err
    row = pd.read_parquet(tmp_path / "runs").iloc[0]
    assert row["batch_size_used"] == 448 and "100000000" in row["config_json"]


def test_an_override_given_twice_is_warned(tmp_path, capsys):
    assert main(["train", str(TINY), "--out", str(tmp_path / "x"), "train.learning_rate=1e-3", *FAST,
                 "train.learning_rate=2e-3", "loss.name=dpoo"]) == 2
    err = capsys.readouterr().err
    assert "train.learning_rate is overridden twice ('1e-3', then '2e-3'); the last one is used" in err


def test_parts_honour_the_umask(tmp_path):
    import os

    from harness.results.store import ResultStore

    old = os.umask(0o022)
    try:
        path = ResultStore(tmp_path).write("runs", "r1", [{"run_id": "r1"}])
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644 and not list(path.parent.glob(".*.tmp"))


def test_run_moves_a_damaged_part_aside_and_redoes_its_run(tmp_path):
    import pandas as pd

    from harness.suite.runner import run_suite
    from harness.suite.spec import suite_from_dict

    suite = suite_from_dict({"name": "damage", "base": {"model": {"name": "tiny-arith-sft"},
                             "data": {"train": "arith", "options": {"n_pairs": 64}, "eval_size": 8},
                             "train": {"steps": 2, "batch_size": 4, "threads": 1}},
                             "grid": {"train.seed": [0, 1]}, "report": {"enabled": False}}, source="damage.yaml")
    out = tmp_path / "out"
    run_suite(suite, out, log=lambda s: None)
    want = pd.read_parquet(out / "steps").sort_values(["run_id", "step", "split"]).reset_index(drop=True)
    victim = sorted((out / "runs").glob("*.parquet"))[0]
    _truncate(victim)
    lines: list[str] = []
    summary = run_suite(suite, out, log=lines.append)
    assert summary.incomplete == [] and any("unreadable Parquet part" in line and "moving run" in line for line in lines)
    kept = list((out / "runs" / ".damaged").glob(f"{victim.stem}.*.parquet"))
    assert len(kept) == 1  # moved aside, never deleted
    assert len(list((out / "runs").glob("*.parquet"))) == 2  # the run was redone
    got = pd.read_parquet(out / "steps").sort_values(["run_id", "step", "split"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(want.drop(columns=["elapsed_s", "step_s"]), got.drop(columns=["elapsed_s", "step_s"]))


def test_a_suite_with_a_corrupt_model_dir_fails_before_any_work(tmp_path, capsys):
    model = _model_copy(tmp_path)
    (model / "config.json").write_text("{")
    suite = tmp_path / "s.yaml"
    suite.write_text(f"name: s\nbase: {{model: {{name: {model}}}, data: {{train: arith}}}}\nreport: {{enabled: false}}\n")
    assert main(["run", str(suite), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert str(suite) in err and "model.name" in err and "config.json: not valid JSON" in err
    assert not (tmp_path / "out" / "runs").exists()
