"""YAML → frozen config dataclasses: every rejection names the file and the dotted key.

Targets: the real `RunConfig` (what `harness train` loads) and small ad-hoc dataclasses for the
type forms `RunConfig` does not use (tuple, Union of two types, Any, closed ranges).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml

from harness.config import (
    apply_overrides,
    at_least_one,
    from_dict,
    in_range,
    load_config,
    load_yaml,
    nonnegative,
    positive,
    to_dict,
)
from harness.errors import ConfigError, HarnessError
from harness.trainer.config import LoraConfig, RunConfig

F = dataclasses.field

MINIMAL = "model: {name: tiny}\ndata: {train: arith}\n"
FULL = """\
name: dpo-tiny
model:
  name: tiny
  dtype: float32
  lora: {r: 8, alpha: 16, target_modules: [q_proj, v_proj]}
  tiny: {hidden_size: 64}
data:
  train: arith
  options: {n_pairs: 200, seed: 0}
  max_response_len: 32
loss: {name: minor_dpo, beta: 0.1, params: {}}
train: {steps: 30, batch_size: 4, learning_rate: 2.0e-4, warmup_steps: 3, schedule: cosine, max_grad_norm: null}
"""


# ---------------------------------------------------------------- ad-hoc config classes
@dataclasses.dataclass(frozen=True)
class Inner:
    k: int = F(default=1, metadata=at_least_one)
    tags: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Outer:
    x: float  # required
    mode: Literal["a", "b"] = "a"
    inner: Inner | None = None
    ids: list[int] = F(default_factory=list)
    weights: dict[str, float] = F(default_factory=dict)
    frac: float = F(default=0.5, metadata=in_range(0, 1))
    dropout: float = F(default=0.0, metadata=in_range(0, 1, hi_open=True))
    either: int | str = 0
    anything: Any = None
    flag: bool = False
    count: int = F(default=0, metadata=nonnegative)
    rate: float = F(default=1.0, metadata=positive)


def write(tmp_path: Path, text: str, name: str = "x.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def with_minimal(text: str) -> str:
    """`text` plus the top-level sections of MINIMAL it does not define itself."""
    keys = {line.split(":")[0] for line in text.splitlines() if line and not line.startswith(" ")}
    return text + "\n" + "".join(line + "\n" for line in MINIMAL.splitlines() if line.split(":")[0] not in keys)


def load_error(cls, path, overrides=()) -> str:
    with pytest.raises(ConfigError) as e:
        load_config(cls, path, overrides)
    assert isinstance(e.value, HarnessError)  # the CLI turns these into exit code 2
    msg = str(e.value)
    assert "\n" not in msg, "the CLI prints errors on one line"
    return msg


# ---------------------------------------------------------------- happy path
def test_full_run_config_loads_typed_and_frozen(tmp_path):
    cfg = load_config(RunConfig, write(tmp_path, FULL))
    assert cfg.loss.name == "minor_dpo" and cfg.loss.beta == 0.1
    assert cfg.model.lora == LoraConfig(r=8, alpha=16.0, target_modules=["q_proj", "v_proj"])
    assert isinstance(cfg.model.lora.alpha, float)  # int in YAML, float field
    assert cfg.train.learning_rate == 2e-4 and cfg.train.max_grad_norm is None
    assert cfg.data.options == {"n_pairs": 200, "seed": 0}
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.loss.beta = 0.5  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.name = "other"  # type: ignore[misc]


def test_defaults_and_optional_nested_absent(tmp_path):
    cfg = load_config(RunConfig, write(tmp_path, MINIMAL))
    assert cfg.model.lora is None and cfg.loss.name == "dpo" and cfg.train.steps == 100


def test_to_dict_round_trips(tmp_path):
    cfg = load_config(RunConfig, write(tmp_path, FULL))
    plain = to_dict(cfg)
    assert yaml.safe_load(yaml.safe_dump(plain)) == plain  # plain data only
    assert from_dict(RunConfig, plain) == cfg
    o = from_dict(Outer, {"x": 1, "inner": {"k": 2, "tags": ["a", "b"]}})
    assert o.inner.tags == ("a", "b") and from_dict(Outer, to_dict(o)) == o


def test_yaml_11_scientific_notation_string_is_a_float(tmp_path):
    # PyYAML (YAML 1.1) reads `1e-4` (no dot) as a string; a float field must still accept it.
    cfg = load_config(RunConfig, write(tmp_path, MINIMAL + "train: {learning_rate: 1e-4}\n"))
    assert cfg.train.learning_rate == pytest.approx(1e-4)


def test_ad_hoc_types():
    o = from_dict(Outer, {"x": 2, "mode": "b", "inner": {}, "ids": [1, 2], "weights": {"a": 1},
                          "either": "s", "anything": {"free": [1]}, "frac": 1.0, "flag": True})
    assert o.x == 2.0 and isinstance(o.x, float) and o.inner == Inner()
    assert o.weights == {"a": 1.0} and isinstance(o.weights["a"], float)
    assert o.either == "s" and o.anything == {"free": [1]}
    assert from_dict(Outer, {"x": 0, "either": 3}).either == 3


# ---------------------------------------------------------------- rejections, named file + key
@pytest.mark.parametrize("text,expected", [
    # unknown keys, with did-you-mean
    ("loss: {bta: 0.1}", "loss.bta: unknown key (did you mean 'beta'?)"),
    ("trian: {steps: 1}", "trian: unknown key (did you mean 'train'?)"),
    ("model: {name: tiny, lora: {rr: 2}}", "model.lora.rr: unknown key (did you mean 'r'?)"),
    ("loss: {zzzzz: 1}", "loss.zzzzz: unknown key"),
    # wrong types
    ("loss: {beta: abc}", "loss.beta: expected a number, got 'abc'"),
    ("train: {steps: 1.5}", "train.steps: expected an integer, got 1.5"),
    ("train: {steps: 10.0}", "train.steps: expected an integer, got 10.0"),
    ("train: {steps: true}", "train.steps: expected an integer, got True"),
    ("model: {name: tiny, trust_remote_code: 1}", "model.trust_remote_code: expected true/false, got 1"),
    ("train: {learning_rate: false}", "train.learning_rate: expected a number, got False"),
    ("name: 3", "name: expected a string, got int 3"),
    ("model: {name: tiny, lora: {target_modules: q_proj}}", "model.lora.target_modules: expected a list, got str"),
    ("model: {name: tiny, lora: {target_modules: [q_proj, 3]}}", "model.lora.target_modules[1]: expected a string"),
    ("data: {train: arith, options: [1, 2]}", "data.options: expected a mapping, got list"),
    ("loss: 0.1", "loss: expected a mapping, got float 0.1"),
    ("model: {name: tiny, lora: yes}", "model.lora: expected a mapping, got bool True"),
    ("train: {max_grad_norm: abc}", "train.max_grad_norm: expected a number, got 'abc'"),
    # Literal
    ("model: {name: tiny, dtype: fp32}", "model.dtype: must be one of 'auto', 'fastest', 'float32', 'bfloat16', 'float16', got 'fp32'"),
    ("train: {schedule: Linear}", "train.schedule: must be one of 'constant', 'linear', 'cosine', got 'Linear'"),
    # ranges
    ("loss: {beta: -0.1}", "loss.beta: must be > 0, got -0.1"),
    ("loss: {beta: 0}", "loss.beta: must be > 0, got 0.0"),
    ("loss: {beta: .nan}", "loss.beta: expected a finite number, got nan"),
    ("train: {learning_rate: .inf}", "train.learning_rate: expected a finite number, got inf"),
    ("train: {learning_rate: 0}", "train.learning_rate: must be > 0, got 0.0"),
    ("train: {learning_rate: -1e-5}", "train.learning_rate: must be > 0, got -1e-05"),
    ("train: {steps: 0}", "train.steps: must be >= 1, got 0"),
    ("train: {weight_decay: -0.1}", "train.weight_decay: must be >= 0, got -0.1"),
    ("train: {max_grad_norm: 0}", "train.max_grad_norm: must be > 0, got 0.0"),
    ("data: {train: arith, limit: 0}", "data.limit: must be >= 1, got 0"),
    ("model: {name: tiny, lora: {dropout: 1.0}}", "model.lora.dropout: must be in [0, 1), got 1.0"),
    # cross-field rule (RunConfig.validate)
    ("train: {steps: 5, warmup_steps: 6}", "train.warmup_steps: must be <= train.steps (5), got 6"),
])
def test_run_config_rejections_name_file_and_key(tmp_path, text, expected):
    path = write(tmp_path, with_minimal(text))
    assert load_error(RunConfig, path).startswith(f"{path}: {expected}")


def test_missing_required_fields(tmp_path):
    p = write(tmp_path, "data: {train: arith}\n")
    assert load_error(RunConfig, p) == f"{p}: model: required key is missing"
    p = write(tmp_path, "model: {dtype: auto}\ndata: {train: arith}\n")
    assert load_error(RunConfig, p) == f"{p}: model.name: required key is missing"
    p = write(tmp_path, "")  # empty file = empty mapping
    assert load_error(RunConfig, p) == f"{p}: model: required key is missing"


@pytest.mark.parametrize("data,expected", [
    ({}, "x: required key is missing"),
    ({"x": 1, "mode": "c"}, "mode: must be one of 'a', 'b', got 'c'"),
    ({"x": 1, "inner": {"k": 0}}, "inner.k: must be >= 1, got 0"),
    ({"x": 1, "inner": {"tags": "a"}}, "inner.tags: expected a list, got str 'a'"),
    ({"x": 1, "ids": [1, "2"]}, "ids[1]: expected an integer, got '2'"),
    ({"x": 1, "weights": {"a": "heavy"}}, "weights.a: expected a number, got 'heavy'"),
    ({"x": 1, "frac": 1.5}, "frac: must be in [0, 1], got 1.5"),
    ({"x": 1, "frac": -0.1}, "frac: must be in [0, 1], got -0.1"),
    ({"x": 1, "dropout": 1}, "dropout: must be in [0, 1), got 1.0"),
    ({"x": 1, "either": 1.5}, "either: expected int | str, got 1.5"),
    ({"x": 1, "flag": "yes"}, "flag: expected true/false, got 'yes'"),
    ({"x": 1, "count": -1}, "count: must be >= 0, got -1"),
    ({"x": 1, "rate": 0}, "rate: must be > 0, got 0.0"),
    ({"x": 1, "nope": 0}, "nope: unknown key"),
    ([1], "<top>: expected a mapping, got list [1]"),
])
def test_ad_hoc_rejections(data, expected):
    with pytest.raises(ConfigError) as e:
        from_dict(Outer, data, source="s.yaml")
    assert str(e.value) == f"s.yaml: {expected}"


def test_range_boundaries_accepted():
    o = from_dict(Outer, {"x": 0, "frac": 0, "dropout": 0.999, "count": 0, "rate": 1e-12})
    assert o.frac == 0.0 and o.dropout == 0.999
    assert from_dict(Outer, {"x": 0, "frac": 1}).frac == 1.0


# ---------------------------------------------------------------- file-level problems
def test_missing_file(tmp_path):
    p = tmp_path / "nope.yaml"
    assert load_error(RunConfig, p) == f"{p}: no such config file"
    assert load_error(RunConfig, tmp_path) == f"{tmp_path}: no such config file"  # a directory


def test_invalid_yaml_names_file_and_line(tmp_path):
    p = write(tmp_path, "model: {name: tiny}\nloss: [1, 2\ndata: {train: arith}\n")
    msg = load_error(RunConfig, p)
    assert msg.startswith(f"{p}: invalid YAML: line 3"), msg


def test_non_mapping_top_level(tmp_path):
    p = write(tmp_path, "- a\n- b\n")
    assert load_error(RunConfig, p) == f"{p}: top level must be a mapping, got list"
    p = write(tmp_path, "just a string\n")
    assert load_error(RunConfig, p) == f"{p}: top level must be a mapping, got str"


def test_python_tags_are_rejected(tmp_path):
    """safe_load semantics: no object construction from a config file."""
    p = write(tmp_path, "name: !!python/object/apply:os.system ['echo pwned']\n" + MINIMAL)
    msg = load_error(RunConfig, p)
    assert msg.startswith(f"{p}: invalid YAML:") and "python/object" in msg
    p = write(tmp_path, "name: !!python/name:os.system\n" + MINIMAL)
    assert "invalid YAML" in load_error(RunConfig, p)


def test_duplicate_keys_are_rejected(tmp_path):
    """Plain YAML silently keeps the last of two `loss:` blocks; that is a config error here."""
    p = write(tmp_path, MINIMAL + "loss: {beta: 0.1}\nloss: {name: ipo}\n")
    assert load_error(RunConfig, p) == f"{p}: invalid YAML: line 4, column 1: duplicate key 'loss'"
    p = write(tmp_path, "model: {name: tiny, name: big}\ndata: {train: arith}\n")
    assert "duplicate key 'name'" in load_error(RunConfig, p)


def test_merge_keys_may_be_overridden(tmp_path):
    p = write(tmp_path, MINIMAL + "_defaults: &d {name: dpo, beta: 0.1}\n", name="anchor.yaml")
    assert load_yaml(p)["_defaults"] == {"name": "dpo", "beta": 0.1}
    p = write(tmp_path, "x: &d {k: 1}\ny:\n  <<: *d\n  k: 2\n", name="merge.yaml")
    assert load_yaml(p) == {"x": {"k": 1}, "y": {"k": 2}}


def test_non_utf8_file(tmp_path):
    p = tmp_path / "bin.yaml"
    p.write_bytes(b"\xff\xfe\x00name: x\n")
    assert load_error(RunConfig, p).startswith(f"{p}: not a UTF-8 text file")


# ---------------------------------------------------------------- overrides
def test_overrides_parse_as_yaml_then_type_check(tmp_path):
    p = write(tmp_path, FULL)
    cfg = load_config(RunConfig, p, ["loss.beta=0.5", "train.steps=7", "model.lora.target_modules=[o_proj]",
                                     "data.options.n_pairs=20", "train.max_grad_norm=1", "name=run-2"])
    assert cfg.loss.beta == 0.5 and isinstance(cfg.loss.beta, float)
    assert cfg.train.steps == 7 and cfg.model.lora.target_modules == ["o_proj"]
    assert cfg.data.options == {"n_pairs": 20, "seed": 0} and cfg.train.max_grad_norm == 1.0
    assert cfg.name == "run-2"


def test_override_creates_missing_sections(tmp_path):
    cfg = load_config(RunConfig, write(tmp_path, MINIMAL), ["model.lora.r=4", "loss.params.lambda_=5"])
    assert cfg.model.lora == LoraConfig(r=4) and cfg.loss.params == {"lambda_": 5}


def test_override_none_clears_optional(tmp_path):
    cfg = load_config(RunConfig, write(tmp_path, FULL), ["model.lora=null"])
    assert cfg.model.lora is None


@pytest.mark.parametrize("override,expected", [
    ("train.steps=abc", "train.steps: expected an integer, got 'abc'"),
    ("loss.beta=-0.1", "loss.beta: must be > 0, got -0.1"),
    ("loss.bta=0.1", "loss.bta: unknown key (did you mean 'beta'?)"),
    ("train.schedule=exp", "train.schedule: must be one of"),
    ("loss.beta.x=1", "loss.beta: is not a mapping, cannot set loss.beta.x"),
    ("model.name.x=1", "model.name: is not a mapping, cannot set model.name.x"),
    ("loss.beta", "override 'loss.beta': expected key=value"),
    ("=3", "override '=3': expected key=value"),
])
def test_override_rejections_name_file_and_key(tmp_path, override, expected):
    p = write(tmp_path, FULL)
    msg = load_error(RunConfig, p, [override])
    assert msg.startswith(str(p)) and f": {expected}" in msg, msg
    assert override in msg  # the source says which override was applied


def test_apply_overrides_does_not_mutate_its_input():
    data = {"loss": {"beta": 0.1}}
    out = apply_overrides(data, ["loss.beta=0.2", "train.steps=3"], source="s")
    assert data == {"loss": {"beta": 0.1}} and out == {"loss": {"beta": 0.2}, "train": {"steps": 3}}


def test_override_values_keep_equals_signs_and_strings():
    out = apply_overrides({}, ["data.train=hh-rlhf:data/x.jsonl.gz", "name=a=b", "model.name="], source="s")
    assert out == {"data": {"train": "hh-rlhf:data/x.jsonl.gz"}, "name": "a=b", "model": {"name": ""}}
