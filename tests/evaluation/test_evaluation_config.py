"""The eval block's `scorers:` switches: keyed by the SCORERS registry, each with its options; the
older switches (verifier, kl, reward_model) still decide when it is absent."""

from __future__ import annotations

import pytest

from harness.config import from_dict, to_dict
from harness.errors import ConfigError
from harness.evaluation.config import EvalConfig, config_hash
from harness.hashing import content_hash
from harness.scoring.base import ScoringContext
from harness.scoring.kl import KLScorer
from harness.scoring.verifier import MathVerifier


class _Pair:
    gold = "3"


def test_without_a_scorers_block_the_older_switches_decide():
    cfg = from_dict(EvalConfig, {"kl": False})
    assert cfg.scorer_options("kl", cfg.kl) is None and cfg.scorer_options("verifier", cfg.verifier) == {}
    assert config_hash(cfg) == content_hash(to_dict(cfg))  # the identity every evaluation row carries


def test_a_scorers_block_names_what_is_on_with_its_options():
    cfg = from_dict(EvalConfig, {"kl": False, "scorers": {"kl": {"batch_size": 3}, "verifier": {}}})
    assert cfg.scorer_options("kl", cfg.kl) == {"batch_size": 3}  # the block wins over `kl: false`
    assert cfg.scorer_options("reward") is None
    ctx = ScoringContext(ref_dir=None, root=None, pairs=[_Pair()])
    assert isinstance(MathVerifier.for_eval(cfg, ctx), MathVerifier)
    off = from_dict(EvalConfig, {"scorers": {"verifier": {}}})
    assert KLScorer.for_eval(off, ctx) is None  # left out of the block: off
    assert config_hash(cfg) != config_hash(from_dict(EvalConfig, {"kl": False}))


@pytest.mark.parametrize("block, words", [
    ({"verifer": {}}, ["scorers", "unknown scorer 'verifer'", "did you mean 'verifier'"]),
    ({"kl": {"bogus": 1}}, ["scorers.kl.bogus", "unknown option of scorer 'kl'", "batch_size"]),
])
def test_unknown_scorers_and_options_name_the_key(block, words):
    with pytest.raises(ConfigError) as e:
        from_dict(EvalConfig, {"scorers": block}, source="s.yaml")
    for w in words:
        assert w in str(e.value), (w, str(e.value))
