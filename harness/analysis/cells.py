"""Grid cells: which config keys make a cell (`cell_keys`, `cell_id`, `display_keys`), and
selecting cells by their key values: what expectations (harness.regress) and verdict
claims (harness.analysis.verdict) say "at every β", "the high learning rate" or "the SFT control" with.

    cells = grid_cells(res)                                   # [{"name": "dpo", "loss.beta": 0.1, ..., "_cell": id}]
    select(cells, {"variant": "dpo", "lr": "max"}, res.keys, "my claim")     # every DPO cell at the highest lr
    partner(cells, cell, {"variant": "sft"}, res.keys, "my claim")           # the control cell to compare with

Keys are grid keys (`harness.analysis.frame`), with the aliases loss, beta, lr, variant; a value `max`
or `min` picks the extreme value of that key among the cells selected so far. The partner of a
cell is the one cell matching `where` that agrees with it on every other key that distinguishes
the candidates: an SFT control run at one β pairs with every β, a control per learning rate pairs
on the learning rate. An unknown key, or zero or several partners, is bad input (a HarnessError
naming the claim), never a silent pass.
"""

from __future__ import annotations

import json
import math
from typing import Any

from harness.errors import HarnessError
from harness.results.catalogue import grid_key, key_aliases, non_cell_keys, ordered_keys

# every name below comes from the catalogue's grid keys (harness.results.catalogue.KEYS)
IGNORED_KEYS = non_cell_keys()  # keys that never identify a cell: seeds, paths, machine placement
KEY_ORDER = ordered_keys()
ALIASES = key_aliases()


def grid_cells(res) -> list[dict]:
    """One dict per grid cell of a `Results`: its key values, plus `_cell` (the cell id)."""
    keys = list(res.keys)
    return [dict(zip(keys, json.loads(c), strict=True), _cell=c) for c in dict.fromkeys(res.runs["cell"])]


def same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and not isinstance(a, bool):
        try:
            return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
        except (TypeError, ValueError):
            return False
    return str(a) == str(b)


def key_of(raw_key: str) -> str:
    return ALIASES.get(raw_key, raw_key)


def select(cells: list[dict], where: dict, keys: list[str], name: str) -> list[dict]:
    out = cells
    for raw_key, want in where.items():
        key = key_of(raw_key)
        if key not in keys:
            raise HarnessError(f"{name!r}: {raw_key!r} is not a grid key (keys: {', '.join(keys)})")
        if want in ("max", "min"):
            vals = [c[key] for c in out]
            want = (max if want == "max" else min)(vals) if vals else None
        out = [c for c in out if same(c[key], want)]
    return out


def partner(cells: list[dict], cell: dict, where: dict, keys: list[str], name: str) -> dict:
    cands = select(cells, where, keys, name)
    fixed = {key_of(k) for k in where}
    for k in keys:
        if k not in fixed and len({repr(c[k]) for c in cands}) > 1:
            cands = [c for c in cands if same(c[k], cell[k])]
    if len(cands) != 1:
        raise HarnessError(f"{name!r}: {len(cands)} cells match {where} for "
                           f"{ {k: cell[k] for k in keys} } (need exactly one)")
    return cands[0]


def label(cell: dict, keys: list[str]) -> dict:
    return {k: cell[k] for k in keys}


def fmt_value(v: Any) -> str:
    """A grid value as tables show it: 0.1, 0.0002, 1e-06, 300 (no trailing zeros); NaN/None as –."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def key_header(key: str) -> str:
    return grid_key(key).header


def cell_keys(config) -> list[str]:
    """Config keys that vary across runs, minus seeds and paths: what a table row is."""
    varying = [c for c in config.columns if config[c].astype(str).nunique(dropna=False) > 1]
    keys = [c for c in varying if c not in IGNORED_KEYS and c.rsplit(".", 1)[-1] != "seed"]
    return sorted(keys, key=lambda k: (KEY_ORDER.index(k) if k in KEY_ORDER else len(KEY_ORDER), k))


def display_keys(res) -> list[str]:
    """Cell keys of `res` (a harness.analysis.frame.Results) to show: a key that is a function of an earlier shown key (loss.name given the
    variant name) adds nothing and is dropped."""
    shown: list[str] = []
    runs = res.runs.astype({k: str for k in res.keys})
    for k in res.keys:
        if not any(runs.groupby(s)[k].nunique().max() <= 1 for s in shown):
            shown.append(k)
    return shown


def plain(v: Any) -> Any:
    """numpy scalar -> Python, NaN -> None: cell key values compare and serialise the same
    whether they come from the runs table or a baseline's Parquet."""
    if hasattr(v, "item"):
        v = v.item()
    return None if isinstance(v, float) and math.isnan(v) else v


def cell_id(values) -> str:
    """Identity of a grid cell: its key values, in key order, as JSON."""
    return json.dumps([plain(v) for v in values], default=str)
