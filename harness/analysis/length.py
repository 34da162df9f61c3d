"""Length control on the read side: each run's length-controlled win-rate against its reference,
from the Parquet tables (`scores`: rewards; `generations`: completion tokens; `evals`: which run is
the reference of which prompt set).

    rows = lc_rows(store, run_ids)     # [(run_id, "lc_winrate_vs_ref", value)], one per judged run
    lines = length_section(res, agg)   # the report's "Length control" lines

A run's reference is the run its evaluation marked `is_reference` with the same `prompts_hash`
(harness.evaluation writes both); a run without reward scores, or without a reference evaluated on
its prompts, has no LC win-rate. The model and its interval: harness.scoring.lc_winrate.
"""

from __future__ import annotations

import math

METRIC = "lc_winrate_vs_ref"


def _references(evals) -> dict[str, str]:
    """prompts_hash -> the reference run evaluated on it."""
    if "is_reference" not in evals or "prompts_hash" not in evals:
        return {}
    ref = evals[evals["is_reference"].fillna(False).astype(bool)]
    return dict(zip(ref["prompts_hash"], ref["run_id"], strict=True))


def lc_estimates(store, run_ids) -> dict:
    """run_id -> LCEstimate, for the runs of `run_ids` a reward model judged against a reference."""
    from harness.scoring.lc_winrate import lc_winrate

    evals = store.read("evals")
    refs = _references(evals)
    if not refs:
        return {}
    scores, gens = store.read("scores"), store.read("generations")
    if scores.empty or "reward" not in scores or gens.empty:
        return {}
    table = scores[["run_id", "prompt_id", "sample", "reward"]].merge(
        gens[["run_id", "prompt_id", "sample", "completion_tokens"]], on=["run_id", "prompt_id", "sample"])
    hashes = evals.groupby("run_id")["prompts_hash"].first() if "prompts_hash" in evals else {}
    by_run = dict(iter(table.groupby("run_id")))
    out = {}
    for rid in run_ids:
        ref_id = refs.get(hashes.get(rid)) if rid in hashes else None
        mine, theirs = by_run.get(rid), by_run.get(ref_id)
        if mine is None or theirs is None or rid == ref_id or mine["reward"].isna().all():
            continue
        both = mine.merge(theirs, on=["prompt_id", "sample"], suffixes=("", "_ref"))
        if both.empty:
            continue
        out[rid] = lc_winrate(both["reward"], both["reward_ref"], both["completion_tokens"],
                              both["completion_tokens_ref"], both["prompt_id"].astype(str).tolist())
    return out


def lc_rows(store, run_ids) -> list[tuple[str, str, float]]:
    return [(rid, METRIC, est.value) for rid, est in lc_estimates(store, run_ids).items() if est.n]


def length_section(res, agg) -> tuple[str, list[str]] | None:
    """Per cell: mean completion tokens, raw and LC win-rate with their 95% intervals over seeds,
    and a note wherever the two lie on different sides of 50%."""
    from harness.analysis.cells import display_keys, fmt_value, key_header
    from harness.report.table import ordered_cells

    if agg.empty or METRIC not in set(agg["metric"]):
        return None
    by = {(r["cell"], r["metric"]): r for r in agg.to_dict("records")}
    keys = display_keys(res)
    lines = ["LC win-rate: the reward model's preference over the reference modelled as logistic in the "
             "completion-length difference (tokens), read at zero difference (harness.scoring.lc_winrate); "
             "cells: mean over seeds with the 95% t-interval over seeds. A linear length term is one model of "
             "length bias, not a proof that none is left."]
    flips = []
    for cell in ordered_cells(res):  # in the main table's order
        raw, lc, tok = (by.get((cell["_cell"], m)) for m in ("winrate_vs_ref", METRIC, "completion_tokens_mean"))
        if raw is None or lc is None:
            continue
        name = ", ".join(f"{key_header(k)}={fmt_value(cell[k])}" for k in keys)
        text = f"{name}: tokens {_fmt(tok)}; win-rate {_fmt(raw, pct=True)}, LC {_fmt(lc, pct=True)}"
        lines.append(text)
        if (raw["mean"] - 0.5) * (lc["mean"] - 0.5) < 0:
            flips.append(f"{name}: raw {raw['mean']:.1%} vs LC {lc['mean']:.1%}")
    lines.append("Raw and LC win-rates disagree in sign (one above 50%, the other below) at: " + "; ".join(flips)
                 if flips else "Raw and LC win-rates agree in sign (both above or both below 50%) in every cell.")
    return "Length control", lines


def _fmt(row, pct: bool = False) -> str:
    if row is None:
        return "–"
    f = (lambda x: f"{100 * x:.1f}%") if pct else (lambda x: f"{x:.1f}")
    lo, hi = row.get("ci_low"), row.get("ci_high")
    if lo is None or not math.isfinite(lo):
        return f(row["mean"])
    return f"{f(row['mean'])} [{f(lo)}, {f(hi)}]"
