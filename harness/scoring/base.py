"""The batch every scorer reads, and the scorer protocol.

    samples = Samples(run_id, model_dir, prompt_ids, prompts, prompt_token_ids, completions,
                      completion_token_ids, golds)
    columns = scorer.score(samples)      # {"reward": [...], ...}: one value per sample, aligned

One row per (prompt, sample) of one run; a prompt with several samples repeats its prompt
fields. A scorer returns only per-sample numbers; aggregation (means, CIs, win-rates) is the
evaluator's job, so every scorer is testable on a handful of strings.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol


@dataclasses.dataclass(frozen=True)
class Samples:
    run_id: str
    model_dir: Path  # the policy that generated the completions
    prompt_ids: Sequence[str]
    prompts: Sequence[Any]  # PreferencePair.prompt: a string or a message list
    prompt_token_ids: Sequence[Sequence[int]]  # as given to the generator
    completions: Sequence[str]
    completion_token_ids: Sequence[Sequence[int]]
    golds: Sequence[str | None]
    sample_index: Sequence[int] = ()  # which of its prompt's samples each row is (0 with one sample a prompt)

    def __len__(self) -> int:
        return len(self.completions)


@dataclasses.dataclass(frozen=True)
class ScoringContext:
    """What a scorer may need to set itself up for one evaluation (`Scorer.for_eval`)."""

    ref_dir: Path  # the reference policy
    root: Path  # the results folder (reward-model recipes train into it)
    pairs: Sequence[Any]  # the prompts being evaluated (PreferencePair: gold answers, ...)
    log: Any = print


class Scorer(Protocol):
    """Required: `columns`, `for_eval`, `score`, `close`. Optional hooks (the evaluation calls each
    one a scorer has, so a scorer owns everything it produces and evaluation names none):
    - `pair_columns(policy_dir, tokenizer, pairs, cfg) -> {column: [one value per held-out pair]}`:
      per-pair numbers, aggregated like sample columns (the catalogue's `pairs` source);
    - `sample_extras() -> {column: value}`: constants every `scores` row of this evaluation carries;
    - `eval_rows(run_id, samples, columns, *, is_reference, cfg) -> [evals rows]`: rows of its own
      (a reward model's held-out accuracy, the win-rate against the reference);
    - `reuse_reference(scores)`: the reference's stored `scores` rows, when the reference is not
      evaluated again (what `eval_rows` compares with)."""

    columns: tuple[str, ...]  # the `scores` columns it fills

    @classmethod
    def for_eval(cls, cfg, ctx: ScoringContext) -> "Scorer | None":
        """The scorer an EvalConfig asks for, or None when it is off for this evaluation."""
        ...

    def score(self, samples: Samples) -> dict[str, list[float]]: ...

    def close(self) -> None: ...


HOOKS = ("pair_columns", "sample_extras", "eval_rows", "reuse_reference")  # optional, see Scorer
