"""float32 Linear layers through oneDNN on CPUs where torch's BLAS runs them at half speed.

    n = route_linears(model)     # in place: the model's nn.Linear layers run through oneDNN (n of them)
    harness.accel.onednn_linear()   # this machine's decision (measured once per machine; HARNESS_CPU_LINEAR overrides)

Why: the CPU build of torch does float32 matrix products in Intel MKL, and MKL takes its AVX2
code path on AMD processors, whatever they support. On an AMD EPYC Zen 5 (AVX-512, full-width)
that is ~105 GFLOP/s a core where oneDNN, which torch also ships and which picks its kernels by
the CPU's features rather than its vendor, reaches ~245 (measured: `harness doctor`, the probe
line). A Llama step is mostly such products: forward and backward of one 576 x 1536 projection
over 1,024 tokens took 51 ms through MKL and 25 ms through oneDNN, with the same float32
accumulation (max error against float64 of the same order: 4e-5 vs 1.2e-4 on sums of 576 products).
On Intel CPUs MKL is already at full width and the two are close; the route is taken only where
the probe measures oneDNN at least `harness.accel.ONEDNN_FASTER` times MKL, a margin no run-to-run noise
crosses, so one machine always makes the same choice and stays bit-identical with itself.

What is routed: float32 inputs and weights outside autocast (under bf16 autocast torch already
sends products to oneDNN), forward and backward (an autograd Function whose backward is two more
oneDNN products: grad_input = grad @ W, grad_weight = grad^T @ x, the latter skipped for frozen
weights, as LoRA's base layers are). The layer's class becomes a subclass of nn.Linear, so
parameter names, state dicts, checkpoints, peft and isinstance checks are unchanged.
Rounding differs from MKL's as between two CPU kernel paths (README "Machines"): never bit-equal
across the two routes, the same behaviour.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _mm(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
    """x [N, in] @ w[out, in]^T (+ b) in oneDNN, which reads transposed (strided) operands as they
    are: the backward's transposes cost no copy (measured: 347 vs 398 us for a 720 x 512 x 128 grad)."""
    return torch.ops.mkldnn._linear_pointwise(x, w, b, "none", [], "")


class _OneDNNLinearFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        y = _mm(x.reshape(-1, x.shape[-1]), weight, bias)
        return y.reshape(*x.shape[:-1], weight.shape[0])

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        g = grad.reshape(-1, grad.shape[-1])
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:
            gx = _mm(g, weight.t()).reshape(x.shape)
        if ctx.needs_input_grad[1]:
            gw = _mm(g.t(), x.reshape(-1, x.shape[-1]).t())
        if ctx.has_bias and ctx.needs_input_grad[2]:
            gb = g.sum(0)
        return gx, gw, gb


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """F.linear, through oneDNN for float32 CPU tensors outside autocast and compilation."""
    if (x.device.type != "cpu" or x.dtype != torch.float32 or weight.dtype != torch.float32
            or torch.is_autocast_enabled("cpu") or type(weight) not in (torch.nn.Parameter, torch.Tensor)  # DTensor: FSDP
            or torch.compiler.is_compiling()):  # inductor lowers products itself (and cannot lower this op)
        return F.linear(x, weight, bias)
    return _OneDNNLinearFn.apply(x, weight, bias)


class OneDNNLinear(torch.nn.Linear):
    """nn.Linear whose float32 CPU products go through oneDNN (anything else: F.linear)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return linear(x, self.weight, self.bias)


def route_linears(model, *, force: bool | None = None) -> int:
    """Turn the model's float32 CPU nn.Linear layers into OneDNNLinear where `harness.accel.onednn_linear()` (or
    `force`) says so; returns how many were turned (0: the route is not taken here)."""
    from harness.accel import onednn_available, onednn_linear

    if not (onednn_linear() if force is None else force and onednn_available()):
        return 0
    n = 0
    for module in model.modules():
        if type(module) is torch.nn.Linear:
            module.__class__ = OneDNNLinear
            n += 1
    return n
