"""harness.models.fused: the fused RMSNorm and MLP give the unfused model's numbers, to rounding."""

from __future__ import annotations

import copy

import torch

from harness.models.fused import fuse


def _tiny_llama():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, max_position_embeddings=64)
    return LlamaForCausalLM(cfg).float()


def test_fused_model_matches_forward_and_gradients():
    plain = _tiny_llama()
    fused = copy.deepcopy(plain)
    assert fuse(fused) == 2 * 4 + 1  # two norms, an MLP and an attention per layer, the final norm
    assert [type(m).__name__ for m in fused.model.layers[0].children()][-3:] == ["FusedLlamaMLP", "FusedLlamaRMSNorm",
                                                                                   "FusedLlamaRMSNorm"]
    assert list(fused.state_dict()) == list(plain.state_dict())  # names and weights unchanged
    ids = torch.randint(0, 64, (3, 11))
    mask = torch.ones_like(ids)
    mask[0, :4] = 0  # a left-padded row: the attention gets a mask, not is_causal
    outs = []
    for model in (plain, fused):
        logits = model(input_ids=ids, attention_mask=mask, use_cache=False).logits  # training's call
        logits.logsumexp(-1).sum().backward()
        outs.append((logits.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}))
    torch.testing.assert_close(outs[1][0], outs[0][0], rtol=1e-5, atol=1e-5)
    for name, grad in outs[0][1].items():
        torch.testing.assert_close(outs[1][1][name], grad, rtol=1e-4, atol=1e-5, msg=name)


def test_attention_takes_the_fused_path_in_training_and_the_models_own_with_a_cache(monkeypatch):
    fused = _tiny_llama()
    fuse(fused)
    calls = []
    base = type(fused.model.layers[0].self_attn).__mro__[1]
    own = base.forward
    monkeypatch.setattr(base, "forward", lambda self, *a, **kw: calls.append(1) or own(self, *a, **kw))
    ids = torch.randint(0, 64, (2, 7))
    with torch.no_grad():
        fused(input_ids=ids, use_cache=False)
        assert calls == []  # both layers fused
        out = fused.generate(ids, max_new_tokens=3, do_sample=False)  # a KV cache: the model's own forward
    assert calls and out.shape == (2, 10)


def test_bf16_autocast_and_lora_adapted_mlps_keep_their_semantics():
    from peft import LoraConfig, get_peft_model

    plain = _tiny_llama()
    adapted = get_peft_model(copy.deepcopy(plain), LoraConfig(r=4, target_modules=["gate_proj", "q_proj"]))
    fuse(adapted)  # the gate and q are LoRA layers now: each goes through its own module (adapters included)
    ids = torch.randint(0, 64, (2, 9))
    with torch.no_grad():
        torch.testing.assert_close(adapted(input_ids=ids, use_cache=False).logits, plain(input_ids=ids).logits,
                                   rtol=1e-5, atol=1e-5)
        fused = copy.deepcopy(plain)
        fuse(fused)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            a, b = plain(input_ids=ids).logits.float(), fused(input_ids=ids, use_cache=False).logits.float()
    torch.testing.assert_close(b, a, rtol=0.05, atol=0.05)  # bf16 rounding, the same computation


def test_rotary_is_transformers_rotary_bit_for_bit_and_so_is_its_gradient():
    from transformers.models.llama.modeling_llama import rotate_half

    from harness.models.fused import _rotary

    x = torch.randn(3, 6, 11, 32, dtype=torch.float64).requires_grad_()
    cos, sin = torch.randn(3, 1, 11, 32, dtype=torch.float64), torch.randn(3, 1, 11, 32, dtype=torch.float64)
    want = x * cos + rotate_half(x) * sin
    got = _rotary(x, cos, sin)
    assert torch.equal(got, want)
    g = torch.randn_like(want)
    torch.testing.assert_close(torch.autograd.grad(got, x, g)[0], torch.autograd.grad(want, x, g)[0])


def test_rms_norm_backward_written_out_matches_autograd_and_skips_a_frozen_weight():
    import torch.nn.functional as F

    from harness.models.fused import _rms_norm

    x = torch.randn(3, 11, 32, dtype=torch.float64).requires_grad_()
    w = torch.randn(32, dtype=torch.float64).requires_grad_()
    got, want = _rms_norm(x, w, 1e-6), F.rms_norm(x, (32,), w, 1e-6)
    assert got.grad_fn.name() == "_RMSNormFnBackward"  # the written-out backward, not the composite
    assert torch.equal(got, want)  # the same operations in the same order
    g = torch.randn_like(want)
    for a, b in zip(torch.autograd.grad(got, (x, w), g), torch.autograd.grad(want, (x, w), g)):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    w.requires_grad_(False)  # LoRA's frozen norms: only the input's gradient
    (gx,) = torch.autograd.grad(_rms_norm(x, w, 1e-6), x, g)
    torch.testing.assert_close(gx, torch.autograd.grad(F.rms_norm(x, (32,), w, 1e-6), x, g)[0], rtol=1e-12, atol=1e-12)
    with torch.no_grad():  # evaluation: F.rms_norm itself
        assert torch.equal(_rms_norm(x, w, 1e-6), want)


def test_short_row_attention_agrees_with_sdpa_and_keeps_it_for_empty_rows():
    import torch.nn.functional as F

    from harness.data.shared_prompt import attention_mask
    from harness.models.fused import SHORT_ROWS, _attention

    torch.manual_seed(0)
    q, k, v = (torch.randn(3, 4, 13, 8, requires_grad=True) for _ in range(3))
    segments = torch.tensor([[0] * 5 + [1] * 4 + [2] * 4, [0] * 6 + [1] * 3 + [2] * 2 + [-1] * 2,
                             [0] * 3 + [1] * 5 + [2] * 5])  # shared prefix, chosen rest, rejected rest, padding
    g = torch.randn(3, 4, 13, 8)
    for mask, causal in ((attention_mask(segments), False), (None, True)):
        got = _attention(q, k, v, mask, 0.0, 8 ** -0.5, causal)
        assert got.grad_fn.name() != "ScaledDotProductFlashAttentionForCpuBackward0"  # the short-row path
        want = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=8 ** -0.5, is_causal=causal)
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
        for a, b in zip(torch.autograd.grad(got, (q, k, v), g), torch.autograd.grad(want, (q, k, v), g)):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    empty = attention_mask(segments).clone()
    empty[0, 0, 0] = False  # a query with no key at all: SDPA's own rule, bit for bit
    assert torch.equal(_attention(q, k, v, empty, 0.0, 0.5, False),
                       F.scaled_dot_product_attention(q, k, v, attn_mask=empty, scale=0.5))
    long = torch.randn(1, 2, SHORT_ROWS + 1, 8)  # longer rows: flash attention
    assert torch.equal(_attention(long, long, long, None, 0.0, 0.5, True),
                       F.scaled_dot_product_attention(long, long, long, scale=0.5, is_causal=True))
