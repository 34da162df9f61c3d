"""What explorer.html shows, as one JSON-able dict, built from what report.html is built from.

    data = explorer_payload(res, agg, title=..., intro=[...], sections=[...], tables=[main, per_run], claims=[...])

The tables are the report's own `Table`s (harness.report.table: the same texts, mean ± 95% CI),
the verdict lines are the report's, and their cells are chosen by the claims' `where`/`than`
with harness.analysis.cells (as harness.analysis.verdict chooses them). The curves' seed intervals are
harness.analysis.stats.t_interval's (t over seeds), computed per step in one pass. Generations, scores and
the optional `pairs` table are read with the store, as every other reader does. Nothing here
formats for a browser: explorer.py packs it, the JavaScript under harness/assets/explorer draws.
"""

from __future__ import annotations

import json
import math
import re

from harness.analysis.cells import display_keys, fmt_value, grid_cells, key_header, partner, select
from harness.errors import HarnessError
from harness.results.catalogue import metric

# the `steps` columns drawn as curves, with the names the README uses for them
CURVES = [("logratio_chosen", "r_w"), ("logratio_rejected", "r_l"), ("reward_margin", "margin"),
          ("frac_chosen_below_ref", "displaced share"), ("loss", "loss")]
# short URL-fragment names of the usual keys (#lr=0.001 rather than #train.learning_rate=0.001)
PARAMS = {"name": "variant", "loss.name": "loss", "loss.beta": "beta", "train.learning_rate": "lr",
          "model.name": "model", "data.train": "data"}
# keys that say *what* was trained (a curve's series); the rest (β, lr, ...) say *how* (its panel)
SERIES_KEYS = ("suite", "model.name", "data.train", "name", "loss.name")


def num(x):
    """A float for JSON: 5 significant digits (what a reader can see), None for NaN/inf/missing."""
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return float(f"{x:.5g}") if math.isfinite(x) else None


def explorer_payload(res, agg, *, title: str, intro: list[str], sections, tables, claims) -> dict:
    keys = display_keys(res)
    cells = _cells(res, keys)
    by_id = {c["id"]: c for c in cells}
    runs = {r["run_id"]: {"cell": by_id[r["cell"]]["slug"], "seed": _int(r.get("seed")), "status": r["status"]}
            for r in res.runs.to_dict("records")}
    for ref in sorted(res.reference):
        runs[ref] = {"cell": None, "seed": None, "status": "reference", "ref": True}
    main, per_run = tables
    return {
        "title": title, "intro": list(intro),
        "keys": [{"key": k, "header": key_header(k), "param": PARAMS.get(k, k)} for k in keys],
        "cells": [{k: v for k, v in c.items() if k != "id"} for c in cells],
        "sections": _sections(res, sections, claims, by_id),
        "main": _table(main, lambda row: _main_row(row, keys, cells)),
        "runsTable": _table(per_run, lambda row: {"run": row[0].text}),
        "runs": runs,
        "runMetrics": _run_metrics(res),
        "curves": curves(res, by_id),
        "gens": generations(res, runs),
        "pairs": pairs(res, runs),
    }


def _int(v):
    try:
        return int(v)
    except (TypeError, ValueError):  # None, NaN, pandas' NA
        return None


def _cells(res, keys: list[str]) -> list[dict]:
    """Every grid cell, with a readable, unique slug for deep links (#cell=dpo_0.1_0.001)."""
    from harness.report.table import _sort_key

    series = [k for k in keys if k in SERIES_KEYS]
    out, seen = [], set()
    ordered = sorted(((dict(zip(res.keys, json.loads(c), strict=True)), c) for c in dict.fromkeys(res.runs["cell"])),
                     key=lambda vc: _sort_key([vc[0][k] for k in keys]))  # the main table's row order
    for values, cell in ordered:
        labels = {PARAMS.get(k, k): fmt_value(values[k]) for k in keys}
        slug = re.sub(r"[^A-Za-z0-9._+-]+", "-", "_".join(labels.values())).strip("-") or "cell"
        base, i = slug, 2
        while slug in seen:
            slug, i = f"{base}~{i}", i + 1
        seen.add(slug)
        out.append({"id": cell, "slug": slug, "labels": labels,
                    "loss": str(values.get("loss.name", values.get("name", ""))),
                    "series": " · ".join(fmt_value(values[k]) for k in series) or "all",
                    "panel": ", ".join(f"{key_header(k)}={fmt_value(values[k])}" for k in keys if k not in series)
                             or "all runs"})
    return out


def _sections(res, sections, claims, by_id) -> list[dict]:
    """The report's opening sections; a line about a claim links to the cells that claim is about
    (a difference claim: both sides)."""
    cells = grid_cells(res)
    about = []
    for c in claims or []:
        text, where, than = c.get("text", ""), c.get("where") or {}, c.get("than")
        try:
            chosen = select(cells, where, res.keys, text)
            if than is not None:
                chosen = chosen + [partner(cells, x, than, res.keys, text) for x in chosen]
        except HarnessError:  # the verdict names the problem in its own line; nothing to link
            chosen = []
        about.append((text, list(dict.fromkeys(by_id[x["_cell"]]["slug"] for x in chosen))))
    out = []
    for heading, lines in sections or ():
        items = []
        for line in lines:
            plain = line[2:] if line[:2] in ("✓ ", "✗ ", "? ", "– ") else line
            linked = next((slugs for text, slugs in about if text and plain.startswith(text + ":")), [])
            items.append({"text": line, "cells": linked})
        out.append({"heading": heading, "lines": items})
    return out


def _table(table, row_info) -> dict:
    """A report Table with a sort value per cell: the number behind its text (mean, not mean ± h)."""
    rows = []
    for row in table.rows:
        values = [c.mean if c.mean is not None else _number(c.text) for c in row]
        rows.append({**row_info(row), "t": [c.text for c in row], "v": [num(v) if isinstance(v, float) else v
                                                                         for v in values]})
    return {"title": table.title, "notes": list(table.notes),
            "columns": [{"header": c.header, "description": c.description, "label": c.is_label}
                        for c in table.columns], "rows": rows}


def _number(text: str):
    try:
        return float(text.split("/")[0]) if text.count("/") == 1 else float(text)
    except ValueError:
        return text


def _main_row(row, keys, cells) -> dict:
    """The main table's row -> its cell: the shown key texts identify the cell (display_keys keeps
    exactly the keys that do); the reference policy's rows have none."""
    from harness.report.table import DASH

    texts = tuple(c.text for c in row[:len(keys)])
    match = [c["slug"] for c in cells if tuple(c["labels"].values()) == texts]
    if row[len(keys)].text == DASH or len(match) != 1:  # its seeds column: a dash for the reference
        return {"cell": None, "ref": True}
    return {"cell": match[0]}


def _run_metrics(res) -> dict:
    """Per run: its own value of every metric the report aggregates, for the run's card."""
    out: dict[str, dict] = {}
    for rid, name, value in zip(res.metrics["run_id"], res.metrics["metric"], res.metrics["value"], strict=True):
        out.setdefault(rid, {})[metric(name).header] = num(value)
    return out


def curves(res, by_id) -> dict:
    """Per cell and split: mean and 95% t-interval over seeds at every step (harness.analysis.stats.t_interval,
    in one vectorised pass: `n` finite values, mean ± t(n-1) * sd / sqrt(n), none below 2 seeds);
    per run and split: its own values."""
    import numpy as np

    from harness.analysis.stats import t_quantile

    cols = [c for c, _ in CURVES if c in res.steps]
    steps = res.steps.merge(res.runs[["run_id", "cell"]], on="run_id")
    steps = steps.astype({c: float for c in cols}).replace([np.inf, -np.inf], np.nan)
    steps["step"] = steps["step"].astype(int)
    quantiles: dict[int, float] = {}

    def q(k: int) -> float:
        if k < 2:
            return math.nan
        if k not in quantiles:
            quantiles[k] = t_quantile(k - 1)
        return quantiles[k]

    per_cell: dict[str, dict] = {}
    for (cell, split), g in steps.groupby(["cell", "split"], sort=False):
        stats = g.groupby("step")[cols].agg(["count", "mean", "std"])
        entry = {"x": [int(s) for s in stats.index]}
        for c in cols:
            n, m, sd = stats[(c, "count")].to_numpy(), stats[(c, "mean")].to_numpy(), stats[(c, "std")].to_numpy()
            half = np.array([q(int(k)) for k in n]) * sd / np.sqrt(np.maximum(n, 1))
            entry[c] = [[num(v) for v in m], [num(v) for v in m - half], [num(v) for v in m + half]]
        per_cell.setdefault(by_id[cell]["slug"], {})[str(split)] = entry
    per_run: dict[str, dict] = {}
    for (rid, split), g in steps.sort_values("step").groupby(["run_id", "split"], sort=False):
        per_run.setdefault(rid, {})[str(split)] = {"x": [int(s) for s in g["step"]],
                                                   **{c: [num(v) for v in g[c]] for c in cols}}
    return {"metrics": [[c, label] for c, label in CURVES if c in cols], "cell": per_cell, "run": per_run}


def _read(res, table: str):
    import pandas as pd

    from harness.results.store import ResultStore

    parts = [ResultStore(r).read(table) for r in (res.roots or (res.root,))]
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True) if parts else None


def generations(res, runs: dict) -> dict:
    """Every completion of the grid runs and the reference policies, column by column (one list
    per field: compact in JSON), with its scores; prompts once each."""
    gens = _read(res, "generations")
    if gens is None:
        return {"prompts": [], "runs": [], "rows": {}}
    gens = gens[gens["run_id"].isin(runs)]
    scores = _read(res, "scores")
    cols = [c for c in ("reward", "correct", "kl") if scores is not None and c in scores]
    if cols:
        gens = gens.merge(scores[["run_id", "prompt_id", "sample", *cols]].drop_duplicates(["run_id", "prompt_id", "sample"]),
                          on=["run_id", "prompt_id", "sample"], how="left")
    # one prompt per (id, text): folders of several suites may reuse an id for another question
    prompts = gens[["prompt_id", "prompt"] + (["gold"] if "gold" in gens else [])].drop_duplicates(["prompt_id", "prompt"])
    ids = list(prompts["prompt_id"].astype(str))
    keyed = [p if ids.count(p) == 1 else f"{p}~{ids[:i + 1].count(p)}" for i, p in enumerate(ids)]
    index = {(pid, text): i for i, (pid, text) in enumerate(zip(prompts["prompt_id"], prompts["prompt"], strict=True))}
    run_ids = list(dict.fromkeys(gens["run_id"]))
    run_index = {r: i for i, r in enumerate(run_ids)}
    rows = {"run": [run_index[r] for r in gens["run_id"]],
            "prompt": [index[(p, t)] for p, t in zip(gens["prompt_id"], gens["prompt"], strict=True)],
            "sample": [int(s) for s in gens["sample"]],
            "text": [str(t) for t in gens["completion"]],
            "tokens": [_int(t) for t in gens["completion_tokens"]],
            "finish": [None if f is None else str(f) for f in gens["finish_reason"]]}
    rows.update({c: [num(v) for v in gens[c]] for c in cols})
    golds = list(prompts["gold"]) if "gold" in prompts else [None] * len(prompts)
    return {"prompts": [{"id": k, "text": str(t), "gold": None if g is None or g != g else str(g)}
                        for k, t, g in zip(keyed, prompts["prompt"], golds, strict=True)],
            "runs": run_ids, "rows": rows}


def pairs(res, runs: dict) -> dict:
    """The per-pair table where this harness writes one, with each row's run; else why not."""
    from harness.results.schema import TABLES

    if "pairs" not in TABLES:
        return {"absent": "This results folder has no per-pair table: this version of the harness writes none."}
    table = _read(res, "pairs")
    if table is None or table.empty:
        return {"absent": "This results folder has no per-pair table rows: its runs were written before results "
                          "schema 3, or none completed with held-out pairs."}
    table = table[table["run_id"].isin(runs)].drop(columns=["schema_version"], errors="ignore")
    columns = [c for c in table.columns]
    return {"columns": columns,
            "rows": [[num(v) if isinstance(v, float) else (None if v is None else v if isinstance(v, (int, bool)) else str(v))
                      for v in row] for row in table.itertuples(index=False)]}
