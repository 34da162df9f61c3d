"""The verdict: a suite's claims, each tested on its results with an effect size and a 95% interval.

    report:
      claims:
        - {kind: sign, text: "MinorDPO keeps the chosen log-ratio above 0 at every β and lr",
           metric: final_logratio_chosen, where: {variant: minor_dpo}, op: ">", value: 0}
        - {kind: difference, text: "Verifier accuracy, MinorDPO − DPO", metric: verifier_accuracy,
           where: {variant: minor_dpo}, than: {variant: dpo}, by: [lr]}
      caveats: ["one synthetic task and one 0.6M-parameter model"]

    findings = verdict(load_results("results/minordpo-arith"), claims)   # [Finding, ...]; str(f) is one line

Three kinds (registry `harness.analysis.claims.CLAIM_KINDS`; the same claims are a baseline's
expectations in `harness regress`):
- **sign**: in every cell matching `where`, the mean of `metric` over seeds is `op` `value`.
  Per cell, the 95% t-interval over seeds decides: it lies on the claimed side (holds), on the
  other side (fails), or straddles `value` (not shown). The line reports the cell with the least
  margin, with its interval.
- **difference**: mean(`where`) − mean(`than`) of `metric`, one estimate per value of the `by`
  keys (e.g. per learning rate), averaged over the other keys (β). Paired: runs with the same seed
  share initialisation and data order, so each seed gives one difference, and the interval is a
  paired t-interval over seeds. When the metric is a mean over held-out prompts (verifier
  accuracy, reward, KL), the interval also carries the sampling of those prompts: the paired
  per-prompt differences' standard error is added in quadrature (Welch–Satterthwaite degrees of
  freedom), so the claim is about the task, not just these 128 questions. An interval that
  excludes 0 shows a difference; one that includes 0 shows none, and the line says so.
- **bound**: in every cell matching `where`, a statistic over seeds (`stat`: mean, min, max, or an
  end of the 95% t-interval) is `op` a constant `value`, or the partner cell's value plus `offset`.
  Deterministic: what a baseline requires to keep holding ("every DPO seed at the high lr ends
  below 0"); the finding lists the tightest cell, and regress each cell's comparison.
The cell `than` pairs with follows harness.analysis.cells.partner (an SFT control without β pairs with
every β of the other side). Claims about metrics the reward model produces are "not a finding"
while the reward model is at chance (harness.analysis.frame.RMSignal). Every number comes from the
Parquet tables; nothing is parsed from logs.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

from harness.analysis.cells import grid_cells, label, partner, select
from harness.analysis.claims import ClaimSpec, judge
from harness.results.catalogue import sample_columns


@dataclasses.dataclass(frozen=True)
class Finding:
    claim: ClaimSpec
    status: Literal["holds", "fails", "not shown", "no signal"]
    detail: str  # effect size and interval, in words
    unresolved: tuple[str, ...] = ()  # the cells / groups whose interval could not decide, in words
    checks: tuple = ()  # bound: each cell's comparison (harness.regress.checks.CheckResult)

    def __str__(self) -> str:
        mark = {"holds": "✓", "fails": "✗", "not shown": "?", "no signal": "–"}[self.status]
        return f"{mark} {self.claim.text}: {self.detail}"


@dataclasses.dataclass(frozen=True)
class Estimate:
    mean: float
    ci_low: float
    ci_high: float
    n: int  # seeds
    prompts: int = 0  # held-out prompts in the interval (0: seed spread only)

    def text(self, digits: int = 3) -> str:
        if math.isnan(self.ci_low):
            return f"{self.mean:+.{digits}f} (one seed, no interval)"
        return f"{self.mean:+.{digits}f} (95% CI {self.ci_low:+.{digits}f} to {self.ci_high:+.{digits}f})"


def verdict(res, claims: list, agg=None) -> list[Finding]:
    """The findings of `claims` (ClaimSpecs, or plain dicts as suite.json holds them)."""
    from harness.analysis.frame import aggregate

    ctx = _Context(res, aggregate(res) if agg is None else agg)
    return [judge(c, ctx) for c in [as_claim(c, "report.claims") for c in claims]]


def as_claim(c, source: str) -> ClaimSpec:
    """A ClaimSpec from itself or a recorded mapping. A results folder's suite.json holds every
    field of the claims as they were then, defaults included: keys the claim's kind does not take
    are dropped when they hold nothing ("", None, [], {}) or an older default (op, value 0)."""
    if isinstance(c, ClaimSpec):
        return c
    from harness.analysis.claims import CLAIM_KINDS, COMMON, from_expectation
    from harness.config import from_dict

    c = from_expectation(c)
    if isinstance(c, dict) and c.get("kind") in CLAIM_KINDS:
        takes = {f.name for f in dataclasses.fields(CLAIM_KINDS.get(c["kind"]).params)} | set(COMMON)
        c = {k: v for k, v in c.items() if k in takes or v not in (None, [], {}, "", 0, 0.0, ">", "mean")}
    return from_dict(ClaimSpec, c, source=source)


class _Context:
    """Per-seed values and per-prompt scores of one results folder, read once."""

    def __init__(self, res, agg):
        from harness.results.store import ResultStore

        self.res, self.keys, self.cells = res, list(res.keys), grid_cells(res)
        self.by = {(r["cell"], r["metric"]): r for r in agg.to_dict("records")}
        merged = res.metrics.merge(res.runs[["run_id", "cell", "seed"]], on="run_id")
        self.per_seed = {(c, m, s): float(v) for c, m, s, v in
                         zip(merged["cell"], merged["metric"], merged["seed"], merged["value"], strict=True)}
        self.run_of = {(c, s): rid for rid, c, s in zip(res.runs["run_id"], res.runs["cell"], res.runs["seed"],
                                                        strict=True)}
        self.seeds = sorted(set(res.runs["seed"].dropna()))
        self._scores = None
        self.store = ResultStore(res.root)

    def scores(self):
        if self._scores is None:
            import pandas as pd

            from harness.results.store import ResultStore

            stores = [ResultStore(r) for r in self.res.roots] if self.res.roots else [self.store]
            self._scores = pd.concat([s.read("scores") for s in stores], ignore_index=True)
        return self._scores

    def no_signal(self, metric: str) -> bool:
        from harness.results.catalogue import metric as catalogue

        return catalogue(metric).needs_rm and (self.res.rm is None or not self.res.rm.informative)


def _fmt_cell(cell: dict, keys: list[str]) -> str:
    from harness.analysis.cells import fmt_value, key_header

    return ", ".join(f"{key_header(k)}={fmt_value(v)}" for k, v in label(cell, keys).items())


def sign_claim(c: ClaimSpec, ctx: _Context) -> Finding:
    from harness.analysis.cells import display_keys

    if ctx.no_signal(c.metric):
        return Finding(c, "no signal", "the reward model is at chance")
    cells = select(ctx.cells, c.where, ctx.keys, f"claim {c.text}")
    if not cells:  # the cells are missing, not the metric (harness.suite.claims refuses a where: typo at load)
        return Finding(c, "not shown", f"no cell matches {c.where}")
    shown = [k for k in display_keys(ctx.res) if k not in {_key(k2) for k2 in c.where if c.where[k2] not in ("max", "min")}]
    side = 1.0 if c.op.startswith(">") else -1.0
    rows = []
    for cell in cells:
        r = ctx.by.get((cell["_cell"], c.metric))
        if r is None:
            continue
        est = Estimate(float(r["mean"]), float(r["ci_low"]), float(r["ci_high"]), int(r["n"]))
        near, far = (est.ci_low, est.ci_high) if side > 0 else (est.ci_high, est.ci_low)
        if math.isnan(near):
            near = far = est.mean
        value = c.threshold
        state = "holds" if side * (near - value) > 0 else "fails" if side * (far - value) < 0 else "not shown"
        runs = [v for v in r["values"] if v == v]
        rows.append((side * (near - value), cell, est, state, sum(side * (v - value) > 0 for v in runs), len(runs)))
    if not rows:
        return Finding(c, "not shown", f"no cell has {c.metric}")
    states = [row[3] for row in rows]
    status = "fails" if "fails" in states else "holds" if all(s == "holds" for s in states) else "not shown"
    _, cell, est, _, _, _ = min(rows, key=lambda r: r[0])  # the least conclusive cell: its interval's near end
    counts = ", ".join(f"{states.count(s)} {s}" for s in ("holds", "not shown", "fails") if states.count(s))
    k, n = sum(r[4] for r in rows), sum(r[5] for r in rows)
    unresolved = tuple(f"{_fmt_cell(cl, shown)}: {c.metric} {e.text()}" for _, cl, e, st, _, _ in rows if st != "holds")
    return Finding(c, status, f"{counts} of {len(rows)} cells (95% t-interval over seeds vs {c.threshold:g}); "
                              f"weakest: {_fmt_cell(cell, shown) or 'the cell'}: {c.metric} {est.text()}, {est.n} seeds; "
                              f"{k}/{n} runs on the claimed side", unresolved)


def _key(k: str) -> str:
    from harness.analysis.cells import key_of

    return key_of(k)


def difference_claim(c: ClaimSpec, ctx: _Context) -> Finding:
    from harness.analysis.cells import fmt_value, key_header

    if ctx.no_signal(c.metric):
        return Finding(c, "no signal", "the reward model is at chance")
    cells = select(ctx.cells, c.where, ctx.keys, f"claim {c.text}")
    if not cells:
        return Finding(c, "not shown", f"no cell matches {c.where}")
    by = [_key(k) for k in c.by if _key(k) in ctx.keys]  # a key the grid pins has one value: one group
    groups: dict[tuple, list[tuple[dict, dict]]] = {}
    for cell in cells:
        other = partner(ctx.cells, cell, c.than, ctx.keys, f"claim {c.text}")
        groups.setdefault(tuple(cell[k] for k in by), []).append((cell, other))
    parts, states, unresolved, averaged = [], [], [], set()
    for key, pairs in sorted(groups.items(), key=lambda kv: [str(v) for v in kv[0]]):
        est = _paired(ctx, c.metric, pairs)
        if est is None:
            continue
        averaged |= {k for k in ctx.keys if len({repr(a[k]) for a, _ in pairs}) > 1}
        lo, hi = (est.ci_low, est.ci_high) if not math.isnan(est.ci_low) else (est.mean, est.mean)
        shown = lo > 0 or hi < 0
        states.append("holds" if shown else "not shown")
        where = ", ".join(f"{key_header(k)}={fmt_value(v)}" for k, v in zip(by, key, strict=True))
        parts.append(f"{where + ': ' if where else ''}{est.text()}{'' if shown else ' — no difference shown'}")
        if not shown:
            unresolved.append(f"{where + ': ' if where else ''}{est.text()}")
    if not parts:
        return Finding(c, "not shown", f"no paired seeds with {c.metric} on both sides")
    extra = f" and {est.prompts} held-out prompts" if est.prompts else ""
    over = ", ".join(key_header(k) for k in ctx.keys if k in averaged)
    status = "holds" if all(s == "holds" for s in states) else "not shown"
    return Finding(c, status, "; ".join(parts) + f" (paired over {est.n} seeds{extra}"
                              + (f", averaged over {over})" if over else ")"), tuple(unresolved))


def _paired(ctx: _Context, metric: str, pairs: list[tuple[dict, dict]]) -> Estimate | None:
    """Paired difference of `metric` between the two sides of `pairs`, per seed, averaged over pairs."""
    from harness.analysis.stats import mean, std, t_quantile

    diffs = []
    for s in ctx.seeds:
        vals = [ctx.per_seed.get((a["_cell"], metric, s), math.nan) - ctx.per_seed.get((b["_cell"], metric, s), math.nan)
                for a, b in pairs]
        if vals and all(math.isfinite(v) for v in vals):
            diffs.append(sum(vals) / len(vals))
    if not diffs:
        return None
    m, n = mean(diffs), len(diffs)
    var_seed = std(diffs) ** 2 / n if n > 1 else math.nan
    var_prompt, n_prompts = _prompt_variance(ctx, metric, pairs)
    if math.isnan(var_seed):
        return Estimate(m, math.nan, math.nan, n)
    var = var_seed + (var_prompt if n_prompts else 0.0)
    # Welch–Satterthwaite: the seed part has n - 1 degrees of freedom, the prompt part n_prompts - 1
    den = var_seed ** 2 / (n - 1) + ((var_prompt ** 2 / (n_prompts - 1)) if n_prompts > 1 else 0.0)
    df = var ** 2 / den if den > 0 else max(1, n - 1)
    half = t_quantile(max(1, round(df))) * math.sqrt(var) if var > 0 else 0.0
    return Estimate(m, m - half, m + half, n, n_prompts)


def _prompt_variance(ctx: _Context, metric: str, pairs) -> tuple[float, int]:
    """Variance of the mean paired per-prompt difference (over seeds and pairs), and the prompt count."""
    scores = ctx.scores()
    col = sample_columns(scores.columns).get(metric)  # the catalogue's sample metrics found in `scores`
    if col is None or scores.empty or col not in scores:
        return math.nan, 0
    import pandas as pd

    per_run = scores.groupby(["run_id", "prompt_id"])[col].mean()
    diffs = []
    for s in ctx.seeds:
        for a, b in pairs:
            ra, rb = ctx.run_of.get((a["_cell"], s)), ctx.run_of.get((b["_cell"], s))
            if ra in per_run.index.get_level_values(0) and rb in per_run.index.get_level_values(0):
                diffs.append(per_run.loc[ra] - per_run.loc[rb])
    if not diffs:
        return math.nan, 0
    d = pd.concat(diffs, axis=1).mean(axis=1).dropna()
    return (float(d.var(ddof=1)) / len(d), len(d)) if len(d) > 1 else (math.nan, 0)
