"""The implicit reward model: trained once from a recipe, scores with its loss's own reward, and
its held-out accuracy is what that reward says about held-out pairs."""

from __future__ import annotations

import json
import math

import pytest

from harness.evaluation.config import EvalConfig
from harness.reward.implicit import ImplicitRewardModel, encode
from harness.reward.recipe import ensure_reward_model
from harness.reward.scorer import load_reward_model

RECIPE = {"kind": "implicit", "loss": "simpo", "beta": 2.0, "params": {"gamma": 0.5}, "data": "arith",
          "options": {"split": "train", "n_pairs": 200, "seed": 2}, "backbone": "tiny-arith-sft", "lr": 2.0e-4,
          "epochs": 1, "batch_size": 16, "max_length": 32, "threads": 1}


@pytest.fixture(scope="module")
def rm_dir(tmp_path_factory):
    train = EvalConfig.from_mapping({"reward_model": {"train": RECIPE}}).reward.train
    return ensure_reward_model(train, tmp_path_factory.mktemp("rm"), log=lambda s: None)


def test_trained_once_with_its_recipe_recorded(rm_dir):
    info = json.loads((rm_dir / "rm.json").read_text())
    assert info["kind"] == "implicit" and info["loss"] == "simpo" and info["reference"] == "tiny-arith-sft"
    assert info["heldout_pairs"] == 40 and info["train_pairs"] == 160 and info["steps"] == 10
    assert 0.5 < info["heldout_accuracy"] <= 1.0  # the pinned reference already knows arithmetic
    assert not (rm_dir.parent / f"{rm_dir.name}.work").exists()  # its training rows are not left behind


def test_scores_are_the_losses_own_reward(rm_dir):
    import torch

    from harness.models.load import load_causal_lm
    from harness.scoring.kl import completion_logps

    rm = load_reward_model(rm_dir, max_length=32)
    assert isinstance(rm, ImplicitRewardModel) and rm.reference is None  # SimPO needs no reference
    prompts, responses = ["61-48+71=?", "61-48+71=?"], ["61-48=13.13+71=84.#84", "61-48=15.15+71=86.#86"]
    scores = rm.score(prompts, responses)
    p, r = encode(rm.tokenizer, prompts, responses, 32)
    logps = completion_logps(load_causal_lm(rm_dir), p, r)
    by_hand = [2.0 * lp / len(ids) for lp, ids in zip(logps, r)]  # SimPO: beta x mean log-prob per token
    assert scores == pytest.approx(by_hand, abs=1e-6)
    assert scores[0] > scores[1]  # the correct chain over the one with a step off
    assert all(math.isfinite(s) for s in scores) and torch.get_num_threads() >= 1


def test_a_dpo_implicit_model_scores_its_log_ratio(tmp_path):
    train = EvalConfig.from_mapping({"reward_model": {"train": {**RECIPE, "loss": "dpo", "beta": 0.1, "params": {}}}})
    path = ensure_reward_model(train.reward.train, tmp_path, log=lambda s: None)
    rm = load_reward_model(path, max_length=32)
    assert rm.reference is not None
    from harness.scoring.kl import completion_logps

    p, r = encode(rm.tokenizer, ["12+30-5=?"], ["12+30=42.42-5=37.#37"], 32)
    pol, ref = completion_logps(rm.policy, p, r)[0], completion_logps(rm.reference, p, r)[0]
    assert rm.score(["12+30-5=?"], ["12+30=42.42-5=37.#37"])[0] == pytest.approx(0.1 * (pol - ref), abs=1e-6)
