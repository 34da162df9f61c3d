"""The `quantile` claim: a per-pair metric in the top quantile of a pair feature minus the bottom one.

    - {kind: quantile, text: "DPO displaces the most alike pairs (top CHES quintile) more than the least alike",
       metric: pair_displaced, where: {variant: dpo, lr: max}, feature: ches, bins: 5, op: ">", value: 0}

Per cell matching `where`: the mean of the metric's `pairs` column (pair_displaced: the displaced
share) over the pairs of the top quantile of `feature` and all seeds, minus the same over the
bottom quantile, with a 95% two-way bootstrap interval (pairs and seeds resampled;
harness.analysis.pairs). A cell holds when the interval lies on the claimed side of `value`, fails
when it lies on the other side, and is not shown when it straddles it; the claim holds when every
cell holds. The bootstrap draws are seeded, so the verdict and `harness regress` agree on the same
rows. A folder without a `pairs` table (written before schema 3) gives "not shown", saying why.
"""

from __future__ import annotations

import math

from harness.analysis.verdict import Finding, _Context, _fmt_cell


def quantile_claim(c, ctx: _Context) -> Finding:
    from harness.analysis.cells import display_keys, select
    from harness.analysis.pairs import by_quantile, load_pairs
    from harness.results.catalogue import metric

    cells = select(ctx.cells, c.where, ctx.keys, f"claim {c.text}")
    if not cells:
        return Finding(c, "not shown", f"no cell matches {c.where}")
    frame = getattr(ctx, "_pairs", None)
    if frame is None:
        frame = ctx._pairs = load_pairs(ctx.res)
    if frame is None:
        return Finding(c, "not shown", "these results have no `pairs` table (written from results schema 3 on)")
    column = metric(c.metric).column or c.metric
    if column not in frame or c.feature not in frame:
        return Finding(c, "not shown", f"the pairs table has no {column!r} or {c.feature!r} column")
    shown = [k for k in display_keys(ctx.res) if k not in {_key(k2) for k2 in c.where if c.where[k2] not in ("max", "min")}]
    side, value = (1.0 if c.op.startswith(">") else -1.0), c.threshold
    rows = []
    for cell in cells:
        q = by_quantile(frame[frame["cell"] == cell["_cell"]], c.feature, column, bins=c.bins)
        if q is None:
            continue
        d = q.top_minus_bottom
        near, far = (d.ci_low, d.ci_high) if side > 0 else (d.ci_high, d.ci_low)
        if math.isnan(near):
            near = far = d.value
        state = "holds" if side * (near - value) > 0 else "fails" if side * (far - value) < 0 else "not shown"
        rows.append((side * (near - value), cell, q, state))
    if not rows:
        return Finding(c, "not shown", f"no cell has {c.feature} and {column} for {c.bins} quantiles")
    states = [r[3] for r in rows]
    status = "fails" if "fails" in states else "holds" if all(s == "holds" for s in states) else "not shown"
    _, cell, q, _ = min(rows, key=lambda r: r[0])

    def line(cl, q):
        return (f"{_fmt_cell(cl, shown) or 'the cell'}: {c.metric} {q.shares[0].text(3)} in the bottom {c.feature} "
                f"quantile, {q.shares[-1].text(3)} in the top; top − bottom {q.top_minus_bottom.text(3)}")

    counts = ", ".join(f"{states.count(s)} {s}" for s in ("holds", "not shown", "fails") if states.count(s))
    unresolved = tuple(line(cl, qq) for _, cl, qq, st in rows if st != "holds")
    return Finding(c, status, f"{counts} of {len(rows)} cells (top − bottom of {c.bins} {c.feature} quantiles vs "
                              f"{value:g}; 95% bootstrap over {q.pairs} pairs and {q.seeds} seeds); "
                              f"weakest: {line(cell, q)}", unresolved)


def _key(k: str) -> str:
    from harness.analysis.cells import key_of

    return key_of(k)
