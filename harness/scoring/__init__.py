"""Scoring: per-sample numbers for generated completions, plus the statistics built on them.

    from harness.scoring import SCORERS
    scorer = SCORERS.get("reward")(path="results/rm-hh")      # or "verifier", "kl"
    scorer.score(samples)    # {"reward": [...]}: one value per sample (harness.scoring.base.Samples)

Scorers (each a class with `columns`, `score(samples)` and `close()`):
- ``reward``: any HF sequence-classification reward model (`reward_model.RewardModelScorer`);
  `harness train-rm` trains one (Bradley-Terry, `rm_train.train_reward_model`), and a recipe in
  an eval block is trained once per content hash into OUT/rm/<hash>/ (`rm_stage`).
- ``verifier``: math final-answer check against `PreferencePair.gold` (`verifier.MathVerifier`).
- ``kl``: log pi(y|x) - log pi_ref(y|x) on the policy's samples (`kl.KLScorer`).
Aggregates: `winrate.winrate` (vs the reference, ties half) and `winrate.bootstrap_over_prompts`
(CIs resampling prompts).

Targets are lazy strings: importing harness.scoring imports neither torch nor transformers.
"""

from __future__ import annotations

from harness.registry import Registry

SCORERS: Registry = Registry("scorer")
SCORERS.register("reward", "harness.scoring.reward_model:RewardModelScorer")
SCORERS.register("verifier", "harness.scoring.verifier:MathVerifier")
SCORERS.register("kl", "harness.scoring.kl:KLScorer")

__all__ = ["SCORERS"]
