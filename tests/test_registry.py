"""The generic `Registry` and the loss registry's input checks (names, parameters, needed inputs)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from harness.errors import HarnessError
from harness.losses import LOSSES, LossInfo, get_loss
from harness.registry import Registry

B = 4


def logps(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return [-torch.rand(B, generator=g, dtype=torch.float64) * 50 - 1 for _ in range(4)]


LENGTHS = {"chosen_lengths": torch.full((B,), 7.0), "rejected_lengths": torch.full((B,), 9.0)}


# ---------------------------------------------------------------- Registry
def test_registry_register_get_and_list():
    reg: Registry[int] = Registry("widget")
    reg.register("b", 2)

    @reg.register("a")
    def a():
        return 1

    assert reg.get("b") == 2 and reg.get("a") is a
    assert reg.names() == ["a", "b"] and list(reg) == ["a", "b"]
    assert "a" in reg and "zz" not in reg
    assert dict(reg.items()) == {"a": a, "b": 2}


def test_registry_rejects_duplicates():
    reg: Registry[int] = Registry("widget")
    reg.register("x", 1)
    with pytest.raises(ValueError, match="registered twice"):
        reg.register("x", 2)


def test_registry_unknown_name_suggests_close_match():
    reg: Registry[int] = Registry("widget")
    reg.register("sprocket", 1)
    reg.register("gear", 2)
    with pytest.raises(HarnessError, match=r"unknown widget 'sprockte'; did you mean 'sprocket'\?") as e:
        reg.get("sprockte")
    assert "known: gear, sprocket" in str(e.value)
    with pytest.raises(HarnessError) as e:
        reg.get("zzzzzz")
    assert "did you mean" not in str(e.value)


def test_registry_lazy_target_is_imported_on_first_get_only():
    """A "module:attr" target must not be imported at registration (that is what keeps vLLM out of
    `import harness`); it is imported, and cached, on first `get`. Checked in a fresh interpreter
    with a stdlib module nothing else imports."""
    code = (
        "import sys\n"
        "from harness.registry import Registry\n"
        "r = Registry('thing')\n"
        "r.register('sched', 'sched:scheduler')\n"
        "assert 'sched' not in sys.modules\n"
        "cls = r.get('sched')\n"
        "import sched\n"
        "assert cls is sched.scheduler and r.get('sched') is cls\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_registry_lazy_target_with_bad_module_is_a_bug_not_a_user_error():
    reg: Registry[object] = Registry("thing")
    reg.register("bad", "harness.no_such_module:X")
    with pytest.raises(ModuleNotFoundError):
        reg.get("bad")


# ---------------------------------------------------------------- loss registry
def test_every_loss_declares_paper_formula_and_defaults():
    for name, info in LOSSES.items():
        assert isinstance(info, LossInfo) and info.name == name
        assert info.paper and info.formula
        assert isinstance(info.params, dict)


def test_unknown_loss_suggests_close_name():
    with pytest.raises(HarnessError, match=r"unknown loss 'minordpo'; did you mean 'minor_dpo'\?"):
        get_loss("minordpo")
    with pytest.raises(HarnessError, match=r"did you mean 'hinge'\?"):
        get_loss("hinje")


def test_unknown_loss_parameter_is_an_error():
    pc, pr, rc, rr = logps()
    with pytest.raises(HarnessError, match=r"loss 'dpop': unknown parameter\(s\) \['lambda'\]; it takes \['lambda_'\]"):
        get_loss("dpop")(pc, pr, rc, rr, beta=0.1, **{"lambda": 5.0})
    with pytest.raises(HarnessError, match=r"loss 'dpo': unknown parameter\(s\) \['gamma'\]; it takes none"):
        get_loss("dpo")(pc, pr, rc, rr, beta=0.1, gamma=0.5)


def test_loss_parameter_default_and_override():
    pc, pr, rc, rr = logps()
    default = get_loss("dpop")(pc, pr, rc, rr, beta=0.1).losses
    explicit = get_loss("dpop")(pc, pr, rc, rr, beta=0.1, lambda_=50.0).losses
    other = get_loss("dpop")(pc, pr, rc, rr, beta=0.1, lambda_=5.0).losses
    assert torch.equal(default, explicit)
    # same values unless some pair has r_w < 0; make sure the seed gives one
    assert ((pc - rc) < 0).any() and not torch.equal(default, other)


@pytest.mark.parametrize("name,missing", [("simpo", "chosen_lengths"), ("rpo", "chosen_lengths"),
                                          ("sft", "chosen_lengths")])
def test_missing_needed_input_is_an_error(name, missing):
    pc, pr, rc, rr = logps()
    with pytest.raises(HarnessError, match=rf"loss '{name}' needs keyword input\(s\) \[.*'{missing}'"):
        get_loss(name)(pc, pr, rc, rr, beta=0.1)


def test_simpo_needs_both_lengths():
    pc, pr, _, _ = logps()
    with pytest.raises(HarnessError, match="rejected_lengths"):
        get_loss("simpo")(pc, pr, beta=0.1, chosen_lengths=LENGTHS["chosen_lengths"])


def test_ipo_length_normalised_needs_lengths():
    pc, pr, rc, rr = logps()
    with pytest.raises(HarnessError, match="length_normalize needs"):
        get_loss("ipo")(pc, pr, rc, rr, beta=0.1, length_normalize=True)


@pytest.mark.parametrize("name", ["simpo", "sft"])
def test_reference_free_losses_accept_none_refs(name):
    assert not get_loss(name).requires_reference
    pc, pr, _, _ = logps()
    out = get_loss(name)(pc, pr, None, None, beta=0.1, **LENGTHS)
    assert out.losses.shape == (B,) and torch.isfinite(out.losses).all()


def test_reference_losses_reject_missing_refs():
    pc, pr, rc, _ = logps()
    for name, info in LOSSES.items():
        if info.requires_reference:
            with pytest.raises(HarnessError, match=f"loss '{name}' needs reference log-probs"):
                info(pc, pr, rc, None, beta=0.1, **LENGTHS)


@pytest.mark.parametrize("beta", [0.0, -0.1, float("nan")])
def test_nonpositive_beta_is_an_error(beta):
    pc, pr, rc, rr = logps()
    with pytest.raises(HarnessError, match="beta must be > 0"):
        get_loss("dpo")(pc, pr, rc, rr, beta=beta)


@pytest.mark.parametrize("eps", [-0.1, 0.5, 0.7])
def test_rdpo_label_smoothing_out_of_range_is_a_user_error(eps):
    pc, pr, rc, rr = logps()
    with pytest.raises(HarnessError, match=r"label_smoothing must be in \[0, 0.5\)"):
        get_loss("rdpo")(pc, pr, rc, rr, beta=0.1, label_smoothing=eps)


def test_every_loss_accepts_every_optional_input():
    """A trainer passes all the inputs it has to whichever loss is configured; losses that do not use
    one (dpo and lengths) must ignore it rather than fail with a TypeError."""
    pc, pr, rc, rr = logps()
    nll = torch.full((B,), 2.0, dtype=torch.float64)
    for name, info in LOSSES.items():
        out = info(pc, pr, rc, rr, beta=0.1, chosen_nll=nll, **LENGTHS)
        assert out.losses.shape == (B,), name
