"""Plain config: YAML → frozen dataclasses, validated before any heavy work.

Usage:
    cfg = load_config(RunConfig, "suites/examples/train-tiny.yaml", ["loss.beta=0.5"])

Rules (torchtune / lm-eval style):
- `yaml.safe_load` semantics only (a SafeLoader that also rejects duplicate keys); the top level
  must be a mapping.
- Unknown keys, wrong types, missing required fields and out-of-range values are errors that
  name the file and the dotted key: ``suites/x.yaml: train.beta: must be > 0, got -0.1``.
- Overrides are dotted ``key=value`` strings; the value is parsed as YAML (``0.5`` is a float,
  ``[1, 2]`` a list) and then type-checked exactly like the file.
- Range checks and help live next to the field: ``beta: float = field(0.1, meta=positive, help="...")``.

A config class is any frozen dataclass whose fields use: bool, int, float, str, Literal[...],
Optional[X], list[X], tuple[X, ...], dict[str, X], Any, or a nested config dataclass.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar, Union

import yaml

from harness.errors import ConfigError

C = TypeVar("C")
Check = Callable[[Any], "str | None"]  # returns an error message, or None when fine


# ---------------------------------------------------------------- field metadata: help, checks, ranges
def field(default: Any = dataclasses.MISSING, *, help: str, meta: dict | None = None,
          factory: Any = dataclasses.MISSING) -> Any:
    """A config field that explains itself: `help` (shown by `harness explain KEY`) and `meta`
    (a range check such as `positive`) live in the field's metadata, next to the type and default."""
    return dataclasses.field(default=default, default_factory=factory, metadata={**(meta or {}), "help": help})


def check(fn: Check, range_: str = "") -> dict:
    return {"check": fn, "range": range_} if range_ else {"check": fn}


def _gt(lo: float) -> dict:
    return check(lambda v: None if v is None or v > lo else f"must be > {lo}, got {v}", f"> {lo}")


def _ge(lo: float) -> dict:
    return check(lambda v: None if v is None or v >= lo else f"must be >= {lo}, got {v}", f">= {lo}")


def in_range(lo: float, hi: float, *, hi_open: bool = False) -> dict:
    def fn(v):
        ok = v is None or (lo <= v < hi if hi_open else lo <= v <= hi)
        return None if ok else f"must be in [{lo}, {hi}{')' if hi_open else ']'}, got {v}"

    return check(fn, f"[{lo}, {hi}{')' if hi_open else ']'}")


positive = _gt(0)
nonnegative = _ge(0)
at_least_one = _ge(1)


# ---------------------------------------------------------------- loading
class _SafeLoaderNoDuplicates(yaml.SafeLoader):
    """`yaml.SafeLoader` (no python tags), except that a key given twice in one mapping is an error:
    plain YAML keeps the last one silently, so a second `loss:` block would quietly win."""


def _mapping_without_duplicates(loader, node):
    seen = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *anchor` may be overridden by design
            continue
        key = loader.construct_object(key_node)
        if not isinstance(key, typing.Hashable):
            continue  # construct_mapping reports unhashable keys itself
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node)


_SafeLoaderNoDuplicates.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)


def _yaml_error(e: yaml.YAMLError) -> str:
    """One line (the CLI prints errors on one line): "line L, column C: problem"."""
    mark = getattr(e, "problem_mark", None)
    problem = getattr(e, "problem", None) or str(e).splitlines()[0]
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return f"{where}{problem}"


def load_yaml(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file")
    try:
        # bytes + explicit UTF-8: the locale's encoding must not change what a config means, and a
        # binary file is a user error, not a UnicodeDecodeError traceback.
        data = yaml.load(path.read_bytes().decode("utf-8"), Loader=_SafeLoaderNoDuplicates)
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not a UTF-8 text file ({e.reason} at byte {e.start})") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: invalid YAML: {_yaml_error(e)}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    return data


def apply_overrides(data: dict, overrides: typing.Iterable[str], *, source: str) -> dict:
    """Return a copy of `data` with dotted ``a.b.c=value`` overrides applied."""
    import copy

    data = copy.deepcopy(data)
    seen: dict[str, str] = {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"{source}: override {item!r}: expected key=value")
        if key in seen and seen[key] != raw:
            warn(f"warning: {source}: {key} is overridden twice ({seen[key]!r}, then {raw!r}); the last one is used")
        seen[key] = raw
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        node = data
        parts = key.split(".")
        for i, part in enumerate(parts[:-1]):
            nxt = node.get(part)
            if nxt is None:
                nxt = node[part] = {}
            if not isinstance(nxt, dict):
                raise ConfigError(f"{source}: {'.'.join(parts[: i + 1])}: is not a mapping, cannot set {key}")
            node = nxt
        node[parts[-1]] = value
    return data


def warn(message: str) -> None:
    """A one-line warning on stderr (config problems that are not errors)."""
    import sys

    print(message, file=sys.stderr)


def load_config(cls: type[C], path: str | Path, overrides: typing.Iterable[str] = ()) -> C:
    overrides = list(overrides)
    source = str(path) + (f" (with overrides {' '.join(overrides)})" if overrides else "")
    data = apply_overrides(load_yaml(path), overrides, source=source)
    return from_dict(cls, data, source=source)


def from_dict(cls: type[C], data: Any, *, source: str = "<config>", prefix: str = "") -> C:
    """Build config dataclass `cls` from plain data, raising ConfigError naming `source: key`."""
    return _convert(cls, data, source, prefix)


def to_dict(obj: Any) -> Any:
    """Config dataclass → plain data (the inverse of `from_dict`), for hashing and JSON."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


# ---------------------------------------------------------------- type conversion
def _fail(source: str, key: str, msg: str) -> ConfigError:
    return ConfigError(f"{source}: {key or '<top>'}: {msg}")


def _tname(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(tp: Any, value: Any, source: str, key: str) -> Any:
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        return _convert_dataclass(tp, value, source, key)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _convert(arg, value, source, key)
            except ConfigError as e:
                errors.append(e)
        if len(errors) == 1:
            raise errors[0]
        # a mapping given where a name or a mapping is taken (`{name: nosuch}` for `str | LoggerSpec`)
        # failed inside the mapping's own type: its error says what is wrong, the union's would not
        shaped = [e for a, e in zip((a for a in args if a is not type(None)), errors, strict=True)
                  if isinstance(value, dict) and dataclasses.is_dataclass(a)]
        if len(shaped) == 1:
            raise shaped[0]
        raise _fail(source, key, f"expected {_tname(tp)}, got {value!r}")
    if origin is Literal:
        if value not in args:
            raise _fail(source, key, f"must be one of {', '.join(map(repr, args))}, got {value!r}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise _fail(source, key, f"expected a list, got {type(value).__name__} {value!r}")
        item_tp = args[0] if args else Any
        items = [_convert(item_tp, v, source, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise _fail(source, key, f"expected a mapping, got {type(value).__name__}")
        val_tp = args[1] if len(args) == 2 else Any
        return {str(k): _convert(val_tp, v, source, f"{key}.{k}" if key else str(k)) for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise _fail(source, key, f"expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(source, key, f"expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            # YAML 1.1 reads "1e-4" as a string; accept numeric strings for floats only.
            try:
                value = float(value) if isinstance(value, str) else _raise()
            except (ValueError, TypeError):
                raise _fail(source, key, f"expected a number, got {value!r}") from None
        if not math.isfinite(value):  # .inf passes "positive" and then diverges at step 2
            raise _fail(source, key, f"expected a finite number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise _fail(source, key, f"expected a string, got {type(value).__name__} {value!r}")
        return value
    raise TypeError(f"config type {tp!r} at {key} is not supported")


def _raise():
    raise ValueError


def _convert_dataclass(cls: Any, value: Any, source: str, prefix: str) -> Any:
    if not isinstance(value, dict):
        raise _fail(source, prefix, f"expected a mapping, got {type(value).__name__} {value!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for name in value:
        if name not in fields:
            import difflib

            close = difflib.get_close_matches(str(name), list(fields), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise _fail(source, _join(prefix, name), f"unknown key{hint}")
    kwargs = {}
    for name, f in fields.items():
        key = _join(prefix, name)
        if name not in value:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise _fail(source, key, "required key is missing")
            continue
        converted = _convert(hints[name], value[name], source, key)
        fn = f.metadata.get("check")
        msg = fn(converted) if fn else None
        if msg:
            raise _fail(source, key, msg)
        kwargs[name] = converted
    obj = cls(**kwargs)
    validate = getattr(obj, "validate", None)
    if callable(validate):  # cross-field rules: return (relative key, message) or None
        problem = validate()
        if problem:
            rel, msg = problem
            raise _fail(source, _join(prefix, rel), msg)
    return obj


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else str(name)
