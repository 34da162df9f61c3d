"""Bad input, one row per case: the command, its exit code, the words its one-line message must
name, no traceback, and nothing damaged (every result file byte-identical afterwards).

The results folder is test_report's synthetic one (real store, real suite expansion); each case
gets its own copy, damaged the way the case says, so cases never see each other's damage.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from builders import make_results

from harness.cli import main

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "suites" / "examples" / "train-tiny.yaml"
FAST = ["train.steps=1", "train.warmup_steps=0", "train.eval_every=0", "train.checkpoint_every=0"]


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    return make_results(tmp_path_factory.mktemp("bad") / "synthetic")


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _garbage(path: Path) -> None:
    path.write_bytes(b"this is not parquet")


def _foreign(path: Path) -> None:
    import pandas as pd

    pd.DataFrame({"run_id": ["x"], "colour": ["red"]}).to_parquet(path)  # a Parquet file, not a harness part


def _first(folder: Path, table: str) -> Path:
    return sorted((folder / table).glob("*.parquet"))[0]


def _snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


# (id, damage(folder) -> path named, argv(folder, baseline) , exit code, words)
RESULT_CASES = [
    ("report-truncated-runs", lambda d: _truncate(_first(d, "runs")), lambda d, b: ["report", str(d)], 2,
     ["runs/", ".parquet", "unreadable Parquet part", "delete the file"]),
    ("regress-garbage-evals", lambda d: _garbage(_first(d, "evals")), lambda d, b: ["regress", str(d), "--baseline", str(b)],
     2, ["evals/", "unreadable Parquet part"]),
    ("record-truncated-steps", lambda d: _truncate(_first(d, "steps")),
     lambda d, b: ["baseline", "record", str(d), "--to", str(d.parent / "new-baseline"), "--reason", "x"], 2,
     ["steps/", "unreadable Parquet part"]),
    ("report-foreign-schema", lambda d: _foreign(_first(d, "runs")), lambda d, b: ["report", str(d)], 2,
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


def _model_copy(tmp_path: Path) -> Path:
    from harness.models.pinned import pinned_dir

    model = tmp_path / "model"
    shutil.copytree(pinned_dir("tiny-arith-sft"), model)
    return model


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


# ---- issue 21: names that become paths, export targets, newer schemas, values that cannot be meant ----

SUITE_YAML = "name: s\nbase: {model: {name: tiny-arith-sft}, data: {train: arith}}\nreport: {enabled: false}\n"


def _tree(root: Path) -> dict[str, str]:
    """Every file and folder under root (folders too: a new empty folder is a write)."""
    return {str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir")
            for p in sorted(root.rglob("*"))}


def _newer(path: Path) -> None:
    """Rewrite a part as a future harness would: schema_version 99."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    t = pq.read_table(path)
    i = t.column_names.index("schema_version")
    pq.write_table(t.set_column(i, "schema_version", pa.array([99] * len(t), t.schema.field(i).type)), path)


def _rid(folder: Path) -> str:
    return _first(folder, "evals").stem


def _pinned() -> Path:
    from harness.models.pinned import pinned_dir

    return pinned_dir("tiny-arith-sft")


# (id, table made newer, argv(results, baseline, synthetic, tmp))
NEWER_CASES = [
    ("report", "steps", lambda d, b, s, t: ["report", str(d)]),
    ("regress", "evals", lambda d, b, s, t: ["regress", str(d), "--baseline", str(b)]),
    ("baseline-record", "scores", lambda d, b, s, t: ["baseline", "record", str(d), "--to", str(t / "new"),
                                                      "--reason", "x"]),
    ("run-resume", "lmeval", lambda d, b, s, t: ["run", str(t / "s.yaml"), "--out", str(d)]),
    ("run-dry-run", "steps", lambda d, b, s, t: ["run", str(t / "s.yaml"), "--out", str(d), "--dry-run"]),
    ("report-two-folders", "steps", lambda d, b, s, t: ["report", str(s), str(d), "--out", str(t / "both")]),
    ("export", "evals", lambda d, b, s, t: ["export", str(d), "--to", "hf-dataset", str(t / "exported")]),
    ("eval-results", "steps", lambda d, b, s, t: ["eval", _rid(d), "--reference", _rid(d), "--results", str(d),
                                                  "--backend", "hf", "--prompts", "arith", "--out", str(t / "ev")]),
    ("eval-out", "evals", lambda d, b, s, t: ["eval", f"x={_pinned()}", "--reference", "tiny-arith-sft",
                                              "--backend", "hf", "--prompts", "arith", "--out", str(d)]),
]


@pytest.mark.parametrize("case, table, argv", [c for c in NEWER_CASES], ids=[c[0] for c in NEWER_CASES])
def test_a_part_of_a_newer_schema_is_refused_by_every_reader(synthetic, tmp_path, capsys, case, table, argv):
    from harness.results.schema import SCHEMA_VERSION
    from harness.results.store import ResultStore

    folder = tmp_path / "results"
    shutil.copytree(synthetic, folder)
    baseline = tmp_path / "baseline"
    assert main(["baseline", "record", str(folder), "--to", str(baseline), "--reason", "before"]) == 0
    if table == "lmeval":  # the synthetic folder has none: one part, as an lm-eval run writes it
        ResultStore(folder).write("lmeval", _rid(folder), [{"run_id": _rid(folder), "task": "t", "metric": "acc",
                                                            "value": 0.5, "stderr": 0.1, "n": 10}])
    victim = _first(folder, table)
    _newer(victim)
    (tmp_path / "s.yaml").write_text(SUITE_YAML)
    before = _tree(tmp_path)
    capsys.readouterr()
    assert main(argv(folder, baseline, synthetic, tmp_path)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    for word in (str(victim), "results schema 99", f"({SCHEMA_VERSION})", "upgrade harness"):
        assert word in err, (word, err)
    assert _tree(tmp_path) == before  # nothing written anywhere: no lock, no logs, no baseline, no export


def _results(t: Path, s: Path) -> Path:
    """A copy of the synthetic folder with what export needs to succeed: generations, a checkpoint."""
    from harness.results.store import ResultStore

    folder = t / "results"
    if not folder.exists():
        shutil.copytree(s, folder)
        rid = _rid(folder)
        ResultStore(folder).write("generations", rid, [{
            "run_id": rid, "prompt_id": "p0", "sample": 0, "prompt": "q", "completion": "a", "completion_tokens": 1,
            "finish_reason": "stop", "backend": "hf"}])
        (folder / "checkpoints" / rid / "final").mkdir(parents=True)
    return folder


def _mine(t: Path) -> Path:
    (t / "mine").mkdir()
    (t / "mine" / "README.md").write_text("my own notes\n")
    return t / "mine"


def _a_file(t: Path) -> Path:
    (t / "f").write_text("x")
    return t / "f"


def _dangling(t: Path) -> Path:
    (t / "link").symlink_to(t / "nowhere")
    return t / "link"


def _suite(t: Path) -> str:
    (t / "s.yaml").write_text(SUITE_YAML)
    return str(t / "s.yaml")


def _crafted_run_id(t: Path, s: Path) -> str:
    """A runs row whose run_id is a path: a copied or hand-edited folder (the file name is fine)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = _results(t, s)
    part = _first(folder, "runs")
    (folder / "evil" / "final").mkdir(parents=True)  # checkpoints/../evil/final: where its weights would be
    table = pq.read_table(part)
    for name, value in (("run_id", "../evil"), ("status", "completed")):
        i = table.column_names.index(name)
        table = table.set_column(i, name, pa.array([value] * len(table), pa.string()))
    pq.write_table(table, part)
    return str(folder)


def _evil_suite(t: Path, trust: bool = False) -> str:
    model, _ = _evil_model(t)  # its MARK, were the code run, would be a new file under t
    (t / "s.yaml").write_text(f"name: s\nbase: {{model: {{name: {model}, trust_remote_code: {str(trust).lower()}}}, "
                              "data: {train: arith}}\n" + ("eval: {generation: {backend: hf}}\n" if trust else
                                                            "report: {enabled: false}\n"))
    return str(t / "s.yaml")


# (id, argv(tmp, synthetic) -> list (makes what the case needs), words the one line must name).
# Every case: exit 2, one line, no traceback, nothing written or changed anywhere under tmp.
BAD_CASES = [
    ("train-run-id-escapes", lambda t, s: ["train", str(TINY), "--run-id", "../../escaped",
                                           "--out", str(t / "runs" / "x" / "out"), *FAST],
     ["--run-id", "../../escaped", "not usable as a file name"]),
    ("train-suite-name-escapes", lambda t, s: ["train", str(TINY), "--suite", "../../up", "--out", str(t / "o"), *FAST],
     ["--suite", "../../up"]),
    ("export-into-a-non-empty-folder", lambda t, s: ["export", str(_results(t, s)), "--to", "hf-dataset", str(_mine(t))],
     ["--to", "mine", "not empty", "--force"]),
    ("export-inside-the-results-folder", lambda t, s: ["export", str(_results(t, s)), "--to", "hf-dataset",
                                                       str(t / "results" / "exported")],
     ["results/exported", "inside the results folder"]),
    ("export-into-the-results-folder-forced", lambda t, s: ["export", str(_results(t, s)), "--to", "hf-dataset",
                                                            str(t / "results"), "--force"],
     ["inside the results folder"]),
    ("export-inside-another-results-folder", lambda t, s: ["export", str(s), "--to", "hf-dataset",
                                                           str(_results(t, s) / "runs"), "--force"],
     ["results/runs", "inside the results folder"]),
    ("export-to-a-file", lambda t, s: ["export", str(_results(t, s)), "--to", "hf-dataset", str(_a_file(t))],
     ["--to", "is a file"]),
    ("model-cards-to-a-file", lambda t, s: ["export", str(_results(t, s)), "--to", "model-cards", str(_a_file(t))],
     ["--to", "is a file"]),
    ("model-cards-crafted-run-id", lambda t, s: ["export", _crafted_run_id(t, s), "--to", "model-cards", str(t / "c")],
     ["runs.run_id", "../evil", "not usable as a file name"]),
    ("baseline-to-a-file", lambda t, s: ["baseline", "record", str(_results(t, s)), "--to", str(_a_file(t)),
                                         "--reason", "x"],
     ["--to", "is a file"]),
    ("train-out-dangling-link", lambda t, s: ["train", str(TINY), "--out", str(_dangling(t)), *FAST],
     ["--out", "link", "symbolic link", "does not exist"]),
    ("run-out-dangling-link", lambda t, s: ["run", _suite(t), "--out", str(_dangling(t))],
     ["--out", "link", "symbolic link", "does not exist"]),
    ("run-pool-workers-negative", lambda t, s: ["run", _suite(t), "--executor", "pool", "--workers", "-1",
                                                "--out", str(t / "o")],
     ["--workers -1", ">= 0"]),
    ("run-local-workers-negative", lambda t, s: ["run", _suite(t), "--workers", "-1", "--out", str(t / "o")],
     ["--workers -1", ">= 0"]),
    ("train-nproc-0", lambda t, s: ["train", str(TINY), "--nproc", "0", "--out", str(t / "o"), *FAST],
     ["--nproc 0", "at least 1"]),
    ("report-by-unknown-key-one-folder", lambda t, s: ["report", str(_results(t, s)), "--by", "nosuchkey"],
     ["--by nosuchkey", "no run has ['nosuchkey']"]),
    ("run-model-needs-custom-code", lambda t, s: ["run", _evil_suite(t), "--out", str(t / "o")],
     ["s.yaml", "model.name", "needs custom code", "evil.EvilModel", "model.trust_remote_code: true"]),
    ("run-trusted-custom-code-but-evaluated", lambda t, s: ["run", _evil_suite(t, trust=True), "--out", str(t / "o")],
     ["s.yaml", "model.name", "needs custom code", "harness eval never runs"]),
    ("eval-target-id-not-a-name", lambda t, s: ["eval", f"a b={_model_copy(t)}", "--reference", "tiny-arith-sft",
                                                "--backend", "hf", "--prompts", "arith", "--out", str(t / "ev")],
     ["run id", "'a b'", "not usable as a file name"]),
]


@pytest.mark.parametrize("case, argv, words", BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_bad_input_is_one_line_before_any_work(synthetic, tmp_path, capsys, case, argv, words):
    args = argv(tmp_path, synthetic)
    before = _tree(tmp_path)
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    for word in words:
        assert word in err, (word, err)
    assert _tree(tmp_path) == before  # nothing written outside --out (nor inside it), nothing changed


def test_export_force_writes_into_a_non_empty_folder_outside_results(synthetic, tmp_path, capsys):
    folder = _results(tmp_path, synthetic)
    before = _tree(folder)
    mine = _mine(tmp_path)
    assert main(["export", str(folder), "--to", "hf-dataset", str(mine), "--force"]) == 0
    assert "per-sample results" in (mine / "README.md").read_text()  # replaced, as --force said
    assert _tree(folder) == before


def _evil_model(tmp_path: Path) -> tuple[Path, Path]:
    """A model folder whose config.json `auto_map` points at a Python file that, once imported,
    creates MARK: the proof that a model folder's code ran."""
    import json

    model = _model_copy(tmp_path)
    mark = tmp_path / "MARK"
    config = json.loads((model / "config.json").read_text())
    config.update(model_type="harness_evil", auto_map={"AutoConfig": "evil.EvilConfig",
                                                       "AutoModelForCausalLM": "evil.EvilModel"})
    (model / "config.json").write_text(json.dumps(config))
    (model / "evil.py").write_text(
        f"import pathlib\npathlib.Path({str(mark)!r}).write_text('ran')\n"
        "from transformers import LlamaConfig, LlamaForCausalLM\n\n\n"
        "class EvilConfig(LlamaConfig):\n    model_type = 'harness_evil'\n\n\n"
        "class EvilModel(LlamaForCausalLM):\n    config_class = EvilConfig\n")
    return model, mark


def _in_a_terminal(argv: list[str], env: dict, answer: bytes = b"y\n", timeout: float = 240) -> tuple[int, str]:
    """Run `python -m harness.cli ARGV` with a pseudo-terminal as stdin/stdout/stderr (where
    transformers would ask "Do you wish to run the custom code? [y/N]"), answering `y`."""
    import os
    import select
    import subprocess
    import sys
    import time

    master, slave = os.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", *argv], stdin=slave, stdout=slave, stderr=slave,
                            env=env, close_fds=True)
    os.close(slave)
    out, deadline = b"", time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                out += chunk
                if b"[y/N]" in chunk:
                    os.write(master, answer)
            elif proc.poll() is not None:
                break
        return proc.wait(timeout=30), out.decode(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)


@pytest.mark.parametrize("command", ["eval", "train"])
def test_a_model_needing_custom_code_is_refused_and_never_runs(tmp_path, command):
    import os
    import subprocess
    import sys

    model, mark = _evil_model(tmp_path)
    env = {**os.environ, "HF_MODULES_CACHE": str(tmp_path / "modules")}
    argv = (["eval", str(model), "--reference", "tiny-arith-sft", "--backend", "hf", "--prompts", "arith",
             "--set", "generation.n_prompts=2", "--out", str(tmp_path / "out")]
            if command == "eval" else ["train", str(TINY), f"model.init_from={model}", "--out", str(tmp_path / "out"), *FAST])
    code, out = _in_a_terminal(argv, env)
    assert code == 2, out
    assert "needs custom code" in out and str(model) in out and "Traceback" not in out, out
    assert ("model.trust_remote_code: true" if command == "train" else "never runs") in out, out
    assert not mark.exists()  # the folder's Python file was never imported
    assert not (tmp_path / "out" / "runs").exists()
    # the control: the same folder, trusted, does run its file (so the assertion above can fail)
    probe = "from transformers import AutoConfig; import sys; AutoConfig.from_pretrained(sys.argv[1], trust_remote_code=True)"
    subprocess.run([sys.executable, "-c", probe, str(model)], env=env, check=True, capture_output=True)
    assert mark.read_text() == "ran"
