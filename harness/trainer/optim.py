"""AdamW and the learning-rate schedule (warmup, then constant | linear | cosine decay).

The schedule is a pure function of the step, set on the optimizer before every step, so resuming
needs only the step number (no scheduler object to save).
"""

from __future__ import annotations

import math

import torch


def build_optimizer(model, train) -> torch.optim.AdamW:
    """AdamW over the trainable parameters; no weight decay on biases and norms (1-d tensors)."""
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": train.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    # The fused kernel updates every tensor in one C++ loop; torch's CPU default is a Python
    # loop of ~8 ops per tensor, a visible share of a small model's step.
    fused = bool(params) and all(p.device.type in ("cpu", "cuda") and p.dtype.is_floating_point for p in params)
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=train.learning_rate,
                             betas=(train.adam_beta1, train.adam_beta2), fused=fused or None)


def lr_at(step: int, train) -> float:
    """Learning rate of 0-based optimizer step `step`.

    Warmup rises linearly to the peak, reaching it at step `warmup_steps - 1` (no step runs at
    lr 0); then decay to 0 at `steps` (linear, cosine) or stay (constant).
    """
    peak, warm, total = train.learning_rate, train.warmup_steps, train.steps
    if step < warm:
        return peak * (step + 1) / warm
    if train.schedule == "constant" or total <= warm:
        return peak
    progress = (step - warm) / (total - warm)
    if train.schedule == "linear":
        return peak * (1.0 - progress)
    return peak * 0.5 * (1.0 + math.cos(math.pi * progress))
