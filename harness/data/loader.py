"""`load_pairs`: spec → adapter → validated `PreferencePair`s, with every dropped row accounted for.

    loaded = load_pairs("hh-rlhf", on_bad_row="skip", limit=1000)
    loaded.pairs, loaded.dropped, loaded.source, loaded.n_rows

The adapter protocol (what `Request` offers and what an adapter may yield) is described in
`harness/data/__init__.py`. This module is the single place that applies the ``on_bad_row``
policy, the schema check, the ``limit`` and the "unknown option" check, so adapters stay small.
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from harness.data.io import HubOptions, Record, read_records
from harness.data.schema import PreferencePair
from harness.data.spec import DatasetSpec, parse_spec
from harness.data.validate import BadRow, Drop, check_pair
from harness.errors import ConfigError, DataError
from harness.hashing import content_hash

ON_BAD_ROW = ("error", "skip")
_MISSING = object()


@dataclasses.dataclass
class LoadedPairs:
    pairs: list[PreferencePair]
    dropped: dict[str, int]  # reason -> rows dropped for it (bad rows skipped + adapter policy drops)
    source: str  # "ADAPTER:RESOLVED_LOCATION[@SPLIT]"
    n_rows: int  # source rows read (kept + dropped; fewer than the file when `limit` stopped early)
    spec: str = ""  # the spec as given
    options: dict[str, Any] = dataclasses.field(default_factory=dict)

    def fingerprint(self) -> str:
        """Content hash of the pairs: same pairs ⇒ same hash (for caches keyed by data)."""
        return content_hash([p.to_json() for p in self.pairs])


class Request:
    """What an adapter receives: the resolved spec, typed option access, and row iteration."""

    def __init__(self, spec: DatasetSpec, options: dict[str, Any]):
        self.spec = spec
        self._options = dict(options)
        self._known: set[str] = set()
        self.current_where: str | None = None  # location of the row being converted (for messages)

    @property
    def location(self) -> str | None:
        return self.spec.location

    @property
    def split(self) -> str | None:
        return self.spec.split

    def option(self, name: str, default: Any = _MISSING, kind: type | tuple[type, ...] | None = None,
               choices: Iterable[Any] | None = None) -> Any:
        """The option's value (or `default`), type- and choice-checked; reading marks it as known."""
        self._known.add(name)
        if name not in self._options or self._options[name] is None:
            if default is _MISSING:
                raise ConfigError(f"dataset {self.spec.text!r}: option {name!r} is required")
            return default
        value = self._options[name]
        kinds = kind if isinstance(kind, tuple) else (kind,) if kind else ()
        if float in kinds and isinstance(value, int):
            value = float(value)  # YAML "2" for a float option
        wrong_bool = isinstance(value, bool) and bool not in kinds
        if kinds and (wrong_bool or not isinstance(value, kinds)):
            names = " or ".join(k.__name__ for k in kinds)
            raise ConfigError(f"dataset {self.spec.text!r}: option {name!r} must be {names}, got {value!r}")
        if choices is not None and value not in tuple(choices):
            raise ConfigError(f"dataset {self.spec.text!r}: option {name!r} must be one of "
                              f"{', '.join(map(str, choices))}, got {value!r}")
        return value

    def unknown_options(self) -> list[str]:
        return sorted(set(self._options) - self._known)

    def records(self, fmt: str | None = None) -> Iterator[Record | BadRow]:
        """Raw rows of the spec's file / directory / hub dataset (see `harness.data.io`)."""
        hub = HubOptions()
        if self.spec.kind in ("dir", "hub"):  # only meaningful there: elsewhere they are unknown options
            hub = HubOptions(*(self.option(k, None, str) for k in ("revision", "name", "data_dir")))
        return read_records(self.spec, fmt=fmt, hub=hub)

    def map_rows(self, convert: Callable[[Record], PreferencePair | Drop], fmt: str | None = None
                 ) -> Iterator[PreferencePair | Drop | BadRow]:
        """`convert` each record; a `BadRow` it raises is yielded with the row's location."""
        for rec in self.records(fmt):
            if isinstance(rec, BadRow):
                self.current_where = rec.where
                yield rec
                continue
            self.current_where = rec.where
            try:
                yield convert(rec)
            except BadRow as e:
                yield e.located(rec.where)


def load_pairs(spec: str, *, options: dict | None = None, on_bad_row: str = "error",
               limit: int | None = None) -> LoadedPairs:
    """Load ``ADAPTER[:PATH_OR_HUB_ID[@SPLIT]]`` into validated pairs.

    on_bad_row: "error" raises a `DataError` naming file, row and reason at the first malformed
    row; "skip" drops and counts it. `limit`: stop after this many kept pairs.
    Raises `DataError` when nothing is left, `ConfigError` for unknown or ill-typed options.
    """
    from harness.data import ADAPTERS  # the registry lives in the package __init__

    if on_bad_row not in ON_BAD_ROW:
        raise ConfigError(f"on_bad_row must be one of {', '.join(ON_BAD_ROW)}, got {on_bad_row!r}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ConfigError(f"limit must be a positive integer or None, got {limit!r}")
    if options is not None and not isinstance(options, dict):
        raise ConfigError(f"dataset options must be a mapping, got {type(options).__name__}")
    parsed = parse_spec(spec)
    adapter = ADAPTERS.get(parsed.adapter)
    req = Request(parsed, options or {})
    items = iter(adapter(req))
    first = list(itertools.islice(items, 1))  # adapters read their options before the first row
    _check_options(req)

    pairs: list[PreferencePair] = []
    dropped: collections.Counter[str] = collections.Counter()
    n_rows = 0
    for item in itertools.chain(first, items):
        n_rows += 1
        if isinstance(item, Drop):
            dropped[item.reason] += 1
            continue
        if isinstance(item, PreferencePair):
            try:
                check_pair(item)
            except BadRow as e:
                item = e
        if isinstance(item, BadRow):
            bad = item.located(req.current_where or f"{parsed.describe()}: item {n_rows}")
            if on_bad_row == "error":
                raise DataError(bad.message() + " [on_bad_row: skip drops such rows and counts them]")
            dropped[bad.reason] += 1
            continue
        if not isinstance(item, PreferencePair):
            raise TypeError(f"adapter {parsed.adapter!r} yielded {type(item).__name__}; "
                            f"expected PreferencePair, Drop or BadRow")
        pairs.append(item)
        if limit is not None and len(pairs) >= limit:
            break
    _check_options(req)
    source = parsed.describe()
    if not pairs:
        detail = ", ".join(f"{k}: {v}" for k, v in dropped.most_common()) or "no rows"
        raise DataError(f"{source}: no usable preference pairs (read {n_rows} rows; dropped {detail})")
    return LoadedPairs(pairs, dict(dropped.most_common()), source, n_rows, spec, dict(options or {}))


def _check_options(req: Request) -> None:
    unknown = req.unknown_options()
    if unknown:
        known = ", ".join(sorted(req._known)) or "none"
        raise ConfigError(f"dataset {req.spec.text!r}: unknown option(s) {', '.join(unknown)} "
                          f"for this adapter and source (known: {known})")
