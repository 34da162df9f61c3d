"""Suite YAML → a validated `SuiteSpec`. A suite is a grid of runs that share a base config.

    name: minordpo-arith
    base:                       # a partial RunConfig (see harness/trainer/config.py)
      model: {name: tiny}
      data: {train: arith, options: {n_pairs: 2000}}
      train: {steps: 300, batch_size: 16}
    grid:                       # dotted RunConfig key -> values; the runs are the cartesian product
      loss.name: [dpo, minor_dpo]
      loss.beta: [0.05, 0.1, 0.5]
      train.learning_rate: [2.0e-4, 1.0e-3]
      train.seed: [0, 1, 2]
    variants:                   # optional named overrides, each crossed with the grid; a key a
      - {name: dpo, set: {loss.name: dpo}}            # variant sets is no longer an axis for it
      - {name: sft, set: {loss.name: sft, loss.beta: 0.1}}   # the control: one beta is enough
    sft:                        # optional SFT stage: trained once per model x dataset, shared by all runs
      train: {steps: 1000, learning_rate: 1.0e-3}
    eval:                       # harness.evaluation.EvalConfig; absent: train only
      generation: {backend: vllm, n_prompts: 64, max_new_tokens: 32}
      reward_model:             # a DIR / hub id, or a recipe trained once into OUT/rm/<hash>/ (harness.suite.reward_stage)
        train: {data: arith, options: {n_pairs: 512}, backbone: "@sft", epochs: 2}
    report: {title: "MinorDPO vs DPO"}

    suite = load_suite("suites/minordpo-arith.yaml", ["train.steps=20"])

Validation happens here, before anything runs: an unknown or mistyped key anywhere (base, grid
keys and values, variants, sft) is a ConfigError naming the file and the dotted key, e.g.
``suites/x.yaml: grid.loss.bta: unknown key``. Command-line overrides: `grid.KEY=[...]` sets an
axis; a RunConfig key such as `train.steps=5` sets it in `base` and removes it from every grid
(so `train.seed=0` pins the seed); anything else (`sft.train.steps=10`, `report.title=x`) is a
plain dotted override of the suite file (`sft=null` drops the SFT stage).

Each run's `name` (the `runs.name` column, the row label of reports) is its variant's name, or
its loss name when the suite has no variants. `harness.suite.grid` expands the spec into runs.
"""

from __future__ import annotations

import copy
import dataclasses
import typing
from pathlib import Path
from typing import Any

from harness.analysis.claims import ClaimSpec
from harness.config import check, field, from_dict, load_yaml, nonnegative, to_dict
from harness.errors import ConfigError
from harness.evaluation.config import SFT_BACKBONE, EvalConfig, normalize
from harness.hashing import content_hash
from harness.tracking import LoggerSpec, check_loggers
from harness.trainer.config import RunConfig


@dataclasses.dataclass(frozen=True)
class VariantSpec:
    name: str = field(help="label of the variant in tables (the run's `name`)")
    set: dict[str, Any] = field(factory=dict, help="dotted RunConfig key -> value, applied last")
    grid: dict[str, list[Any]] = field(factory=dict, help="axes that replace/add to the suite grid")
    use_sft: bool = field(True, help="start from the suite's SFT checkpoint (when there is an SFT stage)")


@dataclasses.dataclass(frozen=True)
class ReportOptions:
    title: str = field("", help="default: the suite name")
    enabled: bool = field(True, help="`harness run` writes the report when the suite finishes")
    metrics: list[str] = field(factory=list,
        help="main-table columns (`harness ls metrics`); empty: the catalogue's main columns with data, then lm-eval results")
    plots: bool = field(True, help="write curves.png and frontier.png")
    claims: list[ClaimSpec] = field(factory=list, help="the verdict the report opens with (harness.analysis.verdict)")
    caveats: list[str] = field(factory=list, help="what the suite cannot show, stated under the verdict")


def _executor(name: str) -> str | None:
    from harness.suite.executors import EXECUTORS

    return None if name in EXECUTORS else EXECUTORS.unknown_message(name)


@dataclasses.dataclass(frozen=True)
class Resources:
    """What one task asks a Ray cluster for (logical resources: Ray places the task where they are free)."""

    num_cpus: float = field(1.0, meta=nonnegative, help="CPUs (1 for a one-thread tiny-model run)")
    num_gpus: float = field(0.0, meta=nonnegative, help="GPUs (Ray sets CUDA_VISIBLE_DEVICES for the task)")
    memory_gb: float | None = field(None, meta=nonnegative, help="memory to reserve; none: no reservation")


@dataclasses.dataclass(frozen=True)
class ExecutorOptions:
    """Where the runs execute. Placement, not content: it is left out of the suite hash, and
    every executor gives the same rows (`--executor` on the command line overrides `name`)."""

    name: str = field("local", meta=check(_executor), help="`harness ls executors`: local | pool | ray")
    workers: int = field(0, meta=nonnegative, help="pool: worker processes; 0: one per physical core; "
                          "ray: the CPUs of a local Ray instance (0: this machine's cores)")
    address: str | None = field(None, help="ray: a running cluster to join (auto, ray://HOST:PORT); none: start a "
                                           "local instance")
    train: Resources = field(factory=Resources, help="ray: what each training run asks for")
    eval: Resources = field(factory=Resources, help="ray: what each evaluation part asks for (one engine each)")
    reward: Resources = field(factory=Resources, help="ray: what the reward-model stage asks for")
    max_retries: int = field(1, meta=nonnegative, help="ray: retries of a task whose worker died (then: failed)")
    connect_timeout_s: float = field(30.0, meta=nonnegative,
        help="ray with an address: how long to wait for the cluster to answer before exit 2")


@dataclasses.dataclass(frozen=True)
class SuiteSpec:
    name: str = field(help="results go to results/<name> by default; also the `suite` column of `runs`")
    base: dict[str, Any] = field(help="partial RunConfig shared by every run")
    description: str = field("", help="one line about the suite")
    grid: dict[str, list[Any]] = field(factory=dict, help="dotted run key -> values; the runs are the cartesian product (crossed with the variants)")
    variants: list[VariantSpec] = field(factory=list, help="named overrides, each crossed with the grid")
    sft: dict[str, Any] | None = field(None, help="partial RunConfig over `base`; loss defaults to {name: sft}")
    eval: EvalConfig | None = field(None,
        help="harness.evaluation's config (generation, scorers, lm-eval); absent: none")
    report: ReportOptions = field(factory=ReportOptions, help="the report written at the end: title, columns, plots, verdict claims and caveats")
    executor: ExecutorOptions = field(factory=ExecutorOptions, help="where the runs execute (local | pool | ray); not part of the suite hash")
    loggers: list[str | LoggerSpec] = field(factory=list, meta=check(check_loggers),
                                            help="experiment trackers every run streams to "
                                            "(`harness ls loggers`); not part of the suite hash or any run id")

    def validate(self):
        if not self.name or "/" in self.name or self.name.startswith("."):
            return "name", f"must be a plain folder name, got {self.name!r}"
        names = [v.name for v in self.variants]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            return "variants", f"duplicate variant name(s) {dup}"
        train = self.eval.reward.train if self.eval is not None and self.eval.reward is not None else None
        if train is not None and train.backbone == SFT_BACKBONE and self.sft is None:
            return "eval.reward_model.train.backbone", f"{SFT_BACKBONE!r} is the suite's SFT checkpoint, but it has no sft: stage"
        return None


@dataclasses.dataclass(frozen=True)
class Suite:
    """A loaded suite: the spec plus where it came from and its content hash."""

    spec: SuiteSpec
    source: str
    hash: str

    @property
    def name(self) -> str:
        return self.spec.name


# ---------------------------------------------------------------- loading
SUITE_SECTIONS = {f.name for f in dataclasses.fields(SuiteSpec)}
RUN_SECTIONS = {f.name for f in dataclasses.fields(RunConfig)}


def load_suite(path: str | Path, overrides: typing.Iterable[str] = ()) -> Suite:
    overrides = list(overrides)
    source = str(path) + (f" (with overrides {' '.join(overrides)})" if overrides else "")
    data = apply_suite_overrides(load_yaml(path), overrides, source=source)
    return suite_from_dict(data, source=source)


def suite_from_dict(data: dict, *, source: str = "<suite>") -> Suite:
    data = copy.deepcopy(data)
    data["eval"] = normalize(data.get("eval"))  # `reward_model: DIR` -> {path: DIR}
    if data["eval"] is None:
        del data["eval"]
    for section in ("grid",):
        if isinstance(data.get(section), dict):
            data[section] = flatten_axes(data[section])
    for v in data.get("variants") or []:
        if isinstance(v, dict) and isinstance(v.get("grid"), dict):
            v["grid"] = flatten_axes(v["grid"])
        if isinstance(v, dict) and isinstance(v.get("set"), dict):
            v["set"] = flatten_values(v["set"])
    spec = from_dict(SuiteSpec, data, source=source)
    check_partial(spec.base, source, "base")
    if spec.sft is not None:
        check_partial(spec.sft, source, "sft")
    check_axes(spec.grid, source, "grid")
    for i, v in enumerate(spec.variants):
        check_axes(v.grid, source, f"variants[{i}].grid")
        for key, value in v.set.items():
            check_value(key, value, source, f"variants[{i}].set.{key}")
    # placement (executor, loggers) and presentation (report) change no run: they stay out of the hash
    content = {k: v for k, v in to_dict(spec).items() if k not in ("executor", "report", "loggers")}
    suite = Suite(spec, source, content_hash(content))
    from harness.suite.claims import check_claims

    check_claims(suite)  # a claim the grid cannot test is refused now, not after all the training
    return suite


def apply_suite_overrides(data: dict, overrides: typing.Iterable[str], *, source: str) -> dict:
    """`grid.K=[..]` sets axis K; a RunConfig key sets `base` and pins the axis; else plain dotted."""
    from harness.config import apply_overrides

    data = copy.deepcopy(data)
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip()
        root = key.split(".", 1)[0]
        if not sep or not key:
            raise ConfigError(f"{source}: override {item!r}: expected key=value")
        if root == "grid" and "." in key:
            axes = data.setdefault("grid", {}) or {}
            data["grid"] = {**flatten_axes(axes), key[len("grid."):]: _parse(raw)}
        elif root in RUN_SECTIONS and root not in SUITE_SECTIONS:
            data = apply_overrides(data, [f"base.{item}"], source=source)
            for holder in [data] + [v for v in data.get("variants") or [] if isinstance(v, dict)]:
                if isinstance(holder.get("grid"), dict):
                    holder["grid"] = {k: v for k, v in flatten_axes(holder["grid"]).items() if k != key}
        else:
            data = apply_overrides(data, [item], source=source)
    return data


def _parse(raw: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        return raw


def flatten_axes(grid: dict, prefix: str = "") -> dict:
    """Grid axes may be written nested ({loss: {beta: [..]}}) or dotted ({loss.beta: [..]}): a
    list (or a non-mapping) is a leaf, so both spellings give the same flat dotted mapping."""
    out: dict = {}
    for k, v in grid.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten_axes(v, key + "."))
        else:
            out[key] = v
    return out


def flatten_values(values: dict) -> dict:
    """Variant `set:` keys are dotted; a nested mapping is accepted only under a top-level
    RunConfig section ({loss: {name: sft}}), so dict-valued fields (loss.params) stay values."""
    out: dict = {}
    for k, v in values.items():
        if k in RUN_SECTIONS and isinstance(v, dict) and k not in ("reference", "name"):
            out.update({f"{k}.{kk}": vv for kk, vv in v.items()})
        else:
            out[k] = v
    return out


# ---------------------------------------------------------------- partial RunConfig validation
def field_at(key: str, source: str, where: str) -> tuple[Any, dict] | None:
    """(type hint, field metadata) of dotted RunConfig `key`; None when the key lies inside a
    free-form mapping field (data.options.n_pairs, loss.params.lambda_)."""
    cls: Any = RunConfig
    hint: Any = RunConfig
    parts = key.split(".")
    for i, part in enumerate(parts):
        cls = _dataclass_of(cls)
        if cls is None:
            if typing.get_origin(hint) is dict:
                return None
            raise ConfigError(f"{source}: {where}: {'.'.join(parts[:i])} has no sub-keys")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        if part not in fields:
            import difflib

            close = difflib.get_close_matches(part, list(fields), n=1)
            hint_ = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{source}: {where}: unknown key{hint_}")
        hint = typing.get_type_hints(cls)[part]
        meta = fields[part].metadata
        cls = hint
    return hint, meta


def _dataclass_of(tp: Any) -> Any:
    if dataclasses.is_dataclass(tp):
        return tp
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    return args[0] if len(args) == 1 and dataclasses.is_dataclass(args[0]) else None


def check_value(key: str, value: Any, source: str, where: str) -> None:
    """Type- and range-check one value for dotted RunConfig `key` (nested sections recurse)."""
    found = field_at(key, source, where)
    if found is None:
        return
    hint, meta = found
    sub = _dataclass_of(hint)
    if sub is not None and isinstance(value, dict):
        for k, v in value.items():
            check_value(f"{key}.{k}", v, source, f"{where}.{k}")
        return
    converted = from_dict(hint, value, source=source, prefix=where)
    fn = meta.get("check")
    msg = fn(converted) if fn else None
    if msg:
        raise ConfigError(f"{source}: {where}: {msg}")


def check_partial(partial: dict, source: str, where: str) -> None:
    for k, v in partial.items():
        check_value(k, v, source, f"{where}.{k}")


def check_axes(axes: dict, source: str, where: str) -> None:
    for key, values in axes.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{source}: {where}.{key}: expected a non-empty list of values, got {values!r}")
        field_at(key, source, f"{where}.{key}")  # an unknown key is named once, without an index
        for i, v in enumerate(values):
            check_value(key, v, source, f"{where}.{key}[{i}]")
