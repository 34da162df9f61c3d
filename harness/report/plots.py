"""PNG plots from the results tables (matplotlib, Agg backend: no display needed).

    training_curves(res, "results/x/curves.png")      # chosen/rejected log-ratio per step, a panel per beta (x lr)
    frontier(res, agg, "results/x/frontier.png")       # eval reward vs KL (log x), one line per variant across beta
    frontier(res, agg, path, ys=("verifier_accuracy",))  # choose y (first one with data wins)

`curves_figure` / `frontier_figure` build the same figures without saving them (tests read them).
Curves are means over seeds of the training split, lightly smoothed (a rolling mean over ~2% of
the steps) because one training batch is noisy; chosen is solid, rejected dashed, and the zero
line marks the reference: a chosen curve below it is likelihood displacement.
A series (colour) is a variant; its colour is the same in every panel and in both figures.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from harness.analysis.cells import display_keys, fmt_value, key_header
from harness.analysis.frame import Results
from harness.results.catalogue import metric

PANEL_COLS, PANEL_ROWS = "loss.beta", "train.learning_rate"
CURVES = (("logratio_chosen", "-", "chosen r_w"), ("logratio_rejected", "--", "rejected r_l"))
BETA_MARKERS = "os^Dvphd<>"  # not "*": that is the reference policy
LR_STYLES = ("-", "--", ":", "-.")
YS = ("reward_mean", "verifier_accuracy")  # frontier's y: the first of these with data
STYLE_GREY = "0.35"  # legend keys for a style (marker, dash) rather than a series


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _series_keys(res: Results) -> list[str]:
    return [k for k in display_keys(res) if k not in (PANEL_COLS, PANEL_ROWS)]


def _label(row: dict, keys: list[str]) -> str:
    """"dpo, lr=0.001": the first key's value bare (it is the variant), the rest named."""
    parts = [fmt_value(row[k]) if i == 0 else f"{key_header(k)}={fmt_value(row[k])}" for i, k in enumerate(keys)]
    return ", ".join(parts) or "runs"


def _labels(frame, keys: list[str]) -> list[str]:
    """The series label of every row of `frame` (which has the `keys` columns)."""
    return [_label(dict(zip(keys, vals, strict=True)), keys) for vals in frame[keys].itertuples(index=False, name=None)]


def _colors(res: Results) -> dict[str, str]:
    """Series label -> colour, over every grid run and sorted: a series missing from one panel (the
    SFT control exists at one beta only) cannot shift the others' colours there or in the other figure."""
    return {lab: f"C{i % 10}" for i, lab in enumerate(sorted(set(_labels(res.runs, _series_keys(res)))))}


def _handle(label: str, **style):
    from matplotlib.lines import Line2D

    return Line2D([], [], label=label, **style)


# ---------------------------------------------------------------- training curves
def curves_figure(res: Results):
    steps = res.steps
    if steps is None or steps.empty or "logratio_chosen" not in steps:
        return None
    train = steps[steps["split"] == "train"].merge(res.runs, on="run_id")
    if train.empty:
        return None
    plt = _pyplot()
    train = train.assign(_series=_labels(train, _series_keys(res)))
    colors = _colors(res)
    cols = sorted(train[PANEL_COLS].unique()) if PANEL_COLS in res.keys else [None]
    rows = sorted(train[PANEL_ROWS].unique()) if PANEL_ROWS in res.keys else [None]
    fig, axes = plt.subplots(len(rows), len(cols), figsize=(4.2 * len(cols), 3.2 * len(rows) + 0.6),
                             squeeze=False, sharex=True, layout="constrained")
    drawn: set[str] = set()
    for i, lr in enumerate(rows):
        for j, beta in enumerate(cols):
            ax = axes[i][j]
            part = train
            if beta is not None:
                part = part[part[PANEL_COLS] == beta]
            if lr is not None:
                part = part[part[PANEL_ROWS] == lr]
            for label, g in part.groupby("_series", sort=True):
                mean = g.groupby("step")[[c for c, _, _ in CURVES]].mean()
                smooth = mean.rolling(max(1, len(mean) // 50), min_periods=1).mean()
                for col, ls, _ in CURVES:
                    ax.plot(smooth.index, smooth[col], color=colors[label], ls=ls, label=label)
                drawn.add(label)
            ax.axhline(0, color="0.5", lw=0.8)
            title = [f"β={fmt_value(beta)}" if beta is not None else "", f"lr={fmt_value(lr)}" if lr is not None else ""]
            ax.set_title(" ".join(t for t in title if t), fontsize=10)
            if i == len(rows) - 1:
                ax.set_xlabel("step")
            if j == 0:
                ax.set_ylabel("log π/π_ref (mean over seeds)")
    # the legend is built from what was drawn in any panel, not read off the first one: one entry
    # per series (its colour), then the key for the two line styles
    handles = [_handle(lab, color=colors[lab], lw=2) for lab in sorted(drawn)]
    handles += [_handle(name, color=STYLE_GREY, ls=ls) for _, ls, name in CURVES]
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 6), fontsize=8, frameon=False)
    return fig


def training_curves(res: Results, path: str | Path) -> Path | None:
    fig = curves_figure(res)
    return None if fig is None else _save(fig, path)


# ---------------------------------------------------------------- reward-KL frontier
def _interval(row) -> tuple[float, float] | None:
    """(ci_low, ci_high) of an aggregated row, or None: one seed has no interval."""
    lo, hi = row.get("ci_low", math.nan), row.get("ci_high", math.nan)
    if row.get("n", 0) < 2 or not (math.isfinite(lo) and math.isfinite(hi)):
        return None
    return float(lo), float(hi)


def _points(res: Results, agg, x: str, y: str) -> list[dict]:
    """One point per cell with both metrics: its keys, series label, means and intervals."""
    by = {m: {r["cell"]: r for r in agg[agg["metric"] == m].to_dict("records")} for m in (x, y)}
    series = _series_keys(res)
    out = []
    for cell in sorted(set(by[x]) & set(by[y])):
        rx, ry = by[x][cell], by[y][cell]
        if not (math.isfinite(rx["mean"]) and math.isfinite(ry["mean"])):
            continue
        keys = dict(zip(res.keys, json.loads(cell), strict=True))
        out.append({"series": _label(keys, series), "beta": keys.get(PANEL_COLS), "lr": keys.get(PANEL_ROWS),
                    "x": rx["mean"], "y": ry["mean"], "xci": _interval(rx), "yci": _interval(ry)})
    return out


def _log_floor(values: list[float]) -> float:
    """Where a KL <= 0 is drawn on the log axis: a decade below the smallest positive value, so
    such points sit apart at the left edge instead of vanishing.

    Why clip rather than symlog: KL spans ~0.01 (gentle runs) to ~200 (DPO at a high learning
    rate); symlog needs a linear band around 0 whose width is arbitrary, squashes the gentle runs
    into it and mirrors negative sample estimates into decades of their own. One log axis whose
    label says where zero went reads honestly."""
    positive = [v for v in values if v > 0]
    return min(positive) / 10 if positive else 1e-3


def frontier_figure(res: Results, agg, *, x: str = "kl_mean", ys: tuple[str, ...] = YS):
    """Reward-KL frontier: each point a (variant, beta[, lr]) cell, mean over seeds with 95% CI bars
    on both axes where there are >=2 seeds; lines join the betas of a variant (one line per lr).
    The first metric of `ys` that has data is y: without a reward model (arithmetic suites), or
    with one at chance, the caller passes verifier accuracy."""
    have = set(agg["metric"]) if agg is not None and not agg.empty else set()
    y = next((m for m in ys if m in have), None)
    if x not in have or y is None:
        return None
    pts = _points(res, agg, x, y)
    if not pts:
        return None
    refs = [(rid, v[x], v[y]) for rid, v in sorted(res.reference.items()) if x in v and y in v]
    xs = [p["x"] for p in pts] + [p["xci"][0] for p in pts if p["xci"]] + [r[1] for r in refs]
    floor = _log_floor(xs)

    def clip(v: float) -> float:
        return max(v, floor)  # every positive value is >= 10 * floor

    plt = _pyplot()
    colors = _colors(res)
    betas = sorted({p["beta"] for p in pts if p["beta"] is not None})
    lrs = sorted({p["lr"] for p in pts if p["lr"] is not None})
    marker = {b: BETA_MARKERS[i % len(BETA_MARKERS)] for i, b in enumerate(betas)}
    style = {lr: LR_STYLES[i % len(LR_STYLES)] for i, lr in enumerate(lrs)} if len(lrs) > 1 else {}
    fig, ax = plt.subplots(figsize=(7.8, 4.6), layout="constrained")
    lines: dict[tuple, list[dict]] = {}
    for p in pts:
        lines.setdefault((p["series"], p["lr"]), []).append(p)
    for (label, lr), group in sorted(lines.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0)):
        group.sort(key=lambda p: p["beta"] or 0)
        color = colors.get(label, "k")
        ax.plot([clip(p["x"]) for p in group], [p["y"] for p in group], color=color, ls=style.get(lr, "-"), lw=1.2)
        for p in group:
            px = clip(p["x"])
            if p["xci"] or p["yci"]:
                xerr = [[px - clip(p["xci"][0])], [clip(p["xci"][1]) - px]] if p["xci"] else None
                yerr = [[p["y"] - p["yci"][0]], [p["yci"][1] - p["y"]]] if p["yci"] else None
                ax.errorbar([px], [p["y"]], xerr=xerr, yerr=yerr, fmt="none", ecolor=color, elinewidth=0.8,
                            capsize=2, alpha=0.6)
            ax.plot([px], [p["y"]], marker=marker.get(p["beta"], "o"), color=color, ms=6, ls="")
    for _ref_id, rx, ry in refs:  # where every run started
        ax.plot([clip(rx)], [ry], marker="*", ms=12, color="k", ls="")
    ax.set_xscale("log")
    if min(xs) <= 0:  # mark the floor, so a clipped point is not read as a real small KL
        ax.axvline(floor, color="0.6", lw=0.8, ls=":")

    xm, ym = metric(x), metric(y)
    note = f"; ≤ 0 drawn at {floor:.2g}, dotted" if min(xs) <= 0 else ""
    ax.set_xlabel(f"{xm.header} to the reference (log scale{note}), mean over seeds ± 95% CI")
    ax.set_ylabel(f"{ym.header} (mean over seeds ± 95% CI)")
    fig.suptitle(f"{ym.header} vs {xm.header} across {key_header(PANEL_COLS)}", fontsize=11)
    if ym.description:
        ax.set_title(f"y: {ym.description}", fontsize=8, color="0.3")
    # one legend, style by style: colours are variants, dashes learning rates, markers betas
    handles = [_handle(lab, color=colors.get(lab, "k"), lw=2) for lab in sorted({p["series"] for p in pts})]
    handles += [_handle(f"lr={fmt_value(lr)}", color=STYLE_GREY, ls=ls) for lr, ls in style.items()]
    handles += [_handle(f"β={fmt_value(b)}", color=STYLE_GREY, marker=m, ls="") for b, m in marker.items()]
    handles += [_handle(f"reference {rid[:8]}", color="k", marker="*", ms=10, ls="") for rid, _, _ in refs]
    fig.legend(handles=handles, loc="outside right upper", fontsize=8, frameon=False)
    return fig


def frontier(res: Results, agg, path: str | Path, *, x: str = "kl_mean", ys: tuple[str, ...] = YS) -> Path | None:
    fig = frontier_figure(res, agg, x=x, ys=ys)
    return None if fig is None else _save(fig, path)


def _save(fig, path) -> Path:
    path = Path(path)
    fig.savefig(path, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path
