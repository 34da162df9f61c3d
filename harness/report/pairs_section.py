"""The report's "Which pairs displace" section and its plot, from the `pairs` table.

    heading, lines = pairs_section(res, frame)            # frame = harness.analysis.pairs.load_pairs(res)
    path = displacement_plot(res, frame, root / "displacement_by_ches.png")

Per grid cell: the displaced share (held-out pairs with final r_w < 0) in the lowest and highest
CHES quintile and their difference, the same difference by quintile of the token edit distance
between the responses, and Spearman's rho between CHES and the final r_w, each with its 95%
two-way bootstrap interval (pairs and seeds resampled: harness.analysis.pairs). The plot pools
the β values of a variant at each learning rate (its runs are then the resampled units).
"""

from __future__ import annotations

from pathlib import Path

from harness.analysis.cells import display_keys, fmt_value, key_header
from harness.analysis.pairs import by_quantile, protection, spearman
from harness.report.table import ordered_cells

HEADING = "Which pairs displace"
PLOT = "displacement_by_ches.png"
CAPTION = ("Displaced share of held-out pairs (final r_w < 0) by CHES quintile of the pair under the reference, "
           "one line per variant, β pooled (bars: 95% two-way bootstrap over pairs and runs)")


def _label(row: dict, keys: list[str]) -> str:
    return ", ".join(f"{key_header(k)}={fmt_value(row[k])}" for k in keys)


def pairs_section(res, frame) -> tuple[str, list[str]]:
    keys = [k for k in display_keys(res) if k in frame]
    lines = [f"{frame['pair_index'].nunique()} held-out pairs per run, CHES of each pair under the reference "
             "(⟨Σh+, Σh−⟩ − ‖Σh+‖²: larger = chosen and rejected more alike). Per cell: displaced share in the "
             "lowest → highest CHES quintile, the difference, the same difference by edit-distance quintile, and "
             "Spearman's ρ(CHES, final r_w); 95% intervals from a bootstrap that resamples pairs (seeds of a pair "
             "together) and seeds (pairs of a seed together)."]
    by_cell = dict(iter(frame.groupby("cell", sort=False)))
    for cell in ordered_cells(res):  # in the main table's order
        g = by_cell.get(cell["_cell"])
        if g is None:
            continue
        row = g.iloc[0].to_dict()
        q, e, rho = by_quantile(g, "ches"), by_quantile(g, "edit_distance"), spearman(g, "ches", "chosen_logratio")
        if q is None:
            continue
        parts = [f"displaced {q.shares[0].text(pct=True)} → {q.shares[-1].text(pct=True)}, "
                 f"top − bottom CHES quintile {q.top_minus_bottom.text()}"]
        if e is not None:
            parts.append(f"by edit distance {e.top_minus_bottom.text()}")
        if rho is not None:
            parts.append(f"ρ(CHES, r_w) {rho.text()}")
        lines.append(f"{_label(row, keys)}: " + "; ".join(parts) + f" ({q.seeds} seeds)")
    series, panel = _series(res, frame)
    for value, sub in (frame.groupby(panel, sort=True) if panel else [(None, frame)]):
        where = f" at {key_header(panel)}={fmt_value(value)}" if panel else ""
        for p in protection(sub, series) if series else []:
            lines.append(f"{p.other}{where}: displaced on {p.on_displaced.text(pct=True)} of the {p.n_displaced} pairs "
                         f"{p.worst} displaces in most of its runs, on {p.on_rest.text(pct=True)} of the other "
                         f"{p.n_rest}; difference {p.difference.text()} (β and seeds pooled; bootstrap over pairs)")
    lines.append("What this cannot show: CHES, length and edit distance move together on these pairs, so a "
                 "quintile trend is an association, not a cause; one held-out set of one task.")
    return HEADING, lines


def _series(res, frame) -> tuple[str | None, str | None]:
    keys = display_keys(res)
    series = next((k for k in ("name", "loss.name") if k in keys and k in frame), None)
    panel = "train.learning_rate" if "train.learning_rate" in keys and "train.learning_rate" in frame else None
    return series, panel


def displacement_plot(res, frame, path: str | Path) -> Path | None:
    from harness.report.plots import _pyplot, _save

    series, panel = _series(res, frame)
    panels = sorted(frame[panel].dropna().unique()) if panel else [None]
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), sharey=True, squeeze=False)
    drawn = False
    for ax, value in zip(axes[0], panels, strict=True):
        sub = frame if panel is None else frame[frame[panel] == value]
        groups = sub.groupby(series, sort=True) if series else [("runs", sub)]
        for i, (name, g) in enumerate(groups):
            q = by_quantile(g.assign(seed=g["run_id"]), "ches")  # β pooled: each run is a resampled unit
            if q is None:
                continue
            xs = [k + 1 + (i - 1.5) * 0.06 for k in range(len(q.shares))]
            ys = [s.value for s in q.shares]
            err = [[s.value - s.ci_low for s in q.shares], [s.ci_high - s.value for s in q.shares]]
            ax.errorbar(xs, ys, yerr=err, marker="o", capsize=3, label=str(name), color=f"C{i % 10}")
            drawn = True
        ax.set_title(f"{key_header(panel)} = {fmt_value(value)}" if panel else "all runs")
        ax.set_xlabel("CHES quintile (1 = least alike)")
        ax.set_ylim(-0.02, 1.02)
    if not drawn:
        plt.close(fig)
        return None
    axes[0][0].set_ylabel("displaced share (r_w < 0)")
    axes[0][-1].legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)
