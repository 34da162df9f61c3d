"""Losses that protect the chosen answer's likelihood: minor_dpo, dpop, rpo, and the sft control.

DPO's loss can be driven to zero by pushing the rejected answer down alone, and on pairs that
share most tokens this drags the chosen answer down with it ("likelihood displacement"). Each
loss here counters that differently.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from harness.losses.base import LossOutput, register_loss, rewards


@register_loss("minor_dpo", paper="Xie et al. 2024, Minor DPO reject penalty to increase training robustness "
               "(arXiv 2408.09834)", formula="-log sigma(beta * (r_w - max(0, r_l)))")
def minor_dpo(pc, pr, rc, rr, *, beta):
    """MinorDPO: the rejected answer is only penalised while the policy gives it more mass than
    the reference (r_l > 0). Below that its gradient is exactly zero and only raising r_w lowers
    the loss.

    Gradient convention at r_l == 0 exactly (step 0, policy == reference): `torch.clamp(min=0)`
    passes the gradient at 0, so the first step equals DPO's. (relu would give 0, maximum 1/2.)
    """
    r_w, r_l = pc - rc, pr - rr
    losses = -F.logsigmoid(beta * (r_w - torch.clamp(r_l, min=0.0)))
    return LossOutput(losses, *rewards(beta, pc, pr, rc, rr))


@register_loss("dpop", paper="Pal et al. 2024, Smaug: Fixing Failure Modes of Preference Optimisation "
               "with DPO-Positive (arXiv 2402.13228)",
               formula="-log sigma(beta * (r_w - r_l - lambda * max(0, -r_w)))",
               params={"lambda_": 50.0})
def dpop(pc, pr, rc, rr, *, beta, lambda_):
    """DPO-Positive: a penalty (weight lambda_, paper default 50) once r_w < 0."""
    r_w, r_l = pc - rc, pr - rr
    losses = -F.logsigmoid(beta * (r_w - r_l - lambda_ * torch.clamp(-r_w, min=0.0)))
    return LossOutput(losses, *rewards(beta, pc, pr, rc, rr))


def _chosen_nll(pc, chosen_lengths, chosen_nll):
    return chosen_nll if chosen_nll is not None else -pc / chosen_lengths


@register_loss("rpo", paper="Pang et al. 2024, Iterative Reasoning Preference Optimization (arXiv 2404.19733)",
               formula="-log sigma(beta * (r_w - r_l)) + alpha * NLL(y_w) / |y_w|",
               params={"alpha": 1.0}, needs=("chosen_lengths",))
def rpo(pc, pr, rc, rr, *, beta, alpha, chosen_lengths=None, chosen_nll=None):
    """DPO plus alpha times the per-token NLL of the chosen response (`chosen_nll` if given,
    else -policy_chosen_logps / chosen_lengths)."""
    losses = -F.logsigmoid(beta * ((pc - rc) - (pr - rr))) + alpha * _chosen_nll(pc, chosen_lengths, chosen_nll)
    return LossOutput(losses, *rewards(beta, pc, pr, rc, rr))


@register_loss("sft", paper="supervised fine-tuning on the chosen response (a control, not a preference loss)",
               formula="-log pi(y_w) / |y_w|", requires_reference=False, needs=("chosen_lengths",))
def sft(pc, pr, rc, rr, *, beta, chosen_lengths=None, chosen_nll=None):
    """Per-token NLL of the chosen answer. beta is unused by the loss; rewards are reported as
    beta * r when reference log-probs are given, else zeros."""
    losses = _chosen_nll(pc, chosen_lengths, chosen_nll)
    if rc is None or rr is None:
        zero = torch.zeros_like(pc).detach()
        return LossOutput(losses, zero, zero.clone())
    return LossOutput(losses, *rewards(beta, pc, pr, rc, rr))


@register_loss("simpo", paper="Meng, Xia, Chen 2024, SimPO: Simple Preference Optimization with a "
               "Reference-Free Reward (arXiv 2405.14734)",
               formula="-log sigma(beta * logp(y_w)/|y_w| - beta * logp(y_l)/|y_l| - gamma)",
               params={"gamma": 0.5}, requires_reference=False, needs=("chosen_lengths", "rejected_lengths"))
def simpo(pc, pr, rc, rr, *, beta, gamma, chosen_lengths=None, rejected_lengths=None):
    """Reference-free, length-normalised; rewards are beta * average log-prob (no reference)."""
    cw, cl = beta * pc / chosen_lengths, beta * pr / rejected_lengths
    losses = -F.logsigmoid(cw - cl - gamma)
    return LossOutput(losses, cw.detach(), cl.detach())
