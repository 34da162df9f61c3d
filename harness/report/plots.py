"""PNG plots from the results tables (matplotlib, Agg backend: no display needed).

    training_curves(res, "results/x/curves.png")      # chosen/rejected log-ratio per step, a panel per beta (x lr)
    frontier(res, agg, "results/x/frontier.png")       # eval reward vs KL, one line per variant across beta

Curves are means over seeds of the training split, lightly smoothed (a rolling mean over ~2% of
the steps) because one training batch is noisy; chosen is solid, rejected dashed, and the zero
line marks the reference: a chosen curve below it is likelihood displacement.
"""

from __future__ import annotations

import json
from pathlib import Path

from harness.report.table import fmt_value, key_header
from harness.summary import Results, display_keys

PANEL_COLS, PANEL_ROWS = "loss.beta", "train.learning_rate"


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


def training_curves(res: Results, path: str | Path) -> Path | None:
    steps = res.steps
    if steps is None or steps.empty or "logratio_chosen" not in steps:
        return None
    train = steps[steps["split"] == "train"].merge(res.runs, on="run_id")
    if train.empty:
        return None
    plt = _pyplot()
    cols = sorted(train[PANEL_COLS].unique()) if PANEL_COLS in res.keys else [None]
    rows = sorted(train[PANEL_ROWS].unique()) if PANEL_ROWS in res.keys else [None]
    series = _series_keys(res)
    fig, axes = plt.subplots(len(rows), len(cols), figsize=(4.2 * len(cols), 3.2 * len(rows)),
                             squeeze=False, sharex=True)
    colors = {}
    for i, lr in enumerate(rows):
        for j, beta in enumerate(cols):
            ax = axes[i][j]
            part = train
            if beta is not None:
                part = part[part[PANEL_COLS] == beta]
            if lr is not None:
                part = part[part[PANEL_ROWS] == lr]
            groups = part.groupby(series, sort=True) if series else [((), part)]
            for key, g in groups:
                label = _label(dict(zip(series, key if isinstance(key, tuple) else (key,), strict=True)), series)
                color = colors.setdefault(label, f"C{len(colors) % 10}")
                mean = g.groupby("step")[["logratio_chosen", "logratio_rejected"]].mean()
                window = max(1, len(mean) // 50)
                smooth = mean.rolling(window, min_periods=1).mean()
                ax.plot(smooth.index, smooth["logratio_chosen"], color=color, label=f"{label} chosen")
                ax.plot(smooth.index, smooth["logratio_rejected"], color=color, ls="--", label=f"{label} rejected")
            ax.axhline(0, color="0.5", lw=0.8)
            title = [f"β={fmt_value(beta)}" if beta is not None else "", f"lr={fmt_value(lr)}" if lr is not None else ""]
            ax.set_title(" ".join(t for t in title if t), fontsize=10)
            if i == len(rows) - 1:
                ax.set_xlabel("step")
            if j == 0:
                ax.set_ylabel("log π/π_ref (mean over seeds)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(4, max(1, len(labels))), fontsize=8,
               bbox_to_anchor=(0.5, 0), frameon=False)
    fig.tight_layout(rect=(0, 0.06 + 0.02 * (len(labels) // 4), 1, 1))
    return _save(fig, path)


def frontier(res: Results, agg, path: str | Path, *, x: str = "kl_mean",
             ys: tuple[str, ...] = ("reward_mean", "verifier_accuracy")) -> Path | None:
    """Reward-KL frontier: each point a (variant, beta[, lr]) cell, lines join betas of a variant.
    Without a reward model (arithmetic suites) the verifier's accuracy is the reward."""
    have = set(agg["metric"]) if agg is not None and not agg.empty else set()
    y = next((m for m in ys if m in have), None)
    if x not in have or y is None:
        return None
    wide = agg.pivot_table(index="cell", columns="metric", values="mean").dropna(subset=[x, y])
    if wide.empty:
        return None
    plt = _pyplot()
    series = [k for k in _series_keys(res)] + ([PANEL_ROWS] if PANEL_ROWS in res.keys else [])
    cells = {c: dict(zip(res.keys, json.loads(c), strict=True)) for c in wide.index}
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    lines: dict[str, list] = {}
    for cell, row in wide.iterrows():
        vals = cells[cell]
        lines.setdefault(_label(vals, series), []).append((vals.get(PANEL_COLS), row[x], row[y]))
    for i, (label, pts) in enumerate(sorted(lines.items())):
        pts.sort(key=lambda p: (p[0] is None, p[0] or 0))
        ax.plot([p[1] for p in pts], [p[2] for p in pts], marker="o", color=f"C{i % 10}", label=label)
        for beta, px, py in pts:
            if beta is not None:
                ax.annotate(f"β={fmt_value(beta)}", (px, py), fontsize=7, xytext=(3, 3), textcoords="offset points")
    for ref_id, values in sorted(res.reference.items()):  # where every run started
        if x in values and y in values:
            ax.plot([values[x]], [values[y]], marker="*", ms=12, color="k", ls="", label=f"reference {ref_id[:8]}")
    from harness.summary import metric

    ax.set_xlabel(f"{metric(x).header} (mean over seeds)")
    ax.set_ylabel(f"{metric(y).header} (mean over seeds)")
    ax.set_title(f"{metric(y).header} vs {metric(x).header} across {key_header(PANEL_COLS)}", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def _save(fig, path) -> Path:
    path = Path(path)
    fig.savefig(path, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path
