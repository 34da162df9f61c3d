"""Every registered loss against an independent float64 reference written from the paper formula.

The references below use numpy only (no torch, no logsigmoid): log σ(x) is written in its stable
form, -log1p(exp(-x)) for x ≥ 0 and x - log1p(exp(x)) otherwise, so extreme log-ratios (±1e3)
have exact finite references. Notation: r_w = pc - rc, r_l = pr - rr, h = r_w - r_l, all summed
log-probs; |y| are response token counts.

Checked per loss: values (1e-6, relative where large) on random and extreme inputs, finiteness in
float32 at the extremes, torch.autograd.gradcheck in float64 for every log-prob input, a central
finite-difference gradient of the *numpy* reference mean loss against autograd, and the reported
rewards. MinorDPO additionally gets the identities of its formula (Xie et al. 2024, arXiv 2408.09834):
it equals DPO while r_l > 0, and once r_l < 0 the rejected log-prob gets no gradient.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from harness.losses import LOSSES, get_loss

torch.set_num_threads(1)

BETA = 0.1
EPS = 0.1  # label_smoothing for cdpo / rdpo


# ---------------------------------------------------------------- numpy reference (paper formulas)
def logsig(x):
    """log σ(x), stable for any finite x (never exp of a large positive number)."""
    x = np.asarray(x, dtype=np.float64)
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = -np.log1p(np.exp(-x[pos]))
    out[~pos] = x[~pos] - np.log1p(np.exp(x[~pos]))
    return out


def ref_dpo(pc, pr, rc, rr, beta, **_):
    return -logsig(beta * ((pc - rc) - (pr - rr)))


def ref_cdpo(pc, pr, rc, rr, beta, label_smoothing=EPS, **_):
    z = beta * ((pc - rc) - (pr - rr))
    return -(1 - label_smoothing) * logsig(z) - label_smoothing * logsig(-z)


def ref_rdpo(pc, pr, rc, rr, beta, label_smoothing=EPS, **_):
    e = label_smoothing
    z = beta * ((pc - rc) - (pr - rr))
    return ((1 - e) * -logsig(z) - e * -logsig(-z)) / (1 - 2 * e)


def ref_hinge(pc, pr, rc, rr, beta, **_):
    return np.maximum(0.0, 1 - beta * ((pc - rc) - (pr - rr)))


def ref_ipo(pc, pr, rc, rr, beta, length_normalize=False, chosen_lengths=None, rejected_lengths=None, **_):
    if length_normalize:
        h = (pc - rc) / chosen_lengths - (pr - rr) / rejected_lengths
    else:
        h = (pc - rc) - (pr - rr)
    return (h - 1 / (2 * beta)) ** 2


def ref_minor_dpo(pc, pr, rc, rr, beta, **_):
    return -logsig(beta * ((pc - rc) - np.maximum(0.0, pr - rr)))


def ref_dpop(pc, pr, rc, rr, beta, lambda_=50.0, **_):
    r_w, r_l = pc - rc, pr - rr
    return -logsig(beta * (r_w - r_l - lambda_ * np.maximum(0.0, -r_w)))


def ref_simpo(pc, pr, rc, rr, beta, gamma=0.5, chosen_lengths=None, rejected_lengths=None, **_):
    return -logsig(beta * pc / chosen_lengths - beta * pr / rejected_lengths - gamma)


def ref_rpo(pc, pr, rc, rr, beta, alpha=1.0, chosen_lengths=None, **_):
    return ref_dpo(pc, pr, rc, rr, beta) + alpha * (-pc / chosen_lengths)


def ref_sft(pc, pr, rc, rr, beta, chosen_lengths=None, **_):
    return -pc / chosen_lengths


# case id -> (registered name, numpy reference, extra loss kwargs)
CASES = {
    "dpo": ("dpo", ref_dpo, {}),
    "minor_dpo": ("minor_dpo", ref_minor_dpo, {}),
    "ipo": ("ipo", ref_ipo, {}),
    "ipo_norm": ("ipo", ref_ipo, {"length_normalize": True}),
    "cdpo": ("cdpo", ref_cdpo, {"label_smoothing": EPS}),
    "rdpo": ("rdpo", ref_rdpo, {"label_smoothing": EPS}),
    "dpop": ("dpop", ref_dpop, {"lambda_": 50.0}),
    "hinge": ("hinge", ref_hinge, {}),
    "simpo": ("simpo", ref_simpo, {"gamma": 0.5}),
    "rpo": ("rpo", ref_rpo, {"alpha": 1.0}),
    "sft": ("sft", ref_sft, {}),
}
REFERENCE_FREE = {"simpo", "sft"}


def test_cases_cover_every_registered_loss():
    assert {name for name, _, _ in CASES.values()} == set(LOSSES.names())


# ---------------------------------------------------------------- inputs
def make_inputs(seed: int, n: int = 64, extreme: bool = False) -> dict[str, np.ndarray]:
    """Summed log-probs with log-ratios from N(0, 5), plus exact zeros and ±1e3 when `extreme`."""
    rng = np.random.default_rng(seed)
    rc = -rng.uniform(5, 300, n)
    rr = -rng.uniform(5, 300, n)
    r_w = rng.normal(0, 5, n)
    r_l = rng.normal(0, 5, n)
    if extreme:
        k = n // 4
        r_w[:k] = rng.choice([-1e3, 1e3], k)
        r_l[k:2 * k] = rng.choice([-1e3, 1e3], k)
        r_w[2 * k:2 * k + 4] = [1e3, -1e3, 1e3, -1e3]
        r_l[2 * k:2 * k + 4] = [-1e3, 1e3, 1e3, -1e3]
        r_w[-3:] = 0.0
        r_l[-3:] = 0.0
    return {
        "pc": rc + r_w, "pr": rr + r_l, "rc": rc, "rr": rr,
        "chosen_lengths": rng.integers(1, 200, n).astype(np.float64),
        "rejected_lengths": rng.integers(1, 200, n).astype(np.float64),
    }


def call(case: str, x: dict, *, beta: float = BETA, dtype=torch.float64, requires_grad: bool = False):
    """Run the harness loss on numpy inputs; returns (LossOutput, the four tensors)."""
    name, _, kwargs = CASES[case]
    t = {k: torch.tensor(x[k], dtype=dtype, requires_grad=requires_grad and k in ("pc", "pr", "rc", "rr"))
         for k in x}
    refs = (None, None) if name in REFERENCE_FREE else (t["rc"], t["rr"])
    out = get_loss(name)(t["pc"], t["pr"], *refs, beta=beta, chosen_lengths=t["chosen_lengths"],
                         rejected_lengths=t["rejected_lengths"], **kwargs)
    return out, t


def reference(case: str, x: dict, beta: float = BETA) -> np.ndarray:
    _, fn, kwargs = CASES[case]
    return fn(x["pc"], x["pr"], x["rc"], x["rr"], beta, chosen_lengths=x["chosen_lengths"],
              rejected_lengths=x["rejected_lengths"], **kwargs)


# ---------------------------------------------------------------- values
@pytest.mark.parametrize("beta", [0.1, 1.0])
@pytest.mark.parametrize("extreme", [False, True], ids=["normal", "extreme"])
@pytest.mark.parametrize("case", list(CASES))
def test_values_match_float64_reference(case, extreme, beta):
    x = make_inputs(seed=2 * list(CASES).index(case) + extreme, extreme=extreme)
    out, _ = call(case, x, beta=beta)
    want = reference(case, x, beta)
    got = out.losses.detach().numpy()
    assert got.shape == want.shape == (64,)
    assert np.isfinite(want).all()  # the formula is finite everywhere on these inputs
    assert np.isfinite(got).all(), f"{case}: non-finite loss at {np.flatnonzero(~np.isfinite(got))}"
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("case", list(CASES))
def test_float32_stays_finite_at_extremes(case):
    x = make_inputs(seed=7, extreme=True)
    out, _ = call(case, x, beta=1.0, dtype=torch.float32)
    got = out.losses.detach().double().numpy()
    assert np.isfinite(got).all(), f"{case}: non-finite float32 loss"
    # float32 log-ratios of numbers around 1e3 carry ~1e-4 absolute error; compare loosely.
    np.testing.assert_allclose(got, reference(case, x, 1.0), rtol=1e-4, atol=1e-3)


# ---------------------------------------------------------------- rewards
@pytest.mark.parametrize("case", list(CASES))
def test_rewards_are_beta_times_log_ratio_and_detached(case):
    x = make_inputs(seed=3)
    out, t = call(case, x, beta=0.3, requires_grad=True)
    assert not out.chosen_rewards.requires_grad and not out.rejected_rewards.requires_grad
    name = CASES[case][0]
    if name == "simpo":  # reference-free: reward is beta times the average log-prob
        want_w, want_l = 0.3 * x["pc"] / x["chosen_lengths"], 0.3 * x["pr"] / x["rejected_lengths"]
    elif name == "sft":  # no reference given in `call`: rewards are zeros
        want_w = want_l = np.zeros(64)
    else:
        want_w, want_l = 0.3 * (x["pc"] - x["rc"]), 0.3 * (x["pr"] - x["rr"])
    np.testing.assert_allclose(out.chosen_rewards.numpy(), want_w, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out.rejected_rewards.numpy(), want_l, rtol=1e-12, atol=1e-12)


def test_sft_with_reference_reports_dpo_rewards():
    x = make_inputs(seed=4)
    t = {k: torch.tensor(v) for k, v in x.items()}
    out = get_loss("sft")(t["pc"], t["pr"], t["rc"], t["rr"], beta=0.2, chosen_lengths=t["chosen_lengths"])
    np.testing.assert_allclose(out.chosen_rewards.numpy(), 0.2 * (x["pc"] - x["rc"]), rtol=1e-12)
    np.testing.assert_allclose(out.rejected_rewards.numpy(), 0.2 * (x["pr"] - x["rr"]), rtol=1e-12)


# ---------------------------------------------------------------- gradients
def _away_from_kinks(x: dict, beta: float) -> dict:
    """Move inputs off the non-differentiable points: hinge 1 - beta*h = 0, r_l = 0 (minor_dpo),
    r_w = 0 (dpop). Finite differences with step 1e-6 must not straddle a kink."""
    x = {k: v.copy() for k, v in x.items()}
    r_w, r_l = x["pc"] - x["rc"], x["pr"] - x["rr"]
    r_w = np.where(np.abs(r_w) < 0.05, 0.05 * np.sign(r_w + 1e-12), r_w)
    r_l = np.where(np.abs(r_l) < 0.05, 0.05 * np.sign(r_l + 1e-12), r_l)
    margin = 1 - beta * (r_w - r_l)
    r_l = np.where(np.abs(margin) < 0.05, r_l + 0.5 / beta, r_l)
    x["pc"], x["pr"] = x["rc"] + r_w, x["rr"] + r_l
    return x


@pytest.mark.parametrize("case", list(CASES))
def test_gradcheck_float64(case):
    # Smaller beta-scaled log-ratios than the value tests so that sigmoids are not saturated and
    # the check has something to compare.
    x = _away_from_kinks(make_inputs(seed=11, n=8), beta=0.5)
    name, _, kwargs = CASES[case]
    lengths = {k: torch.tensor(x[k]) for k in ("chosen_lengths", "rejected_lengths")}
    inputs = tuple(torch.tensor(x[k], requires_grad=True) for k in ("pc", "pr", "rc", "rr"))
    loss = get_loss(name)
    if name in REFERENCE_FREE:
        fn = lambda pc, pr: loss(pc, pr, None, None, beta=0.5, **lengths, **kwargs).losses  # noqa: E731
        inputs = inputs[:2]
    else:
        fn = lambda pc, pr, rc, rr: loss(pc, pr, rc, rr, beta=0.5, **lengths, **kwargs).losses  # noqa: E731
    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize("case", list(CASES))
def test_autograd_matches_central_differences_of_numpy_reference(case):
    """Second, independent gradient check: d(mean loss)/d(input) from autograd on the harness loss
    against central differences of the numpy reference (which shares no code with it)."""
    beta = 0.5
    x = _away_from_kinks(make_inputs(seed=12, n=16), beta)
    out, t = call(case, x, beta=beta, requires_grad=True)
    out.losses.mean().backward()
    names = ("pc", "pr") if CASES[case][0] in REFERENCE_FREE else ("pc", "pr", "rc", "rr")
    h = 1e-5
    for k in names:
        num = np.empty(16)
        for i in range(16):
            up = {**x, k: x[k].copy()}
            dn = {**x, k: x[k].copy()}
            up[k][i] += h
            dn[k][i] -= h
            num[i] = (reference(case, up, beta).mean() - reference(case, dn, beta).mean()) / (2 * h)
        got = t[k].grad.numpy() if t[k].grad is not None else np.zeros(16)  # sft ignores pr
        np.testing.assert_allclose(got, num, rtol=1e-5, atol=1e-8, err_msg=f"{case}: d/d{k}")


# ---------------------------------------------------------------- MinorDPO identities
def _minor_and_dpo(r_w, r_l, beta=BETA):
    """Loss and gradients of minor_dpo and dpo at the given log-ratios (reference log-probs fixed)."""
    results = []
    for name in ("minor_dpo", "dpo"):
        rc = torch.full((len(r_w),), -50.0, dtype=torch.float64, requires_grad=True)
        rr = torch.full((len(r_w),), -60.0, dtype=torch.float64, requires_grad=True)
        pc = (rc.detach() + torch.tensor(r_w, dtype=torch.float64)).requires_grad_()
        pr = (rr.detach() + torch.tensor(r_l, dtype=torch.float64)).requires_grad_()
        losses = get_loss(name)(pc, pr, rc, rr, beta=beta).losses
        losses.sum().backward()
        results.append((losses.detach(), pc.grad, pr.grad, rc.grad, rr.grad))
    return results


def test_minor_dpo_rejected_gradient_is_exactly_zero_below_reference():
    r_w = np.array([-3.0, 0.0, 2.0, 10.0, -1e3])
    r_l = np.array([-1.0, -1e-9, -5.0, -2.0, -1e3])
    (loss, gpc, gpr, grc, grr), _ = _minor_and_dpo(r_w, r_l)
    assert torch.equal(gpr, torch.zeros_like(gpr)) and torch.equal(grr, torch.zeros_like(grr))
    assert (gpc < 0).all()  # raising r_w still lowers the loss
    # below the gate the loss is -log σ(β r_w): an SFT-like push on the chosen answer only
    np.testing.assert_allclose(loss.numpy(), -logsig(BETA * r_w), rtol=1e-12)


def test_minor_dpo_gradient_equals_dpo_above_reference():
    r_w = np.array([-3.0, 0.0, 2.0, 10.0, 1e3])
    r_l = np.array([1.0, 1e-9, 5.0, 2.0, 1e3])
    (m_loss, *m_grads), (d_loss, *d_grads) = _minor_and_dpo(r_w, r_l)
    assert torch.equal(m_loss, d_loss)
    for gm, gd in zip(m_grads, d_grads, strict=True):
        assert torch.equal(gm, gd)


def test_minor_dpo_at_exactly_zero_follows_the_clamp_convention():
    """At step 0 the policy is the reference, r_l == 0 exactly: clamp(min=0) passes the gradient,
    so the first MinorDPO step is the DPO step (relu would give 0, maximum 1/2)."""
    r = np.zeros(4)
    (m_loss, *m_grads), (d_loss, *d_grads) = _minor_and_dpo(r, r)
    np.testing.assert_allclose(m_loss.numpy(), math.log(2), rtol=1e-15)
    np.testing.assert_allclose(d_loss.numpy(), math.log(2), rtol=1e-15)
    for gm, gd in zip(m_grads, d_grads, strict=True):
        assert torch.equal(gm, gd)
    gpc, gpr, _, _ = m_grads
    assert (gpr == BETA / 2).all() and (gpc == -BETA / 2).all()  # σ(0) = 1/2, full DPO gradient


def test_minor_dpo_equals_dpo_for_nonnegative_and_bounds_it_below_otherwise():
    x = make_inputs(seed=21, n=256, extreme=True)
    m, _ = call("minor_dpo", x)
    d, _ = call("dpo", x)
    m, d = m.losses.detach().numpy(), d.losses.detach().numpy()
    r_l = x["pr"] - x["rr"]
    assert (r_l >= 0).any() and (r_l < 0).any()
    np.testing.assert_array_equal(m[r_l >= 0], d[r_l >= 0])
    assert (m[r_l < 0] >= d[r_l < 0]).all()
    assert (m[r_l < 0] > d[r_l < 0]).any()


@pytest.mark.parametrize("name", ["dpo", "minor_dpo", "cdpo", "rdpo", "dpop", "rpo"])
def test_sigmoid_family_is_log2_at_zero_log_ratio(name):
    zero = torch.zeros(3, dtype=torch.float64)
    pc = torch.full((3,), -20.0, dtype=torch.float64)
    out = get_loss(name)(pc, pc.clone(), pc.clone(), pc.clone(), beta=0.7, chosen_lengths=torch.ones(3),
                         chosen_nll=zero)  # rpo: an NLL of 0 leaves its DPO part alone
    np.testing.assert_allclose(out.losses.numpy(), math.log(2), rtol=1e-15)


def test_rpo_uses_given_chosen_nll_over_lengths():
    x = make_inputs(seed=5, n=8)
    t = {k: torch.tensor(v) for k, v in x.items()}
    nll = torch.linspace(0.5, 3.0, 8, dtype=torch.float64)
    out = get_loss("rpo")(t["pc"], t["pr"], t["rc"], t["rr"], beta=BETA, alpha=0.25,
                          chosen_lengths=t["chosen_lengths"], chosen_nll=nll)
    np.testing.assert_allclose(out.losses.numpy(), ref_dpo(**{k: x[k] for k in ("pc", "pr", "rc", "rr")},
                                                           beta=BETA) + 0.25 * nll.numpy(), rtol=1e-12)


def test_ipo_summed_and_length_normalised_differ():
    """The paper's IPO (summed log-ratios) and TRL's per-token form are different losses; the
    `length_normalize` switch must actually change the result when lengths are not 1."""
    x = make_inputs(seed=6, n=16)
    a, _ = call("ipo", x)
    b, _ = call("ipo_norm", x)
    assert not torch.allclose(a.losses, b.losses)
    ones = {**x, "chosen_lengths": np.ones(16), "rejected_lengths": np.ones(16)}
    a1, _ = call("ipo", ones)
    b1, _ = call("ipo_norm", ones)
    torch.testing.assert_close(a1.losses, b1.losses, rtol=1e-15, atol=0)
