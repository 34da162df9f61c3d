"""harness.models.cpu_linear: float32 Linear layers through oneDNN, the same maths as F.linear."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from harness import accel, probe
from harness.models.cpu_linear import OneDNNLinear, route_linears

pytestmark = pytest.mark.skipif(not accel.onednn_available(), reason="torch built without oneDNN")


def _pair(bias: bool, frozen: bool = False):
    torch.manual_seed(0)
    plain = torch.nn.Linear(96, 40, bias=bias)
    routed = torch.nn.Linear(96, 40, bias=bias)
    routed.load_state_dict(plain.state_dict())
    assert route_linears(routed, force=True) == 1 and type(routed) is OneDNNLinear
    for m in (plain, routed):
        m.weight.requires_grad_(not frozen)
    return plain, routed


@pytest.mark.parametrize("bias", [False, True])
def test_forward_and_backward_agree_with_f_linear(bias):
    plain, routed = _pair(bias)
    x = torch.randn(3, 17, 96)
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    ya, yb = plain(xa), routed(xb)
    assert yb.shape == ya.shape == (3, 17, 40)
    torch.testing.assert_close(yb, ya, rtol=1e-5, atol=1e-5)
    g = torch.randn_like(ya)
    ya.backward(g)
    yb.backward(g)
    torch.testing.assert_close(xb.grad, xa.grad, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(routed.weight.grad, plain.weight.grad, rtol=1e-4, atol=1e-4)
    if bias:
        torch.testing.assert_close(routed.bias.grad, plain.bias.grad, rtol=1e-5, atol=1e-5)


def test_frozen_weights_get_no_gradient_and_names_stay():
    plain, routed = _pair(bias=False, frozen=True)
    x = torch.randn(5, 96, requires_grad=True)
    routed(x).sum().backward()
    assert routed.weight.grad is None and x.grad is not None
    assert list(routed.state_dict()) == list(plain.state_dict()) and isinstance(routed, torch.nn.Linear)


def test_other_dtypes_and_autocast_take_torch_s_own_path(monkeypatch):
    _, routed = _pair(bias=False)
    calls = []
    monkeypatch.setattr("harness.models.cpu_linear._OneDNNLinearFn.apply", lambda *a: calls.append(a) or F.linear(*a))
    routed(torch.randn(2, 96))
    assert len(calls) == 1
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert routed(torch.randn(2, 96)).dtype is torch.bfloat16  # autocast's bf16 product, not the route
    assert routed.double()(torch.randn(2, 96, dtype=torch.float64)).dtype is torch.float64
    assert len(calls) == 1


def test_the_route_is_measured_with_a_margin_and_can_be_forced(monkeypatch):
    monkeypatch.delenv(accel.CPU_LINEAR_ENV, raising=False)
    monkeypatch.setattr(probe, "_PROBE", {"size": 512, "fp32_gflops": 105.0, "bf16_gflops": 470.0, "speedup": 4.5,
                                          "onednn_fp32_gflops": 245.0, "onednn_speedup": 2.33})
    assert accel.onednn_linear()
    assert "fp32 Linear layers via oneDNN" in accel.probe_line()
    monkeypatch.setattr(probe, "_PROBE", {**probe._PROBE, "onednn_fp32_gflops": 120.0, "onednn_speedup": 1.14})
    assert not accel.onednn_linear()  # within noise of the BLAS (Intel, AVX2-only CPUs): not taken
    kept = torch.nn.Sequential(torch.nn.Linear(4, 4))
    assert route_linears(kept) == 0 and type(kept[0]).__name__ == "CastOnceLinear"  # the cast-once cache still
    monkeypatch.setenv(accel.CPU_LINEAR_ENV, "onednn")
    assert accel.onednn_linear()
    monkeypatch.setenv(accel.CPU_LINEAR_ENV, "aten")
    monkeypatch.setattr(probe, "_PROBE", {**probe._PROBE, "onednn_speedup": 2.33})
    assert not accel.onednn_linear()


def test_weight_gradient_of_a_wide_layer_takes_the_cheaper_transpose_and_agrees():
    from harness.models import cpu_linear

    g, x = torch.randn(51, 256), torch.randn(51, 16)  # out 256 >> in 16: x is the side transposed
    assert 2 * 16 * (51 + 256) < 51 * 256
    got = cpu_linear._weight_grad(g, x)
    assert got.shape == (256, 16) and got.is_contiguous()
    torch.testing.assert_close(got, g.t() @ x, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(cpu_linear._weight_grad(x, g), x.t() @ g, rtol=1e-5, atol=1e-5)  # the other side


def test_a_frozen_weight_is_cast_once_under_autocast_with_autocasts_numbers():
    from harness.models.cpu_linear import frozen_lowp

    plain, routed = _pair(bias=True, frozen=True)
    x = torch.randn(4, 96)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        want, got = plain(x), routed(x)
        first = frozen_lowp(routed, (routed.weight,))
        assert frozen_lowp(routed, (routed.weight,)) is first and first.dtype is torch.bfloat16  # kept
        assert torch.equal(got, want)  # autocast's own cast, done once: bit for bit
        with torch.no_grad():
            routed.weight.mul_(2)  # changed in place (a LoRA merge, load_state_dict): cast again
        again = frozen_lowp(routed, (routed.weight,))
        assert again is not first and torch.equal(again, (routed.weight * 1).to(torch.bfloat16))
        routed.weight.requires_grad_(True)
        assert frozen_lowp(routed, (routed.weight,)) is None  # a weight that trains: autocast's own cache
    assert frozen_lowp(routed, (routed.weight.detach(),)) is None  # no autocast
    assert "_harness_lowp" not in dict(routed.state_dict())
