"""DPO and its label-noise / margin relatives: dpo, cdpo, rdpo, hinge, ipo.

Notation: r = log pi_theta(y|x) - log pi_ref(y|x), summed over response tokens;
h = r_w - r_l; sigma is the logistic function. Every loss returns per-example values [B].
logsigmoid is used throughout so extreme log-ratios (|h| ~ 1e3) stay finite.
"""

from __future__ import annotations

import torch.nn.functional as F

from harness.errors import HarnessError
from harness.losses.base import LossOutput, register_loss, rewards


def _h(pc, pr, rc, rr):
    return (pc - rc) - (pr - rr)


@register_loss("dpo", paper="Rafailov et al. 2023, Direct Preference Optimization (arXiv 2305.18290)",
               formula="-log sigma(beta * (r_w - r_l))")
def dpo(pc, pr, rc, rr, *, beta):
    """Sigmoid DPO (TRL loss_type='sigmoid')."""
    losses = -F.logsigmoid(beta * _h(pc, pr, rc, rr))
    return LossOutput(losses, *rewards(beta, pc, pr, rc, rr))


@register_loss("cdpo", paper="Mitchell 2023, A note on DPO with noisy preferences (conservative DPO)",
               formula="-(1 - eps) * log sigma(beta * h) - eps * log sigma(-beta * h)",
               params={"label_smoothing": 0.1})
def cdpo(pc, pr, rc, rr, *, beta, label_smoothing):
    """Conservative DPO: labels flipped with probability eps = label_smoothing."""
    z = beta * _h(pc, pr, rc, rr)
    losses = -(1 - label_smoothing) * F.logsigmoid(z) - label_smoothing * F.logsigmoid(-z)
    return LossOutput(losses, *rewards(beta, pc, pr, rc, rr))


@register_loss("rdpo", paper="Chowdhury, Kini, Natarajan 2024, Provably Robust DPO (arXiv 2403.00409)",
               formula="[(1 - eps) * (-log sigma(beta * h)) - eps * (-log sigma(-beta * h))] / (1 - 2 * eps)",
               params={"label_smoothing": 0.1})
def rdpo(pc, pr, rc, rr, *, beta, label_smoothing):
    """Robust DPO: an unbiased loss under label flip rate eps in [0, 0.5) (TRL loss_type='robust')."""
    eps = label_smoothing
    if not 0 <= eps < 0.5:  # a config value (loss.params.label_smoothing): user error, not a bug
        raise HarnessError(f"rdpo: label_smoothing must be in [0, 0.5), got {eps}")
    z = beta * _h(pc, pr, rc, rr)
    losses = ((1 - eps) * -F.logsigmoid(z) - eps * -F.logsigmoid(-z)) / (1 - 2 * eps)
    return LossOutput(losses, *rewards(beta, pc, pr, rc, rr))


@register_loss("hinge", paper="Zhao et al. 2023, SLiC-HF (arXiv 2305.10425)",
               formula="max(0, 1 - beta * h)")
def hinge(pc, pr, rc, rr, *, beta):
    """SLiC hinge loss; beta is the inverse margin (TRL loss_type='hinge')."""
    losses = F.relu(1 - beta * _h(pc, pr, rc, rr))
    return LossOutput(losses, *rewards(beta, pc, pr, rc, rr))


@register_loss("ipo", paper="Azar et al. 2023, A General Theoretical Paradigm to Understand Learning "
               "from Human Preferences (arXiv 2310.12036)",
               formula="(h - 1 / (2 * beta))^2; with length_normalize, h uses per-token log-ratios "
               "r_w/|y_w| - r_l/|y_l| (TRL's form)",
               params={"length_normalize": False})
def ipo(pc, pr, rc, rr, *, beta, length_normalize, chosen_lengths=None, rejected_lengths=None):
    """IPO on summed log-ratios by default (the paper); `length_normalize=True` matches TRL."""
    if length_normalize:
        if chosen_lengths is None or rejected_lengths is None:
            raise HarnessError("loss 'ipo' with length_normalize needs keyword inputs chosen_lengths and rejected_lengths")
        h = (pc - rc) / chosen_lengths - (pr - rr) / rejected_lengths
    else:
        h = _h(pc, pr, rc, rr)
    losses = (h - 1 / (2 * beta)) ** 2
    return LossOutput(losses, *rewards(beta, pc, pr, rc, rr))
