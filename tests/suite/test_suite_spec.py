"""Suite specs and grid expansion: validation errors name the key, run ids are stable content
hashes, and every shipped suite expands (and passes `harness run --dry-run`)."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harness.errors import ConfigError
from harness.suite.grid import SFT_PREFIX, expand
from harness.suite.spec import load_suite, suite_from_dict

ROOT = Path(__file__).resolve().parents[2]
# suites/examples/ holds single-run configs (harness train), not suites
SHIPPED = sorted([*(ROOT / "suites").glob("*.yaml"), *(ROOT / "suites" / "gpu").glob("*.yaml")])

BASE = {
    "name": "t",
    "base": {"model": {"name": "tiny"}, "data": {"train": "arith"}, "train": {"steps": 5}},
    "grid": {"loss.name": ["dpo", "minor_dpo"], "loss.beta": [0.1, 0.5], "train.seed": [0, 1]},
}


def _suite(**changes):
    data = copy.deepcopy(BASE)
    data.update(changes)
    return suite_from_dict(data, source="t.yaml")


def test_grid_is_the_cartesian_product_with_distinct_stable_ids():
    plan = expand(_suite())
    assert len(plan.runs) == 8 and not plan.sft
    ids = [r.run_id for r in plan.runs]
    assert len(set(ids)) == 8
    assert ids == [r.run_id for r in expand(_suite()).runs]  # same suite, same ids
    assert {(r.config.loss.name, r.config.loss.beta, r.config.train.seed) for r in plan.runs} == {
        (n, b, s) for n in ("dpo", "minor_dpo") for b in (0.1, 0.5) for s in (0, 1)}
    assert plan.axes == ["name", "loss.name", "loss.beta", "train.seed"]


def test_ids_ignore_key_order_and_spelling_of_axes():
    data = copy.deepcopy(BASE)
    reordered = {
        "grid": {"train": {"seed": [0, 1]}, "loss": {"beta": [0.1, 0.5], "name": ["dpo", "minor_dpo"]}},
        "base": {"train": {"steps": 5}, "data": {"train": "arith"}, "model": {"name": "tiny"}},
        "name": "t",
    }
    a = {r.run_id for r in expand(suite_from_dict(data)).runs}
    b = {r.run_id for r in expand(suite_from_dict(reordered)).runs}
    assert a == b


def test_any_change_to_a_run_changes_its_id():
    ids = {r.run_id for r in expand(_suite()).runs}
    changed = copy.deepcopy(BASE)
    changed["base"]["train"]["steps"] = 6
    assert ids.isdisjoint({r.run_id for r in expand(suite_from_dict(changed)).runs})


def test_floats_written_as_yaml_strings_hash_like_numbers():
    a = _suite(grid={"train.learning_rate": [1e-3]})
    b = _suite(grid={"train.learning_rate": ["1e-3"]})  # YAML 1.1 reads 1e-3 as a string
    assert expand(a).runs[0].run_id == expand(b).runs[0].run_id
    assert expand(b).runs[0].config.train.learning_rate == 1e-3


def test_variants_pin_axes_and_dedupe():
    suite = _suite(variants=[{"name": "dpo", "set": {"loss.name": "dpo"}},
                             {"name": "sft", "set": {"loss": {"name": "sft", "beta": 0.1}}}],
                   grid={"loss.beta": [0.1, 0.5], "train.seed": [0, 1]})
    runs = expand(suite).runs
    assert [r.config.name for r in runs].count("dpo") == 4
    sft = [r for r in runs if r.config.name == "sft"]
    assert len(sft) == 2 and {r.config.loss.beta for r in sft} == {0.1}  # beta pinned, one run per seed


def test_sft_stage_is_shared_and_linked_symbolically():
    suite = _suite(sft={"train": {"steps": 50}})
    plan = expand(suite)
    assert len(plan.sft) == 1
    sft = plan.sft[0]
    assert sft.config.loss.name == "sft" and sft.config.train.steps == 50 and sft.config.model.init_from is None
    assert {r.config.model.init_from for r in plan.runs} == {SFT_PREFIX + sft.run_id}
    # grid axes on train/loss do not touch the SFT stage; a model axis makes one stage per model
    two = expand(_suite(sft={}, grid={"model.name": ["tiny", "smollm2-135m-instruct"], "train.seed": [0, 1]}))
    assert len(two.sft) == 2 and len(two.runs) == 4
    assert expand(_suite(sft={"train": {"steps": 50}}, grid={"loss.beta": [0.3]})).sft[0].run_id == sft.run_id


def test_variant_can_opt_out_of_sft():
    suite = _suite(sft={}, variants=[{"name": "dpo", "set": {"loss.name": "dpo"}},
                                     {"name": "raw", "set": {"loss.name": "dpo"}, "use_sft": False}])
    plan = expand(suite)
    assert {r.config.model.init_from is None for r in plan.runs if r.config.name == "raw"} == {True}


@pytest.mark.parametrize("section, value, key", [
    ("base", {"model": {"name": "tiny"}, "data": {"train": "arith"}, "train": {"setps": 5}}, "base.train.setps"),
    ("base", {"model": {"name": "tiny"}, "data": {"train": "arith"}, "loss": {"beta": -1}}, "base.loss.beta"),
    ("grid", {"loss.bta": [0.1]}, "grid.loss.bta"),
    ("grid", {"loss.beta": [0.1, "high"]}, "grid.loss.beta[1]"),
    ("grid", {"train.steps": []}, "grid.train.steps"),
    ("grid", {"train.steps": 5}, "grid.train.steps"),
    ("grid", {"model.name.x": ["a"]}, "grid.model.name.x"),
    ("sft", {"train": {"learning_rat": 1.0}}, "sft.train.learning_rat"),
    ("variants", [{"name": "a", "set": {"loss.nme": "dpo"}}], "variants[0].set.loss.nme"),
    ("variants", [{"name": "a", "grid": {"train.seed": [0, -0.5]}}], "variants[0].grid.train.seed[1]"),
    ("variants", [{"name": "a"}, {"name": "a"}], "variants"),
    ("report", {"titel": "x"}, "report.titel"),
    ("eval", {"generation": {"n_prompt": 8}}, "eval.generation.n_prompt"),
    ("eval", {"generation": {"backend": "vllmm"}}, "eval.generation.backend"),
    ("colour", "red", "colour"),
])
def test_config_errors_name_the_file_and_key(section, value, key):
    with pytest.raises(ConfigError) as err:
        _suite(**{section: value})
    assert str(err.value).startswith(f"t.yaml: {key}: "), str(err.value)


def test_free_form_mappings_accept_any_subkey():
    plan = expand(_suite(grid={"data.options.n_pairs": [100, 200], "loss.params.lambda_": [5.0]}))
    assert {r.config.data.options["n_pairs"] for r in plan.runs} == {100, 200}


def test_missing_required_run_key_names_the_run(tmp_path):
    with pytest.raises(ConfigError, match=r"data: required key is missing"):
        expand(_suite(base={"model": {"name": "tiny"}}))


def test_command_line_overrides(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(BASE))
    suite = load_suite(path, ["train.seed=7", "grid.loss.beta=[0.3]", "train.steps=9"])
    runs = expand(suite).runs
    assert {(r.config.train.seed, r.config.loss.beta, r.config.train.steps) for r in runs} == {(7, 0.3, 9)}
    assert len(runs) == 2  # the seed axis is pinned by the override
    with pytest.raises(ConfigError, match=r"grid\.loss\.bta"):
        load_suite(path, ["grid.loss.bta=[0.3]"])
    with pytest.raises(ConfigError, match=r"base\.train\.stepz"):
        load_suite(path, ["train.stepz=3"])


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_shipped_suites_expand_with_registered_names(path):
    from harness.losses import LOSSES
    from harness.models import MODELS

    plan = expand(load_suite(path))
    assert plan.runs
    for r in plan.all:
        assert r.config.loss.name in LOSSES
        assert r.config.model.name in MODELS


def _measures_precision(path) -> bool:
    """A suite asking for `model.dtype: fastest` measures this CPU's bf16 speed when planned (torch)."""
    return "dtype: fastest" in path.read_text()


@pytest.mark.parametrize("measured", [False, True], ids=["torch-free", "fastest"])
def test_shipped_suites_pass_dry_run_without_torch(tmp_path, measured):
    """The CLI path end to end, in a fresh interpreter: prints every run; imports no torch unless
    the suite's precision is decided by measurement (`dtype: fastest`)."""
    paths = [p for p in SHIPPED if _measures_precision(p) == measured]
    if not paths:
        pytest.skip("no shipped suite of this kind")
    code = ("import sys; from harness.cli import main\n"
            "rc = [main(['run', p, '--dry-run', '--out', d]) for p, d in zip(sys.argv[1::2], sys.argv[2::2])]\n"
            + ("" if measured else "assert 'torch' not in sys.modules, 'dry run imported torch'\n")
            + "sys.exit(max(rc))")
    args = [a for i, p in enumerate(paths) for a in (str(p), str(tmp_path / str(i)))]
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    for path in paths:
        n = len(expand(load_suite(path)).runs)
        assert f"{n} runs" in proc.stdout
