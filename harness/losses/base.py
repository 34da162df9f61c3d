"""The loss contract and registry.

A loss is a pure function of per-sequence log-probs (summed over response tokens):

    out = get_loss("minor_dpo")(policy_chosen_logps, policy_rejected_logps,
                                ref_chosen_logps, ref_rejected_logps, beta=0.1)
    out.losses            # [B] per-example losses (mean them yourself)
    out.chosen_rewards    # [B] beta * r_w, detached   (r = logp_policy - logp_ref)
    out.rejected_rewards  # [B] beta * r_l, detached

All tensors have shape [B]. Reference-free losses (SimPO) accept None for the reference
log-probs. Extra inputs some losses need are keyword arguments: `chosen_lengths`,
`rejected_lengths` (response token counts, [B]) and `chosen_nll` (per-token NLL of the chosen
response, [B]). Loss hyper-parameters (`label_smoothing`, `lambda_`, `gamma`, ...) are keyword
arguments with registered defaults; an unknown one is an error.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable

from harness.errors import HarnessError
from harness.registry import Registry


@dataclasses.dataclass
class LossOutput:
    losses: "torch.Tensor"  # noqa: F821  [B]
    chosen_rewards: "torch.Tensor"  # noqa: F821  [B], detached
    rejected_rewards: "torch.Tensor"  # noqa: F821  [B], detached


@dataclasses.dataclass(frozen=True)
class LossInfo:
    """A registered loss: the pure function plus what it needs and where it comes from."""

    name: str
    fn: Callable
    paper: str
    formula: str
    params: dict  # hyper-parameter name -> default
    requires_reference: bool = True
    needs: tuple[str, ...] = ()  # keyword inputs that must be given, e.g. ("chosen_lengths",)

    def __call__(self, policy_chosen_logps, policy_rejected_logps, ref_chosen_logps=None,
                 ref_rejected_logps=None, *, beta: float, **kwargs) -> LossOutput:
        inputs = {k: kwargs.pop(k) for k in _INPUTS if k in kwargs}
        unknown = set(kwargs) - set(self.params)
        if unknown:
            raise HarnessError(f"loss {self.name!r}: unknown parameter(s) {sorted(unknown)}; "
                               f"it takes {sorted(self.params) or 'none'}")
        missing = [k for k in self.needs if inputs.get(k) is None]
        if missing:
            raise HarnessError(f"loss {self.name!r} needs keyword input(s) {missing}")
        if self.requires_reference and (ref_chosen_logps is None or ref_rejected_logps is None):
            raise HarnessError(f"loss {self.name!r} needs reference log-probs")
        if not beta > 0:
            raise HarnessError(f"loss {self.name!r}: beta must be > 0, got {beta}")
        params = {**self.params, **kwargs}
        # A trainer passes every input it has (lengths, chosen_nll) to whichever loss is configured;
        # hand each loss only the inputs its function declares, so `dpo(...)` is not given
        # `chosen_lengths` it has no parameter for (that used to raise TypeError).
        accepted = _input_names(self.fn)
        inputs = {k: v for k, v in inputs.items() if k in accepted}
        return self.fn(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps,
                       beta=beta, **inputs, **params)


_INPUTS = ("chosen_lengths", "rejected_lengths", "chosen_nll")


@functools.cache
def _input_names(fn: Callable) -> frozenset[str]:
    """Which of the optional keyword inputs `fn` takes (all of them if it has **kwargs)."""
    params = inspect.signature(fn).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return frozenset(_INPUTS)
    return frozenset(p.name for p in params if p.name in _INPUTS)


LOSSES: Registry[LossInfo] = Registry("loss")


def register_loss(name: str, *, paper: str, formula: str, params: dict | None = None,
                  requires_reference: bool = True, needs: tuple[str, ...] = ()):
    """Decorator: register a pure loss function under `name`."""

    def deco(fn: Callable) -> Callable:
        LOSSES.register(name, LossInfo(name, fn, paper, formula, dict(params or {}), requires_reference, needs))
        return fn

    return deco


def get_loss(name: str) -> LossInfo:
    return LOSSES.get(name)


def rewards(beta, policy_chosen, policy_rejected, ref_chosen, ref_rejected):
    """(beta * r_w, beta * r_l), detached: the implicit rewards every reference-based loss reports."""
    return ((beta * (policy_chosen - ref_chosen)).detach(), (beta * (policy_rejected - ref_rejected)).detach())
