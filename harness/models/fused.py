"""Fewer, fused operations in Llama-family decoders, swapped in by class (names and weights unchanged).

    n = fuse(model)     # in place; returns how many modules were swapped (0: nothing recognised)

Why: on a small model a training step is dominated by the number of operations, not by their
arithmetic: each costs a dispatch, an autograd node and, with several threads, a fork and join,
whatever the tensor's size. transformers' Llama RMSNorm is seven operations forward (cast, pow,
mean, add, rsqrt, mul, mul) and more backward; torch's `F.rms_norm` is one kernel each way. The
MLP's gate and up projections read the same input: one product with the two weights side by side
replaces two (and two of the backward's four). The maths is the same; the order of float
operations inside a kernel differs, so results agree to rounding (tests/models/test_fused.py),
never bit for bit with the unfused model, as between two CPU kernel paths.

What is swapped, by exact class name (a lookalike with other maths, e.g. Gemma's (1 + w) RMSNorm,
is left alone): `NORMS` and `MLPS`. An MLP whose projections are not plain Linear layers (LoRA
adapters on them, quantised layers) keeps its own forward.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from harness.models.cpu_linear import OneDNNLinear, linear

NORMS = ("LlamaRMSNorm", "MistralRMSNorm", "Qwen2RMSNorm", "Qwen3RMSNorm")  # w * x / rms(x), float32 inside
MLPS = ("LlamaMLP", "MistralMLP", "Qwen2MLP", "Qwen3MLP")  # down(act(gate(x)) * up(x))


def _fused_norm(base: type) -> type:
    class FusedRMSNorm(base):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if x.dtype == torch.float32 and self.weight.dtype == torch.float32:
                return F.rms_norm(x, (x.shape[-1],), self.weight, self.variance_epsilon)
            return self.weight * F.rms_norm(x.float(), (x.shape[-1],), None, self.variance_epsilon).to(x.dtype)

    FusedRMSNorm.__name__ = FusedRMSNorm.__qualname__ = f"Fused{base.__name__}"
    return FusedRMSNorm


def _fused_mlp(base: type) -> type:
    class FusedMLP(base):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            gate, up = self.gate_proj, self.up_proj
            if not (isinstance(gate, torch.nn.Linear) and isinstance(up, torch.nn.Linear)) \
                    or gate.bias is not None or up.bias is not None:
                return super().forward(x)
            product = linear if type(gate) is OneDNNLinear else F.linear  # the route load_causal_lm chose
            both = product(x, torch.cat([gate.weight, up.weight]))
            g, u = both.split(gate.out_features, dim=-1)
            return self.down_proj(self.act_fn(g) * u)

    FusedMLP.__name__ = FusedMLP.__qualname__ = f"Fused{base.__name__}"
    return FusedMLP


_CACHE: dict[type, type] = {}


def _swap(module, make) -> None:
    cls = type(module)
    if cls not in _CACHE:
        _CACHE[cls] = make(cls)
    module.__class__ = _CACHE[cls]


def fuse(model) -> int:
    """Swap the recognised norms and MLPs of `model` for their fused forms, in place."""
    n = 0
    for module in model.modules():
        name = type(module).__name__
        if name in NORMS and hasattr(module, "variance_epsilon"):
            _swap(module, _fused_norm)
            n += 1
        elif name in MLPS and all(hasattr(module, a) for a in ("gate_proj", "up_proj", "down_proj", "act_fn")):
            _swap(module, _fused_mlp)
            n += 1
    return n
