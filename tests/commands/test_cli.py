"""The `harness` command line: cheap import, --help, `ls losses`, and config rejections through
`harness train` (one line on stderr naming file and key, exit code 2, no traceback).

Most checks call `harness.cli.main` in-process (a subprocess per case would cost a Python start
each); a few run the real console entry in a subprocess to prove the whole path end to end.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import harness
from harness.cli import COMMANDS, main
from harness.commands import ls as ls_command
from harness.losses import LOSSES

HAS_TRAIN = (Path(harness.__file__).parent / "commands" / "train.py").is_file()
needs_train = pytest.mark.skipif(not HAS_TRAIN, reason="harness/commands/train.py not written yet")

VALID = "model: {name: tiny}\ndata: {train: arith, options: {n_pairs: 16}}\ntrain: {steps: 1, batch_size: 2}\n"


def run_module(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True, timeout=timeout)


def python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


# ---------------------------------------------------------------- import cost and --help
HEAVY = ("torch", "vllm", "lm_eval", "transformers", "trl", "peft", "sentence_transformers", "datasets", "ray",
         "wandb", "mlflow", "tensorboardX", "polars")


@pytest.mark.parametrize("module", ["harness", "harness.cli", "harness.config", "harness.registry",
                                    "harness.errors", "harness.results.store", "harness.trainer.config"])
def test_import_is_light(module):
    r = python(f"import sys, {module}; print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]", f"import {module} pulled in {r.stdout.strip()}"


def test_the_suite_runner_imports_ray_only_for_the_ray_executor():
    r = python("import sys, harness.suite.runner, harness.suite.spec, harness.suite.executors\n"
               "from harness.suite.executors import EXECUTORS\n"
               "EXECUTORS.get('ray')\n"  # the class is resolved; Ray itself is imported when it runs
               "print('ray' in sys.modules)")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "False"


def test_help_works_and_imports_no_heavy_library():
    """`harness --help` builds every subcommand's parser: command modules must import cheaply."""
    r = python("import sys, contextlib, io\n"
               "from harness.cli import main\n"
               "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
               "    try: main(['--help'])\n"
               "    except SystemExit as e: assert e.code == 0, e.code\n"
               "assert 'usage: harness' in out.getvalue()\n"
               f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]", f"harness --help imported {r.stdout.strip()}"


def test_python_dash_m_help():
    r = run_module("--help")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("usage: harness") and "ls" in r.stdout and "train" in r.stdout


def test_no_command_prints_help(capsys):
    assert main([]) == 0
    assert "usage: harness" in capsys.readouterr().out


def test_unknown_command_exits_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["trian"])
    assert e.value.code == 2 and "invalid choice: 'trian'" in capsys.readouterr().err


def test_every_command_module_follows_the_protocol():
    """Each `COMMANDS` entry that exists has `add_arguments(parser)` and `run(args)` (and a docstring)."""
    import importlib

    for name, (module, help_) in COMMANDS.items():
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as e:
            assert e.name == module, f"{module} fails to import: {e}"
            continue
        assert callable(mod.add_arguments) and callable(mod.run), name
        assert mod.__doc__ and help_, name


# ---------------------------------------------------------------- ls
def test_ls_losses_lists_every_loss_with_its_paper(capsys):
    assert main(["ls", "losses"]) == 0
    out = capsys.readouterr().out
    for name, info in LOSSES.items():
        assert any(line.startswith(f"{name} ") for line in out.splitlines()), name
        assert info.paper in out and info.formula in out


def test_ls_of_a_registry_missing_from_the_build_is_a_user_error(capsys, monkeypatch):
    monkeypatch.setitem(ls_command.LISTABLE, "gizmos", "harness.no_such_module:GIZMOS")
    assert main(["ls", "gizmos"]) == 2
    err = capsys.readouterr().err
    assert err == "error: no gizmos in this build (harness.no_such_module is not installed)\n"


# ---------------------------------------------------------------- train: config rejections
def train_error(capsys, tmp_path, cfg: Path, *overrides: str) -> str:
    rc = main(["train", str(cfg), *overrides, "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2, f"exit {rc}, stderr: {err}"
    assert err.startswith("error: ") and err.count("\n") == 1, err  # one line
    assert "Traceback" not in err
    return err[len("error: "):].rstrip("\n")


def cfg_file(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "x.yaml"
    p.write_text(text)
    return p


FILE_CASES = [
    ("unknown-key", "loss: {bta: 0.1}", "loss.bta: unknown key (did you mean 'beta'?)"),
    ("str-for-float", "loss: {beta: abc}", "loss.beta: expected a number, got 'abc'"),
    ("float-for-int", "train: {steps: 1.5}", "train.steps: expected an integer, got 1.5"),
    ("bool-for-int", "train: {steps: true}", "train.steps: expected an integer, got True"),
    ("int-for-bool", "train: {save_final: 1}", "train.save_final: expected true/false, got 1"),
    ("beta<=0", "loss: {beta: -0.1}", "loss.beta: must be > 0, got -0.1"),
    ("lr<=0", "train: {learning_rate: 0}", "train.learning_rate: must be > 0, got 0.0"),
    ("in_range", "model: {name: tiny, lora: {dropout: 1}}", "model.lora.dropout: must be in [0, 1), got 1.0"),
    ("literal", "train: {schedule: exp}", "train.schedule: must be one of 'constant', 'linear', 'cosine', got 'exp'"),
    ("warmup>steps", "train: {steps: 2, warmup_steps: 3}", "train.warmup_steps: must be <= train.steps (2), got 3"),
]


@needs_train
@pytest.mark.parametrize("case,text,expected", FILE_CASES, ids=[c[0] for c in FILE_CASES])
def test_train_rejects_bad_config_values(capsys, tmp_path, case, text, expected):
    top = {line.split(":")[0] for line in text.splitlines()}
    rest = "".join(line + "\n" for line in VALID.splitlines() if line.split(":")[0] not in top)
    p = cfg_file(tmp_path, text + "\n" + rest)
    assert train_error(capsys, tmp_path, p) == f"{p}: {expected}"


@needs_train
def test_train_rejects_missing_required_key(capsys, tmp_path):
    p = cfg_file(tmp_path, "model: {name: tiny}\n")
    assert train_error(capsys, tmp_path, p) == f"{p}: data: required key is missing"


@needs_train
@pytest.mark.parametrize("override,expected", [
    ("loss.beta=-0.5", "loss.beta: must be > 0, got -0.5"),
    ("train.steps=abc", "train.steps: expected an integer, got 'abc'"),
    ("train.steps.x=1", "train.steps: is not a mapping, cannot set train.steps.x"),
    ("loss.bta=1", "loss.bta: unknown key (did you mean 'beta'?)"),
    ("nonsense", "override 'nonsense': expected key=value"),
])
def test_train_rejects_bad_overrides(capsys, tmp_path, override, expected):
    p = cfg_file(tmp_path, VALID)
    msg = train_error(capsys, tmp_path, p, override)
    assert msg.startswith(str(p)) and msg.endswith(f": {expected}"), msg


@needs_train
@pytest.mark.parametrize("text,expected", [
    ("model: {name: tiny\n", "invalid YAML: line 2"),
    ("- a\n- b\n", "top level must be a mapping, got list"),
    ("name: !!python/object/apply:os.system ['true']\n" + VALID, "invalid YAML: line 1"),
])
def test_train_rejects_bad_files(capsys, tmp_path, text, expected):
    p = cfg_file(tmp_path, text)
    assert train_error(capsys, tmp_path, p).startswith(f"{p}: {expected}")


@needs_train
def test_train_rejects_missing_file(capsys, tmp_path):
    p = tmp_path / "missing.yaml"
    assert train_error(capsys, tmp_path, p) == f"{p}: no such config file"


@needs_train
def test_train_validates_config_before_loading_the_model(capsys, tmp_path):
    """The model path does not exist: if anything tried to load it first, the error would be about
    the model, not the bad beta."""
    p = cfg_file(tmp_path, "model: {name: /nonexistent/model/dir}\ndata: {train: arith}\nloss: {beta: 0}\n")
    assert train_error(capsys, tmp_path, p) == f"{p}: loss.beta: must be > 0, got 0.0"


@needs_train
def test_train_unknown_loss_name_is_a_user_error(capsys, tmp_path):
    p = cfg_file(tmp_path, VALID + "loss: {name: minordpo}\n")
    msg = train_error(capsys, tmp_path, p)
    assert "did you mean 'minor_dpo'?" in msg


@needs_train
def test_train_unknown_loss_parameter_is_a_user_error(capsys, tmp_path):
    p = cfg_file(tmp_path, VALID + "loss: {name: dpop, params: {lam: 1}}\n")
    msg = train_error(capsys, tmp_path, p)
    assert "lam" in msg and "lambda_" in msg


@needs_train
def test_train_rejection_end_to_end_in_a_subprocess(tmp_path):
    p = cfg_file(tmp_path, VALID)
    r = run_module("train", str(p), "loss.beta=-0.1", "--out", str(tmp_path / "out"))
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("error: ") and "Traceback" not in r.stderr
    assert f"{p}" in r.stderr and "loss.beta: must be > 0, got -0.1" in r.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
