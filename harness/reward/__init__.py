"""Reward models: one package for training, storing and scoring them.

    from harness.reward.recipe import ensure_reward_model, train_into   # a recipe -> OUT/rm/<hash>/ (once)
    from harness.reward.scorer import load_reward_model                  # a directory -> .score(prompts, responses)

- `recipe`: a `RewardTrainConfig` (a suite's `eval.reward_model.train`, or `harness train-rm`'s
  `--set` keys) → its content hash, its directory, and training it once; "@sft" backbones are
  resolved here (`sft_stage_id`, `sft_dir`);
- `classifier` / `classifier_train`: a Bradley–Terry head on a backbone (MiniLM, an SFT checkpoint);
- `implicit`: a policy trained with a registered loss, scoring with that loss's own reward;
- `scorer`: the `reward` scorer of harness.scoring, loading a directory of either kind.
The suite's stage (ordering, dry-run lines) is harness.suite.reward_stage.
"""
