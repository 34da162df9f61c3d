"""Per-sample KL: completion log-probs checked against a plain forward pass, padding-invariant."""

from __future__ import annotations

import pytest

from harness.scoring.base import Samples
from harness.scoring.kl import KLScorer, completion_logps

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    from harness.models.tiny import build

    root = tmp_path_factory.mktemp("kl")
    opts = {"hidden_size": 64, "num_attention_heads": 2, "intermediate_size": 128}
    return build(texts=[], seed=0, options=opts, cache_dir=root), build(texts=[], seed=1, options=opts, cache_dir=root)


PROMPTS = [[5, 6, 7], [8, 9], [10, 11, 12, 13, 14], [3]]
COMPLETIONS = [[20, 21, 22], [30], [], [40, 41, 42, 43, 44, 45]]


def manual_logp(model, prompt, completion):
    ids = torch.tensor([prompt + completion])
    with torch.no_grad():
        logprobs = torch.log_softmax(model(ids).logits[0].double(), -1)
    return sum(float(logprobs[len(prompt) + j - 1, t]) for j, t in enumerate(completion))


def test_completion_logps_match_a_plain_forward(models):
    from harness.models.load import load_causal_lm

    model = load_causal_lm(models[0])
    batched = completion_logps(model, PROMPTS, COMPLETIONS, batch_size=4)  # right-padded batch
    single = completion_logps(model, PROMPTS, COMPLETIONS, batch_size=1)
    for got, one, p, c in zip(batched, single, PROMPTS, COMPLETIONS):
        assert got == pytest.approx(manual_logp(model, p, c), abs=1e-4)
        assert got == pytest.approx(one, abs=1e-4)
    assert batched[2] == 0.0  # empty completion: log 1


def test_kl_is_policy_minus_reference_and_zero_for_itself(models):
    ref, pol = models
    scorer = KLScorer(ref, batch_size=2)

    def samples(path):
        return Samples("r", path, ["a", "b", "c", "d"], ["x"] * 4, PROMPTS, [""] * 4, COMPLETIONS, [None] * 4)

    same = scorer.score(samples(ref))
    assert same["kl"] == [0.0] * 4
    out = scorer.score(samples(pol))
    assert out["kl"] == [a - b for a, b in zip(out["logp_policy"], out["logp_ref"])]
    assert out["logp_ref"] == pytest.approx(same["logp_policy"])
    assert out["kl"][0] != 0 and out["kl"][2] == 0.0
