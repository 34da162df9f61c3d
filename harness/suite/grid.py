"""Grid expansion: a `Suite` → the list of `PlannedRun`s to execute, each a full `RunConfig`.

    plan = expand(suite)
    plan.sft           # SFT stages (one per distinct model x dataset), trained first
    plan.runs          # the grid runs, in a stable, readable order (variants, then axes as written)
    plan.runs[0].run_id, plan.runs[0].label   # "3f2a...", {"name": "dpo", "loss.beta": 0.1, ...}

A run id is `run_id(cfg)`: the content hash of the resolved config, so the same config always
gets the same id (whatever the key order in the YAML) and any change gives a new one. A run that
starts from the SFT stage carries ``model.init_from: "@sft:<sft run id>"`` in the hashed config,
a symbolic link that the runner replaces with the checkpoint path at execution time: ids then
depend on what the SFT stage *is*, not on the folder it was written to. `model.dtype` is resolved
here ("auto", "fastest" -> a concrete dtype; harness.trainer.config.pin_dtype), once for the whole
plan, so the id holds the precision and every worker trains in the one the driver chose. Runs
that expand to the same config (a variant pinning an axis) are kept once.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
from typing import Any

from harness.config import from_dict, to_dict
from harness.results.records import run_id
from harness.suite.spec import Suite
from harness.trainer.config import RunConfig, pin_dtype

SFT_PREFIX = "@sft:"
SFT_DEFAULTS = {"loss": {"name": "sft"}, "name": "sft"}


@dataclasses.dataclass(frozen=True)
class PlannedRun:
    run_id: str
    config: RunConfig  # model.init_from may be the symbolic "@sft:<id>"
    label: dict[str, Any]  # the axis values that identify the run, for display
    stage: str = "main"  # "sft" | "main"
    sft_id: str | None = None  # the SFT stage this run starts from


@dataclasses.dataclass(frozen=True)
class Plan:
    suite: Suite
    sft: list[PlannedRun]
    runs: list[PlannedRun]
    axes: list[str]  # dotted keys that vary across `runs` (label columns)

    @property
    def all(self) -> list[PlannedRun]:
        return self.sft + self.runs


def suite_column(suite_name: str, stage: str) -> str:
    """What the runner puts in `runs.suite`: the suite name, or `<name>#sft` for SFT stages so
    that reports and regressions read only the grid runs."""
    return suite_name if stage == "main" else f"{suite_name}#{stage}"


def set_dotted(data: dict, key: str, value: Any) -> None:
    parts = key.split(".")
    node = data
    for part in parts[:-1]:
        nxt = node.get(part)
        if not isinstance(nxt, dict):
            nxt = node[part] = {}
        node = nxt
    node[parts[-1]] = copy.deepcopy(value)


def get_dotted(data: dict, key: str, default: Any = None) -> Any:
    node: Any = data
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


def deep_merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _points(axes: dict[str, list]) -> list[dict[str, Any]]:
    keys = list(axes)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(axes[k] for k in keys))]


def expand(suite: Suite) -> Plan:
    spec = suite.spec
    variants = spec.variants or [None]
    sft_by_id: dict[str, PlannedRun] = {}
    runs: dict[str, PlannedRun] = {}
    for variant in variants:
        axes = dict(spec.grid)
        sets: dict[str, Any] = {}
        if variant is not None:
            axes.update(variant.grid)
            sets = dict(variant.set)
            axes = {k: v for k, v in axes.items() if k not in sets}  # the variant pins these keys
        for point in _points(axes):
            data = copy.deepcopy(spec.base)
            for key, value in {**sets, **point}.items():
                set_dotted(data, key, value)
            if "name" not in sets and "name" not in point:
                data["name"] = variant.name if variant is not None else get_dotted(data, "loss.name", "dpo")
            where = _describe(variant, point)
            sft = None
            if spec.sft is not None and (variant is None or variant.use_sft) \
                    and get_dotted(data, "model.init_from") is None:
                sft = _sft_stage(suite, data, where)
                sft_by_id.setdefault(sft.run_id, sft)
                set_dotted(data, "model.init_from", SFT_PREFIX + sft.run_id)
            cfg = pin_dtype(from_dict(RunConfig, data, source=f"{suite.source} (run {where})"))
            if spec.loggers:
                cfg = dataclasses.replace(cfg, loggers=tuple(spec.loggers))
            rid = run_id(cfg)
            label = {"name": cfg.name, **{k: _value(cfg, k) for k in point}}
            runs.setdefault(rid, PlannedRun(rid, cfg, label, "main", sft.run_id if sft else None))
    planned = list(runs.values())
    return Plan(suite, list(sft_by_id.values()), planned, varying_axes(planned))


def _sft_stage(suite: Suite, run_data: dict, where: str) -> PlannedRun:
    """The SFT stage for a run: base + the run's model and data sections + the `sft:` block."""
    spec = suite.spec
    data = deep_merge(copy.deepcopy(spec.base), SFT_DEFAULTS)
    data["model"] = copy.deepcopy(run_data.get("model", {}))
    data["data"] = copy.deepcopy(run_data.get("data", {}))
    data = deep_merge(data, spec.sft or {})
    cfg = pin_dtype(from_dict(RunConfig, data, source=f"{suite.source} (sft stage for run {where})"))
    if spec.loggers:
        cfg = dataclasses.replace(cfg, loggers=tuple(spec.loggers))
    label = {"name": cfg.name, "model.name": cfg.model.name, "data.train": cfg.data.train}
    return PlannedRun(run_id(cfg), cfg, label, "sft")


def _describe(variant, point: dict) -> str:
    parts = ([variant.name] if variant is not None else []) + [f"{k}={v}" for k, v in point.items()]
    return " ".join(parts) or "base"


def _value(cfg: RunConfig, key: str) -> Any:
    return get_dotted(to_dict(cfg), key)


def varying_axes(runs: list[PlannedRun]) -> list[str]:
    """Label keys whose value differs between runs, in first-seen order."""
    keys: list[str] = []
    for r in runs:
        keys += [k for k in r.label if k not in keys]
    return [k for k in keys if len({repr(r.label.get(k, _value(r.config, k))) for r in runs}) > 1]


def resolve(cfg: RunConfig, checkpoints: dict[str, str]) -> RunConfig:
    """Replace a symbolic ``@sft:<id>`` init_from with the SFT checkpoint path."""
    init = cfg.model.init_from
    if not init or not init.startswith(SFT_PREFIX):
        return cfg
    path = checkpoints[init[len(SFT_PREFIX):]]
    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, init_from=str(path)))
