"""Evaluation of trained checkpoints: generation, reward/verifier/KL scores, win-rate, lm-eval.

Public API (what the suite runner and `harness eval` call)::

    from harness.evaluation import EvalConfig, evaluate_runs
    cfg = EvalConfig.from_mapping({"generation": {"backend": "vllm", "n_prompts": 64},
                                   "reward_model": "results/rm-hh", "lmeval": {"tasks": ["harness_arith"]}})
    status = evaluate_runs(cfg,                                   # an EvalConfig or a plain dict
                           targets=[(run_id, checkpoint_dir), ...],
                           reference=(ref_run_id, ref_dir_or_model_name),
                           prompts=None,                          # list[PreferencePair]; None: cfg.prompts
                           store=ResultStore(out))                # (a suite passes its runs' held-out pairs)
    # -> {ref_run_id: "ok", run_id: "ok" | "failed: <reason>", ...}

`reward_model` is a directory / hub id, or a recipe ({train: {data, backbone, epochs, ...}}) that
is trained once into `<store root>/rm/<hash>/` (`harness.reward.recipe`; the suite runner
trains it as a stage of its own, which also resolves the "@sft" backbone).

What it guarantees:
- The reference is evaluated exactly like every target (it is the baseline row of every table)
  and first; one generation engine serves all of them (vLLM weights are swapped in place).
- Same prompts, same per-prompt seeds, same generation config for every run; the config, seed,
  backend and engine version are columns of every `generations` row; `eval_hash`
  (`config.config_hash`: what the suite runner compares) and `prompts_hash` (the prompt set)
  tie the rows of one configuration together.
- Per sample, into Parquet (`harness.results`): `generations` (prompt, completion, tokens, finish
  reason), `scores` (reward, correct, kl, logp_policy, logp_ref); per run and metric: `evals`
  (reward_mean, verifier_accuracy, kl_mean, winrate_vs_ref, rm_heldout_accuracy, chosen_logp,
  rejected_logp, chosen_logratio, rejected_logratio, completion_tokens_mean, stop_rate,
  generation_s, scoring_s; 95% CIs by bootstrap over prompts); `lmeval` (task, metric, value,
  stderr, n).
- A failing target is recorded (`evals` part `<run_id>.failed`, metric `eval_failed`, column
  `error`) and the others go on. Bad input — missing model/RM path, unknown lm-eval task, an RM
  tokenizer without pad token, an empty prompt set — is a HarnessError naming it, raised before
  the engine starts when it concerns every run.

Modules: `config` (EvalConfig), `evaluate` (orchestration), `metrics` (columns → evals rows).
Generation backends live in `harness.generation`, scorers in `harness.scoring`, the lm-eval
bridge in `harness.evaluation.lmeval`.
"""

from __future__ import annotations

from harness.evaluation.config import EvalConfig, GenerationConfig, LMEvalConfig, PromptsConfig, RewardConfig


def evaluate_runs(*args, **kwargs):
    """Lazy wrapper of `harness.evaluation.evaluate.evaluate_runs` (keeps this import cheap)."""
    from harness.evaluation.evaluate import evaluate_runs as run

    return run(*args, **kwargs)


__all__ = ["EvalConfig", "GenerationConfig", "LMEvalConfig", "PromptsConfig", "RewardConfig", "evaluate_runs"]
