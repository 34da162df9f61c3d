"""Step metrics: accumulated on the device as sums, synchronised once per step.

    acc = MetricSums(device)
    acc.add(loss_out, pc, pr, rc, rr, chosen_lengths, rejected_lengths)   # per micro-batch
    row = acc.reduce(extra={"grad_norm": norm})                            # one .tolist()

Definitions (means over the pairs of the step; r = policy - reference summed log-probs; the
column names and meanings are harness.results.catalogue.STEP_COLUMNS):
  loss                      per-pair loss
  logratio_chosen/rejected  r_w, r_l (unscaled)
  reward_margin             chosen_reward - rejected_reward as the loss reports them (beta * h)
  reward_accuracy           fraction with chosen_reward > rejected_reward
  frac_rejected_above_ref   fraction with r_l > 0 (MinorDPO's gate is open)
  frac_chosen_below_ref     fraction with r_w < 0 (likelihood displacement)
  logps_chosen/rejected     policy log-prob per response token
  nonfinite                 pairs whose loss or log-probs are not finite (+1 if the grad norm is not)
Without reference log-probs the log-ratio columns are NaN.
"""

from __future__ import annotations

import math

import torch

from harness.results.catalogue import STEP_COLUMNS

KEYS = tuple(STEP_COLUMNS)  # the catalogue's step columns: `add` computes each by name
NEEDS_REFERENCE = ("frac_rejected_above_ref", "frac_chosen_below_ref")  # NaN, not a misleading 0, without one


class MetricSums:
    def __init__(self, device):
        self.sums = torch.zeros(len(KEYS), dtype=torch.float64, device=device)
        self.pairs = 0
        self.tokens = torch.zeros((), dtype=torch.long, device=device)

    @torch.no_grad()
    def add(self, out, pc, pr, rc, rr, chosen_lengths, rejected_lengths, tokens=None) -> None:
        nan = torch.full_like(pc, math.nan)
        r_w = (pc - rc) if rc is not None else nan
        r_l = (pr - rr) if rr is not None else nan
        cw, cl = out.chosen_rewards, out.rejected_rewards
        finite = torch.isfinite(out.losses) & torch.isfinite(pc) & torch.isfinite(pr)
        cols = {"loss": out.losses, "logratio_chosen": r_w, "logratio_rejected": r_l, "reward_margin": cw - cl,
                "reward_accuracy": (cw > cl).to(pc.dtype), "frac_rejected_above_ref": (r_l > 0).to(pc.dtype),
                "frac_chosen_below_ref": (r_w < 0).to(pc.dtype), "logps_chosen": pc / chosen_lengths,
                "logps_rejected": pr / rejected_lengths, "nonfinite": (~finite).to(pc.dtype)}
        if rc is None:  # keep the gate fractions NaN too, rather than a misleading 0
            cols.update({k: nan for k in NEEDS_REFERENCE})
        values = torch.stack([cols[k] for k in KEYS]).detach().double()  # a catalogue column without a computation: KeyError
        self.sums += values.sum(1)
        self.pairs += pc.shape[0]
        if tokens is not None:
            self.tokens += tokens

    def reduce(self, grad_norm: torch.Tensor | None = None, dist=None) -> dict:
        """Means over pairs (one host sync); `tokens` and `nonfinite` are totals. With `dist`
        (harness.trainer.distributed.Dist) the sums and counts of every rank are added first, so
        each rank returns the global batch's metrics."""
        extra = grad_norm.detach().double().reshape(1) if grad_norm is not None else self.sums.new_full((1,), math.nan)
        pairs = self.sums.new_full((1,), float(self.pairs))
        local = torch.cat([self.sums, self.tokens.double().reshape(1), pairs])
        if dist is not None:
            local = dist.all_reduce(local)
        values = torch.cat([local[:-1], extra]).tolist()
        n = max(int(local[-1].item()), 1)
        row = {key: values[i] / n for i, key in enumerate(KEYS)}
        row["nonfinite"] = int(values[KEYS.index("nonfinite")]) + int(not math.isfinite(values[-1]) and grad_norm is not None)
        row["tokens"] = int(values[len(KEYS)])
        row["grad_norm"] = values[-1]
        return row
