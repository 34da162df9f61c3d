"""One claim language: a statement about grid cells, the same object in a suite's `report.claims`
(the verdict a report opens with) and in a baseline's `expectations` (what `harness regress`
requires to keep holding).

    - {kind: sign, text: "MinorDPO keeps r_w above 0", metric: final_logratio_chosen,
       where: {variant: minor_dpo}, op: ">", value: 0}
    - {kind: difference, text: "accuracy, MinorDPO − DPO", metric: verifier_accuracy,
       where: {variant: minor_dpo}, than: {variant: dpo}, by: [lr]}
    - {kind: bound, text: "DPO displaces at the high lr", metric: final_logratio_chosen,
       where: {variant: dpo, lr: max}, op: "<", value: 0, stat: max}
    - {kind: quantile, text: "DPO displaces the most alike pairs more", metric: pair_displaced,
       where: {variant: dpo, lr: max}, feature: ches, bins: 5, op: ">", value: 0}

The registry `CLAIM_KINDS` maps a kind to its parameters (a dataclass: which of the flat keys
that kind takes) and to the function that judges it (`fn(claim, ctx) -> Finding`, in
harness.analysis.verdict). Every kind works in both places: the verdict reports its Finding,
regress requires it to hold (a `bound` claim also lists each cell's comparison). Adding a kind is
one `CLAIM_KINDS.register` here plus its function.

Older baseline files wrote expectations as `{name, metric, op, value | than: {where, metric,
offset}, stat}` with no kind; `from_expectation` reads them as `bound` claims (and
`harness baseline record` writes the new form).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from harness.config import check, field
from harness.registry import Registry


@dataclasses.dataclass(frozen=True)
class SignParams:
    """In every cell, the 95% t-interval over seeds of the metric lies on the claimed side of `value`."""

    op: str
    value: float


@dataclasses.dataclass(frozen=True)
class DifferenceParams:
    """Paired difference of the two sides, one estimate per value of the `by` keys."""

    than: dict
    by: list


@dataclasses.dataclass(frozen=True)
class BoundParams:
    """In every cell, a statistic over seeds compares `op` to a constant or to the partner cell's."""

    op: str
    value: float | None
    than: dict | None
    offset: float
    than_metric: str | None
    stat: str


@dataclasses.dataclass(frozen=True)
class QuantileParams:
    """Per cell, the metric's per-pair column in the top quantile of a pair feature minus the bottom one
    (harness.analysis.pairs: two-way bootstrap over pairs and seeds) lies `op` `value`."""

    feature: str
    bins: int
    op: str
    value: float | None


@dataclasses.dataclass(frozen=True)
class ClaimKind:
    params: type  # which flat keys of a ClaimSpec the kind takes
    judge: str  # "module:function" judging it: fn(ClaimSpec, verdict context) -> Finding
    needs: tuple[str, ...] = ()  # keys it cannot do without


CLAIM_KINDS: Registry[ClaimKind] = Registry("claim kind")
CLAIM_KINDS.register("sign", ClaimKind(SignParams, "harness.analysis.verdict:sign_claim"))
CLAIM_KINDS.register("difference", ClaimKind(DifferenceParams, "harness.analysis.verdict:difference_claim", ("than",)))
CLAIM_KINDS.register("bound", ClaimKind(BoundParams, "harness.analysis.bound:bound_claim"))
CLAIM_KINDS.register("quantile", ClaimKind(QuantileParams, "harness.analysis.pair_claims:quantile_claim"))

COMMON = ("text", "kind", "metric", "where")


def _known(kind: str) -> str | None:
    return None if kind in CLAIM_KINDS else CLAIM_KINDS.unknown_message(kind)


@dataclasses.dataclass(frozen=True)
class ClaimSpec:
    text: str = field(help="the claim as the report and the regress output state it")
    kind: str = field(meta=check(_known), help="`harness ls claims`: sign | difference | bound | quantile")
    metric: str = field(help="a catalogue metric (`harness ls metrics`), e.g. final_logratio_chosen, verifier_accuracy")
    where: dict[str, Any] = field(factory=dict, help="the cells claimed about, by grid key (aliases variant, loss, "
                                                     "beta, lr; max/min pick an extreme); difference: the first side")
    than: dict[str, Any] | None = field(None, help="difference: the second side's cells; bound: the partner cell "
                                                   "compared with (instead of `value`)")
    op: Literal["<", "<=", ">", ">="] = field(">", help="sign, bound: the claimed side")
    value: float | None = field(None, help="sign: the threshold (default 0); bound: a constant right-hand side")
    by: list[str] = field(factory=list, help="difference: one estimate per value of these keys")
    stat: Literal["mean", "min", "max", "ci_low", "ci_high"] = field("mean",
        help='bound: over seeds; max < 0 means "every seed", ci_high < 0 "the 95% t-interval lies below 0"')
    offset: float = field(0.0, help="bound: added to the partner cell's value")
    than_metric: str | None = field(None, help="bound: the partner cell's metric (default: `metric`)")
    feature: str = field("ches", help="quantile: the per-pair feature of the `pairs` table whose quantiles are "
                                      "compared (ches, ches_mean, edit_distance, shared_prefix_tokens, chosen_tokens)")
    bins: int = field(5, help="quantile: how many quantiles (5: quintiles); the claim is top minus bottom")

    def validate(self):
        if self.kind not in CLAIM_KINDS:
            return None  # the kind's own check names it
        kind = CLAIM_KINDS.get(self.kind)
        takes = {f.name for f in dataclasses.fields(kind.params)}
        defaults = {f.name: (f.default if f.default is not dataclasses.MISSING else f.default_factory())
                    for f in dataclasses.fields(ClaimSpec) if f.name not in COMMON}
        for name, default in defaults.items():
            if name not in takes and getattr(self, name) != default:
                return name, f"is not a parameter of a {self.kind} claim (it takes: {', '.join(sorted(takes))})"
        for name in kind.needs:
            if getattr(self, name) in (None, [], {}):
                return name, f"a {self.kind} claim needs `{name}`"
        if self.kind == "bound" and (self.value is None) == (self.than is None):
            return "value", "a bound claim: give exactly one of `value` and `than`"
        if self.op in ("<=", ">=") and self.kind in ("sign", "quantile"):
            return "op", f"a {self.kind} claim is strict: < or >"
        if self.kind == "quantile":
            from harness.analysis.pairs import FEATURES

            if self.feature not in FEATURES:
                return "feature", f"{self.feature!r} is not a pair feature (one of: {', '.join(FEATURES)})"
            if self.bins < 2:
                return "bins", "a quantile claim needs at least 2 quantiles"
        return None

    @property
    def params(self):
        """The kind's parameters, as its dataclass."""
        kind = CLAIM_KINDS.get(self.kind)
        return kind.params(**{f.name: getattr(self, f.name) for f in dataclasses.fields(kind.params)})

    @property
    def threshold(self) -> float:
        return 0.0 if self.value is None else float(self.value)


def judge(claim: ClaimSpec, ctx):
    """The claim's Finding (harness.analysis.verdict.Finding), by its kind's function."""
    import importlib

    module, _, name = CLAIM_KINDS.get(claim.kind).judge.partition(":")
    return getattr(importlib.import_module(module), name)(claim, ctx)


def claim_dict(c: ClaimSpec) -> dict:
    """The claim as a file records it: the common keys and the parameters its kind takes, without
    empty ones (what `harness baseline record` writes)."""
    takes = [f.name for f in dataclasses.fields(CLAIM_KINDS.get(c.kind).params)]
    out = {k: getattr(c, k) for k in COMMON}
    out.update({k: getattr(c, k) for k in takes if getattr(c, k) not in (None, [], {})
                and not (k == "offset" and getattr(c, k) == 0.0)})
    return out


def from_expectation(data: Any) -> Any:
    """An expectation as older baseline files wrote it -> a claim mapping (anything else unchanged):
    `name` is the text, no kind is `bound`, `than: {where, metric, offset}` is flattened."""
    if not isinstance(data, dict) or "kind" in data:
        return data
    out = {("text" if k == "name" else k): v for k, v in data.items()}
    out["kind"] = "bound"
    than = out.get("than")
    if isinstance(than, dict) and "where" in than:
        out["than"] = than["where"]
        if "offset" in than:
            out["offset"] = than["offset"]
        if than.get("metric") is not None:
            out["than_metric"] = than["metric"]
    return out
