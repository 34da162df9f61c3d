"""float32 Linear layers through oneDNN on CPUs where torch's BLAS runs them at half speed.

    n = route_linears(model)     # in place: the model's nn.Linear layers run through oneDNN (n of them)
    frozen_lowp(module, (w,))    # under CPU autocast: a frozen weight's low-precision copy, cast once
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


def _weight_grad(g: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """grad^T @ x ([out, in]) for g [N, out], x [N, in]. oneDNN's linear copies a transposed first
    operand into rows, so which side is transposed decides the copy: g^T (N x out floats) or x^T
    and then the [in, out] result back (N x in + in x out). The second is taken when it copies
    under half as much: the tiny model's fused gate+up (out 1024, in 128) spent 2.5 ms of a 24 ms
    step copying g^T (torch.profiler); choosing saved 3% of the step (19.4 vs 20.0 ms, steps
    interleaved); a SmolLM2 projection keeps the first (there it was as fast or faster)."""
    n, out, inp = g.shape[0], g.shape[1], x.shape[1]
    if 2 * inp * (n + out) < n * out:
        return _mm(x.t(), g.t()).t().contiguous()
    return _mm(g.t(), x.t())


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
            gw = _weight_grad(g, x.reshape(-1, x.shape[-1]))
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


def frozen_lowp(owner: torch.nn.Module, parts: tuple[torch.Tensor, ...]) -> torch.Tensor | None:
    """cat(parts) in CPU autocast's dtype, kept on `owner` while the parts are unchanged; None when
    that does not apply (no CPU autocast, a part that trains, compilation, FSDP's DTensors).

    Why: autocast casts a weight to bf16 at every product, and caches the cast only for weights
    that train. A frozen weight (LoRA's base model: nearly all of it) was cast anew in every forward:
    about 0.64 GB of memory traffic a step for SmolLM2-135M (106M weights read in fp32, written in
    bf16), 9-15% of a bf16 LoRA step (measured on the AMD EPYC Zen 5, steps interleaved with and
    without). In training the copy adds no peak memory: the cast weights are kept for the backward
    anyway; outside it (a bf16 evaluation of a LoRA model) it holds them between forwards. The same
    numbers: autocast's own cast, done once. A weight changed in place (a LoRA merge,
    load_state_dict) bumps its version and is cast again."""
    if (not torch.is_autocast_enabled("cpu") or torch.compiler.is_compiling()
            or any(p.requires_grad or p.device.type != "cpu" or type(p) not in (torch.nn.Parameter, torch.Tensor)
                   for p in parts)):
        return None
    dtype = torch.get_autocast_dtype("cpu")
    key = tuple(p._version for p in parts)
    cached = owner.__dict__.get("_harness_lowp")
    if cached is None or cached[0] != key or cached[1].dtype != dtype:
        weight = (parts[0] if len(parts) == 1 else torch.cat(parts)).detach().to(dtype)
        owner.__dict__["_harness_lowp"] = cached = (key, weight)  # not a buffer: outside state dicts
    return cached[1]


class CastOnceLinear(torch.nn.Linear):
    """nn.Linear whose frozen weight is cast to CPU autocast's dtype once (`frozen_lowp`)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lowp = frozen_lowp(self, (self.weight,))
        if lowp is not None:
            return F.linear(x, lowp, self.bias)  # autocast casts x and the bias, as it would have
        return self.product(x)

    def product(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight, self.bias)


class OneDNNLinear(CastOnceLinear):
    """... and whose float32 CPU products go through oneDNN (anything else: F.linear)."""

    def product(self, x: torch.Tensor) -> torch.Tensor:
        return linear(x, self.weight, self.bias)


def route_linears(model, *, force: bool | None = None) -> int:
    """Turn the model's CPU nn.Linear layers into OneDNNLinear where `harness.accel.onednn_linear()` (or
    `force`) says so, else into CastOnceLinear; returns how many go through oneDNN (0: the route is
    not taken here)."""
    from harness.accel import onednn_available, onednn_linear

    routed = onednn_linear() if force is None else force and onednn_available()
    n = 0
    for module in model.modules():
        if type(module) is torch.nn.Linear:
            module.__class__ = OneDNNLinear if routed else CastOnceLinear
            n += 1
    return n if routed else 0
