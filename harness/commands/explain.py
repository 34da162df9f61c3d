"""`harness explain [KEY]`: what a config key means, from the config classes themselves.

    harness explain train.learning_rate           # a run config key (also valid under a suite's base:/sft:)
    harness explain eval.generation.backend       # a suite key
    harness explain eval                          # every key under a section
    harness explain                               # every key of a run config, then of a suite

Each line: the dotted key, its type, its default, its range, and its help text. All of it is read
from the frozen dataclasses that validate the YAML (harness.trainer.config.RunConfig,
harness.suite.spec.SuiteSpec, harness.evaluation.config.EvalConfig, ...): the help lives in each
field's metadata next to its range check, so the explanation cannot drift from what is checked.
Exit status: 0, or 2 for a key that does not exist (with the closest one).
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterator


def add_arguments(p):
    p.add_argument("key", nargs="?", default=None, help="dotted key or section, e.g. train.learning_rate")


def _dataclass_of(tp):
    if dataclasses.is_dataclass(tp):
        return tp
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    return args[0] if len(args) == 1 and dataclasses.is_dataclass(args[0]) else None


def _type_name(tp) -> str:
    return str(tp).replace("typing.", "").replace("<class '", "").replace("'>", "").replace("harness.", "")


def keys(cls, prefix: str = "") -> Iterator[tuple[str, object, dataclasses.Field]]:
    """(dotted key, type, field) of every field of `cls`, sections expanded."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        key, tp = prefix + f.name, hints[f.name]
        sub = _dataclass_of(tp)
        if sub is not None:
            yield key, tp, f
            yield from keys(sub, key + ".")
        else:
            yield key, tp, f


def describe(key: str, tp, f: dataclasses.Field) -> str:
    if f.default is not dataclasses.MISSING:
        default = repr(f.default)
    elif f.default_factory is not dataclasses.MISSING:
        made = f.default_factory()
        default = repr(made) if not dataclasses.is_dataclass(made) else "(section)"
    else:
        default = "required"
    rng = f.metadata.get("range")
    line = f"{key}: {_type_name(tp)} = {default}" + (f"  (range {rng})" if rng else "")
    help_ = f.metadata.get("help", "")
    return line + (f"\n    {help_}" if help_ else "")


def all_keys() -> dict[str, list[tuple[str, object, dataclasses.Field]]]:
    from harness.suite.spec import SuiteSpec
    from harness.trainer.config import RunConfig

    return {"run config (harness train CONFIG; in a suite under base: and sft:)": list(keys(RunConfig)),
            "suite (harness run SUITE)": list(keys(SuiteSpec))}


def run(args) -> int:
    from harness.errors import ConfigError

    groups = all_keys()
    if args.key is None:
        for title, items in groups.items():
            print(f"# {title}")
            for item in items:
                print(describe(*item))
            print()
        return 0
    want = args.key
    for prefix in ("base.", "sft."):  # a suite's partial run configs take the run config's keys
        if want.startswith(prefix):
            want = want[len(prefix):]
    found = [item for items in groups.values() for item in items if item[0] == want or item[0].startswith(want + ".")]
    if not found:
        import difflib

        names = [k for items in groups.values() for k, _, _ in items]
        close = difflib.get_close_matches(want, names, n=1)
        raise ConfigError(f"unknown config key {args.key!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
                          + "; `harness explain` lists every key")
    seen = set()
    for item in found:
        if item[0] not in seen:
            seen.add(item[0])
            print(describe(*item))
    return 0
