"""Fewer, fused operations in Llama-family decoders, swapped in by class (names and weights unchanged).

    n = fuse(model)     # in place; returns how many modules were swapped (0: nothing recognised)

Why: on a small model a training step is dominated by the number of operations, not by their
arithmetic: each costs a dispatch, an autograd node and, with several threads, a fork and join,
whatever the tensor's size. transformers' Llama RMSNorm is seven operations forward (cast, pow,
mean, add, rsqrt, mul, mul) and more backward; on CPU torch's `F.rms_norm` is the same composite
without the casts, so the norm here has its backward written out (`_RMSNormFn`). The
MLP's gate and up projections read the same input: one product with the two weights side by side
replaces two (and two of the backward's four). The maths is the same; the order of float
operations inside a kernel differs, so results agree to rounding (tests/models/test_fused.py),
never bit for bit with the unfused model, as between two CPU kernel paths.

The attention's q, k and v projections read the same input too: one product, and the rotary
embedding applied to q and k together (`ATTENTIONS`). Under CPU autocast the attention kernel
itself runs in float32 (see FusedAttention). Frozen weights are cast to autocast's dtype once
(harness.models.cpu_linear.frozen_lowp), including the concatenated gate/up and q/k/v weights.

What is swapped, by exact class name (a lookalike with other maths, e.g. Gemma's (1 + w) RMSNorm,
is left alone): `NORMS`, `MLPS` and `ATTENTIONS`. An MLP whose projections are not plain Linear
layers (LoRA adapters on them, quantised layers) keeps its own forward; an attention with LoRA on
its projections runs each through its own module, and one with a KV cache (generation) or
another attention implementation keeps its own forward.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from harness.models.cpu_linear import OneDNNLinear, frozen_lowp, linear

NORMS = ("LlamaRMSNorm", "MistralRMSNorm", "Qwen2RMSNorm", "Qwen3RMSNorm")  # w * x / rms(x), float32 inside
MLPS = ("LlamaMLP", "MistralMLP", "Qwen2MLP", "Qwen3MLP")  # down(act(gate(x)) * up(x))
# q, k, v projections, rotary, SDPA, o projection; others (Mistral's and Qwen2's sliding windows,
# Qwen3's q/k norms) are left alone
ATTENTIONS = ("LlamaAttention",)


class _RMSNormFn(torch.autograd.Function):
    """w * x * rsqrt(mean(x^2) + eps) over the last dimension (float32), with its backward written
    out. On CPU `F.rms_norm` is a composite: autograd records its pow, mean, add, rsqrt and two
    products and runs six backward nodes (about 14 kernels). Here the forward is the same
    operations in the same order (the same numbers) and the backward four passes over [N, D]:
    gx = rstd * (g*w - xhat * mean(g*w * xhat)), gw = sum(g * xhat). Forward and backward at the
    tiny model's [16, 54, 128], 2 threads: 116 vs 300-360 us (AMD EPYC Zen 5); gradients agree with
    F.rms_norm's to 2e-15 in float64 (tests/models/test_fused.py)."""

    @staticmethod
    def forward(ctx, x, weight, eps):
        rstd = torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)
        xhat = x * rstd
        ctx.save_for_backward(xhat, rstd, weight)
        return xhat * weight

    @staticmethod
    def backward(ctx, g):
        xhat, rstd, weight = ctx.saved_tensors
        gx = gw = None
        if ctx.needs_input_grad[0]:
            gxhat = g * weight
            gx = torch.addcmul(gxhat, xhat, (gxhat * xhat).mean(-1, keepdim=True), value=-1).mul_(rstd)
        if ctx.needs_input_grad[1]:
            gw = (g * xhat).reshape(-1, xhat.shape[-1]).sum(0)
        return gx, gw, None


def _rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """float32 RMSNorm: the written-out backward when gradients are recorded (outside compilation,
    where inductor fuses the composite itself), else F.rms_norm."""
    if torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad) and not torch.compiler.is_compiling():
        return _RMSNormFn.apply(x, weight, eps)
    return F.rms_norm(x, (x.shape[-1],), weight, eps)


def _fused_norm(base: type) -> type:
    class FusedRMSNorm(base):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if x.dtype == torch.float32 and self.weight.dtype == torch.float32:
                return _rms_norm(x, self.weight, self.variance_epsilon)
            return self.weight * F.rms_norm(x.float(), (x.shape[-1],), None, self.variance_epsilon).to(x.dtype)

    FusedRMSNorm.__name__ = FusedRMSNorm.__qualname__ = f"Fused{base.__name__}"
    return FusedRMSNorm


def _fused_mlp(base: type) -> type:
    class FusedMLP(base):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            gate, up = self.gate_proj, self.up_proj
            if not _plain(gate, up) or gate.bias is not None:
                return super().forward(x)
            g, u = _side_by_side(self, x, (gate, up)).split(gate.out_features, dim=-1)
            return self.down_proj(self.act_fn(g) * u)

    FusedMLP.__name__ = FusedMLP.__qualname__ = f"Fused{base.__name__}"
    return FusedMLP


def _plain(*layers) -> bool:
    """Plain Linear layers (not LoRA-wrapped or quantised), all with a bias or all without."""
    return all(isinstance(m, torch.nn.Linear) for m in layers) and len({m.bias is None for m in layers}) == 1


def _side_by_side(owner, x: torch.Tensor, layers) -> torch.Tensor:
    """x through `layers` (plain Linear) as one product, their outputs side by side; the weights
    cast once under CPU autocast when frozen, else through the route load_causal_lm chose."""
    bias = None if layers[0].bias is None else torch.cat([m.bias for m in layers])
    lowp = frozen_lowp(owner, tuple(m.weight for m in layers))
    if lowp is not None:
        return F.linear(x, lowp, bias)
    product = linear if type(layers[0]) is OneDNNLinear else F.linear
    return product(x, torch.cat([m.weight for m in layers]), bias)


def _rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """transformers' `x * cos + rotate_half(x) * sin`, rotate_half(x) = [-x2, x1], as
    `x * cos + [x2, x1] * [-sin1, sin2]`: bit for bit the same numbers, but the swap of halves is one
    roll, whose backward is a roll, where rotate_half's slices, negation and concatenation made a
    zero-filled full-size gradient for each slice and summed them. With q/k/v taken apart by split
    rather than slicing (one concatenation backward, no zero-fills): `harness bench train` faster in
    16 of 20 rounds, worker processes alternated with and without, median +2-5% (AMD EPYC Zen 5)."""
    half = x.shape[-1] // 2
    signed = torch.cat((-sin[..., :half], sin[..., half:]), dim=-1)  # [B, 1, T, D]: small, no gradient
    return x * cos + x.roll(half, dims=-1) * signed


SHORT_ROWS = 64  # rows of at most this many tokens: attention as products and a softmax (`_attention`)


def _attention(q, k, v, mask, dropout: float, scale: float, causal: bool) -> torch.Tensor:
    """SDPA, or for short float32 CPU rows without dropout softmax(q k^T * scale + mask) v as plain
    products (a row with no key to attend, as under left padding, keeps SDPA and its rule for it).
    Why: torch's CPU flash attention works in blocks whose set-up dominates at short lengths.
    Forward and backward, causal mask, 2 threads (AMD EPYC Zen 5), flash vs products: the tiny
    model's 16 x 4 heads x 54 x 32, 1.44 vs 0.90 ms; at 96 tokens 3.1 vs 3.5 ms; SmolLM2's 4 x 9 x
    64 x 64, 1.20 vs 0.95 ms; at 192 tokens equal. Under the AVX2 and the default kernels
    (ATEN_CPU_CAPABILITY) the products still win at 54 tokens, 1.19x and 1.13x. The score matrix is
    [B, H, T, T], so longer rows keep flash attention (memory linear in T). `harness bench train`
    with and without, worker processes alternated: faster in 17 of 22 rounds, paired medians +1.3%
    and +4.8% in two series."""
    t = q.shape[-2]
    if (q.device.type != "cpu" or q.dtype != torch.float32 or dropout or t > SHORT_ROWS or k.shape[-2] != t
            or (mask is not None and (mask.dtype != torch.bool or not bool(mask.any(-1).all())))):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout, scale=scale, is_causal=causal)
    if mask is None and causal:
        mask = torch.ones(t, t, dtype=torch.bool, device=q.device).tril()
    scores = (q * scale) @ k.transpose(-1, -2)
    if mask is not None:  # every row keeps a key (checked above; SDPA has its own rule for empty rows)
        scores = scores + torch.zeros(mask.shape, dtype=q.dtype, device=q.device).masked_fill_(~mask, torch.finfo(q.dtype).min)
    return torch.softmax(scores, dim=-1) @ v


def _fused_attention(base: type) -> type:
    class FusedAttention(base):
        """The q, k and v projections as one product, rotary embeddings applied to q and k at once,
        and, under CPU autocast, the attention itself in float32: torch's CPU flash attention is
        slower in bf16 than in fp32 at every shape measured (forward and backward; 2.9x slower at
        the tiny model's 16 x 4 heads x 54 tokens, 1.5x at SmolLM2's 4 x 9 x 160), and more exact in
        fp32. Anything this does not cover (a KV cache, another attention implementation, extra
        arguments) goes to the model's own forward, and so does a compiled layer (`train.compile`):
        inductor fuses the same work itself, and with these q/k slices of one rotary output it
        saved a stride for the backward with the first length baked in, so the first batch of
        another length failed (torch 2.13, "expected ... stride 6912==7040")."""

        def forward(self, hidden_states, position_embeddings=None, attention_mask=None, past_key_values=None,
                    **kwargs):
            if (past_key_values is not None or position_embeddings is None or self.config._attn_implementation != "sdpa"
                    or set(kwargs) - {"position_ids", "is_causal", "cache_position", "use_cache"}
                    or torch.compiler.is_compiling()):
                return super().forward(hidden_states, position_embeddings, attention_mask, past_key_values, **kwargs)
            shape = (*hidden_states.shape[:-1], -1, self.head_dim)
            heads = self.q_proj.out_features // self.head_dim
            layers = (self.q_proj, self.k_proj, self.v_proj)
            if _plain(*layers):
                qkv = _side_by_side(self, hidden_states, layers).view(shape).transpose(1, 2)
                kv_heads = (qkv.shape[1] - heads) // 2
                qk, v = qkv.split((heads + kv_heads, kv_heads), dim=1)
            else:  # LoRA adapters (or other wrappers) on a projection: each through its own module
                q, k, v = (m(hidden_states).view(shape).transpose(1, 2) for m in layers)
                qk = torch.cat([q, k], dim=1)
            cos, sin = (t.unsqueeze(1) for t in position_embeddings)
            qk = _rotary(qk, cos, sin)  # transformers' apply_rotary_pos_emb, once for q and k
            q, k = qk.split((heads, qk.shape[1] - heads), dim=1)
            if self.num_key_value_groups > 1:
                k, v = (t.repeat_interleave(self.num_key_value_groups, dim=1) for t in (k, v))
            causal = q.shape[2] > 1 and attention_mask is None and kwargs.get("is_causal", self.is_causal)
            dropout = self.attention_dropout if self.training else 0.0
            if q.device.type == "cpu" and torch.is_autocast_enabled("cpu"):
                with torch.autocast("cpu", enabled=False):
                    out = _attention(q.float(), k.float(), v.float(), attention_mask, dropout, self.scaling, causal)
            else:
                out = _attention(q, k, v, attention_mask, dropout, self.scaling, causal)
            return self.o_proj(out.transpose(1, 2).reshape(*hidden_states.shape[:-1], -1)), None

    FusedAttention.__name__ = FusedAttention.__qualname__ = f"Fused{base.__name__}"
    return FusedAttention


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
        elif name in ATTENTIONS and all(hasattr(module, a) for a in ("q_proj", "k_proj", "v_proj", "o_proj", "head_dim",
                                                                       "num_key_value_groups", "scaling", "config")):
            _swap(module, _fused_attention)
            n += 1
    return n
