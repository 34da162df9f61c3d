"""Preference data: dataset specs → clean `PreferencePair`s, with every dropped row accounted for.

Usage:
    from harness.data import load_pairs
    loaded = load_pairs("hh-rlhf:path/to/harmless-base-test.jsonl.gz", on_bad_row="skip")
    loaded.pairs        # list[PreferencePair]
    loaded.dropped      # {"prompt_mismatch": 4, "empty_response": 4}
    loaded.source       # "hh-rlhf:/abs/path/harmless-base-test.jsonl.gz"
    loaded.n_rows       # 2312

A spec is ``ADAPTER[:PATH_OR_HUB_ID[@SPLIT]]`` (see `harness.data.spec`): ``hh-rlhf`` alone is the
shipped harmless-base test sample, ``gsm8k-pairs`` the shipped GSM8K test split,
``ultrafeedback-binarized`` a 16-row UltraFeedback sample; ``json:``/``jsonl:``/``parquet:``/
``generic:`` read any file with ``prompt``/``chosen``/``rejected`` columns (renamed with the
``columns`` option). ``harness ls datasets`` lists the adapters.

Adapter protocol
----------------
An adapter is any callable registered in `ADAPTERS` (a lazy ``"module:attr"`` string is fine)::

    def load(req: Request) -> Iterable[PreferencePair | Drop | BadRow]

- ``req.option(name, default, kind, choices)`` reads one entry of the user's ``options`` dict,
  type-checked (``ConfigError`` naming the spec and option). Options an adapter never reads are
  reported as unknown, so read every option before yielding the first item (or before returning a
  list).
- ``req.spec`` is the resolved `DatasetSpec`: ``.path`` (local file/dir), ``.hub``, ``.split``,
  ``.kind`` ("file" | "dir" | "hub" | "none"). Synthetic adapters (``arith``) have kind "none" and
  generate pairs from their options alone.
- ``req.map_rows(convert)`` iterates the source's rows (JSON Lines, JSON, Parquet, hub via
  `datasets`) and calls ``convert(record)`` on each; ``record.index`` is the row's 0-based position
  and ``record.data`` the decoded row. ``convert`` returns a `PreferencePair` (with
  ``index=record.index``), a `Drop(reason)` for rows the adapter's policy excludes, or raises
  `BadRow(reason, detail)` for malformed rows; the row's file and line are added for you.
- Yield one item per source row: ``LoadedPairs.n_rows`` counts the items.

The loader (`harness.data.loader`) schema-checks every pair (`validate.check_pair`), applies
``on_bad_row`` ("error": `DataError` naming file, row and reason; "skip": count by reason), stops
at ``limit`` kept pairs, and raises `DataError` if nothing is left.
"""

from __future__ import annotations

from harness.registry import Registry

ADAPTERS: Registry = Registry("dataset adapter")
ADAPTERS.register("hh-rlhf", "harness.data.hh_rlhf:load")
ADAPTERS.register("ultrafeedback-binarized", "harness.data.ultrafeedback:load")
ADAPTERS.register("shp", "harness.data.shp:load")
ADAPTERS.register("gsm8k-pairs", "harness.data.gsm8k_pairs:load")
ADAPTERS.register("generic", "harness.data.generic:load")
ADAPTERS.register("json", "harness.data.generic:load_json")
ADAPTERS.register("jsonl", "harness.data.generic:load_jsonl")
ADAPTERS.register("parquet", "harness.data.generic:load_parquet")
ADAPTERS.register("arith", "harness.data.arith:load")  # synthetic two-step arithmetic pairs (the CPU workhorse)

from harness.data.loader import LoadedPairs, Request, load_pairs  # noqa: E402  (needs ADAPTERS defined first)
from harness.data.schema import PreferencePair  # noqa: E402
from harness.data.validate import BadRow, Drop  # noqa: E402

__all__ = ["ADAPTERS", "BadRow", "Drop", "LoadedPairs", "PreferencePair", "Request", "load_pairs"]
