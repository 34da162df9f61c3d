"""Bad input, second round (issue 21): names that become paths, export and baseline targets, parts
written by a newer schema, values that cannot be meant, a suite whose model needs custom code. Each
case: exit 2, one line naming what it must, no traceback, nothing written or changed under tmp.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from builders import evil_model as _evil_model
from builders import first_part
from builders import model_copy as _model_copy

from harness.cli import main

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "suites" / "examples" / "train-tiny.yaml"
FAST = ["train.steps=1", "train.warmup_steps=0", "train.eval_every=0", "train.checkpoint_every=0"]


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
    return first_part(folder, "evals").stem


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
    victim = first_part(folder, table)
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
    part = first_part(folder, "runs")
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
