"""Deliberate breakages for the regression tests: each one a bug `harness regress` must catch.

    HARNESS_MUTATION=no-clamp PYTHONPATH=tests/mutants harness run SUITE ...   # every process, workers too

`sitecustomize.py` beside this file applies the mutation named by HARNESS_MUTATION at interpreter
start-up, so the suite's spawned workers run the broken code as well. Each mutation is what a
plausible one-line bug would do:
- no-clamp: MinorDPO's `clamp(r_l, min=0)` removed, so it is plain DPO;
- dpop-sign: DPOP's penalty sign flipped, so it rewards pushing the chosen answer down;
- wrong-reference: reference log-probs taken from the wrong checkpoint (the randomly initialised
  tiny model instead of the run's starting point).
"""

from __future__ import annotations

import dataclasses


def _replace_loss(name: str, fn) -> None:
    from harness.losses import LOSSES

    LOSSES._items[name] = dataclasses.replace(LOSSES.get(name), fn=fn)


def no_clamp() -> None:
    import torch.nn.functional as F

    from harness.losses.base import LossOutput, rewards

    def minor_dpo(pc, pr, rc, rr, *, beta):
        r_w, r_l = pc - rc, pr - rr
        return LossOutput(-F.logsigmoid(beta * (r_w - r_l)), *rewards(beta, pc, pr, rc, rr))

    _replace_loss("minor_dpo", minor_dpo)


def dpop_sign() -> None:
    import torch
    import torch.nn.functional as F

    from harness.losses.base import LossOutput, rewards

    def dpop(pc, pr, rc, rr, *, beta, lambda_):
        r_w, r_l = pc - rc, pr - rr
        losses = -F.logsigmoid(beta * (r_w - r_l + lambda_ * torch.clamp(-r_w, min=0.0)))
        return LossOutput(losses, *rewards(beta, pc, pr, rc, rr))

    _replace_loss("dpop", dpop)


def wrong_reference() -> None:
    import functools

    from harness.logprobs.refcache import model_fingerprint
    from harness.models.load import load_causal_lm
    from harness.models.tiny import build
    from harness.trainer import setup

    original = setup.reference_logps

    @functools.wraps(original)
    def reference_logps(source, pairs, **kw):
        wrong = build(seed=0)  # a random-init tiny model with the same tokenizer: not the run's start
        kw["fingerprint"] = model_fingerprint(wrong)
        return original(load_causal_lm(wrong, device=kw.get("device", "cpu")), pairs, **kw)

    setup.reference_logps = reference_logps


MUTATIONS = {"no-clamp": no_clamp, "dpop-sign": dpop_sign, "wrong-reference": wrong_reference}


def apply(name: str) -> None:
    MUTATIONS[name]()
