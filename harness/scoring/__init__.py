"""Scoring: per-sample numbers for generated completions, plus the statistics built on them.

    from harness.scoring import SCORERS
    scorer = SCORERS.get("reward")(path="results/rm-hh")      # or "verifier", "kl"
    scorer.score(samples)    # {"reward": [...]}: one value per sample (harness.scoring.base.Samples)

Scorers (each a class with `columns`, `score(samples)` and `close()`):
- ``reward``: a reward model of any kind (`harness.reward`: a classifier or an implicit one);
  `harness train-rm` trains one, and a recipe in an eval block is trained once per content
  hash into OUT/rm/<hash>/ (`harness.reward.recipe`).
- ``verifier``: math final-answer check against `PreferencePair.gold` (`verifier.MathVerifier`).
- ``kl``: log pi(y|x) - log pi_ref(y|x) on the policy's samples (`kl.KLScorer`).
Aggregates: `winrate.winrate` (vs the reference, ties half) and `winrate.bootstrap_over_prompts`
(CIs resampling prompts).

Targets are lazy strings: importing harness.scoring imports neither torch nor transformers.
"""

from __future__ import annotations

from harness.registry import Registry

SCORERS: Registry = Registry("scorer")
SCORERS.register("reward", "harness.reward.scorer:RewardModelScorer")
SCORERS.register("verifier", "harness.scoring.verifier:MathVerifier")
SCORERS.register("kl", "harness.scoring.kl:KLScorer")

__all__ = ["SCORERS"]
