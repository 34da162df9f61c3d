"""The `reward` scorer: scores every generation with the reward model at a path, of whatever kind.

    scorer = SCORERS.get("reward")("results/x/rm/<hash>")     # harness.scoring registry
    scorer.score(samples)                                     # {"reward": [...]}
    rm = load_reward_model(path)                              # RewardModel | ImplicitRewardModel

The kind comes from the directory's rm.json (`kind`: classifier, the default, or implicit);
`KINDS` maps it to the class that scores with it.
"""

from __future__ import annotations

from pathlib import Path

from harness.registry import Registry
from harness.reward.classifier import RewardModel, load_info
from harness.scoring.base import Samples

KINDS: Registry = Registry("reward-model kind")
KINDS.register("classifier", RewardModel)
KINDS.register("implicit", "harness.reward.implicit:ImplicitRewardModel")


def load_reward_model(path: str | Path, **kwargs):
    """The reward model at `path`, of the kind its rm.json names (default: a classifier)."""
    local = Path(path).expanduser()
    kind = load_info(local).get("kind", "classifier") if local.is_dir() else "classifier"
    return KINDS.get(kind)(path, **kwargs)


class RewardModelScorer:
    """Scorer: ``reward`` per sample, from the reward model at `path` (classifier or implicit)."""

    columns = ("reward",)

    def __init__(self, path: str | Path, **kwargs):
        self.rm = load_reward_model(path, **kwargs)
        self._ref: dict[tuple[str, int], float] = {}  # the reference's rewards, per (prompt, sample)

    options = ()

    @classmethod
    def for_eval(cls, cfg, ctx) -> "RewardModelScorer | None":
        """On when the eval block names a reward model (a directory, or a recipe trained here once),
        unless a `scorers` block leaves `reward` out."""
        if cfg.reward is None or cfg.scorer_options("reward") is None:
            return None
        from harness.reward.recipe import reward_model_path

        r = cfg.reward
        return cls(reward_model_path(r, ctx.root, ctx.log), batch_size=r.batch_size, max_length=r.max_length,
                   device=cfg.device)

    def score(self, samples: Samples) -> dict[str, list[float]]:
        return {"reward": self.rm.score(samples.prompts, samples.completions)}

    def sample_extras(self) -> dict:
        """Every reward carries the held-out accuracy of the model that gave it."""
        return {"rm_heldout_accuracy": self.rm.heldout_accuracy}

    def eval_rows(self, run_id: str, samples: Samples, columns: dict, *, is_reference: bool, cfg) -> list[dict]:
        """The reward model's held-out accuracy, and the run's win-rate against the reference."""
        from harness.evaluation.metrics import row, winrate_row

        rows = [row(run_id, "rm_heldout_accuracy", self.rm.heldout_accuracy, n=self.rm.info.get("heldout_pairs"),
                    reward_model=self.rm.path)]
        index = samples.sample_index or [0] * len(samples)
        rewards = {(pid, k): r for pid, k, r in zip(samples.prompt_ids, index, columns["reward"])}
        if is_reference:
            self._ref = rewards
        elif cfg.winrate and self._ref:
            wr = winrate_row(run_id, rewards, self._ref, iters=cfg.bootstrap_iters, seed=cfg.generation.seed)
            if wr:
                rows.append(wr)
        return rows

    def reuse_reference(self, scores) -> None:
        self._ref = {(pid, int(k)): float(r) for pid, k, r in zip(scores["prompt_id"], scores["sample"], scores["reward"])}

    def close(self) -> None:
        self.rm = None
