"""The suite's reward-model stage: `eval.reward_model.train` → one RM that scores every evaluation.

    eval:
      reward_model:
        train: {data: arith, options: {split: train, n_pairs: 512}, backbone: "@sft", epochs: 2, lr: 1.0e-3}

    eval_cfg = resolved_eval(plan)        # the eval block with "@sft" → "@sft:<sft run id>"
    stage = stage_of(eval_cfg)            # RMStage(train, hash, sft_id), None without a recipe
    stage.dir(out)                        # OUT/rm/<hash>/, trained once (harness.reward.recipe)

Why a stage rather than a step of each evaluation: a suite evaluates in groups (one per
reference) and again after an interruption, and all of them must score with the same reward
model, trained once; as a task of its own it shows in progress lines and `--dry-run`, runs after
the SFT stage it may start from, and a failure is reported once. The recipe, "@sft" resolved to
the SFT stage's run id, is part of the evaluation config the runner hashes (`eval_hash`), so a
changed recipe (or SFT stage) re-evaluates the runs and an unchanged one evaluates nothing again.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from harness.errors import ConfigError, HarnessError
from harness.evaluation.config import SFT_BACKBONE, EvalConfig, RewardTrainConfig
from harness.results import records
from harness.suite.executors import Outcome, Task
from harness.suite.grid import Plan


@dataclasses.dataclass(frozen=True)
class RMStage:
    train: RewardTrainConfig  # "@sft" resolved to "@sft:<run id>"
    hash: str
    sft_id: str | None  # the SFT stage it starts from ("@sft"), else None

    @property
    def key(self) -> str:
        return f"rm:{self.hash}"

    def dir(self, out: str | Path) -> Path:
        from harness.reward.recipe import rm_dir

        return rm_dir(out, self.train)

    def trained(self, out: str | Path) -> bool:
        from harness.reward.recipe import is_trained

        return is_trained(self.dir(out))


def resolved_eval(plan: Plan) -> EvalConfig | None:
    """The suite's eval block as the evaluator gets it: a "@sft" backbone names the SFT stage."""
    cfg = plan.suite.spec.eval
    train = cfg.reward.train if cfg is not None and cfg.reward is not None else None
    if train is None or train.backbone != SFT_BACKBONE:
        return cfg
    if len(plan.sft) != 1:  # several SFT stages (a model or data axis): which one would it be?
        raise ConfigError(f"{plan.suite.source}: eval.reward_model.train.backbone: {SFT_BACKBONE!r} needs exactly "
                          f"one SFT stage, the suite has {len(plan.sft)}; give a model directory instead")
    train = dataclasses.replace(train, backbone=f"{SFT_BACKBONE}:{plan.sft[0].run_id}")
    return dataclasses.replace(cfg, reward_model=dataclasses.replace(cfg.reward, train=train))


def stage_of(eval_cfg: EvalConfig | None) -> RMStage | None:
    """The stage of a resolved eval config (`resolved_eval`); None when it trains no reward model."""
    from harness.reward.recipe import rm_hash, sft_stage_id

    train = eval_cfg.reward.train if eval_cfg is not None and eval_cfg.reward is not None else None
    if train is None:
        return None
    return RMStage(train, rm_hash(train), sft_stage_id(train.backbone) or None)


def rm_task(stage: RMStage, out: Path, keys: set[str]) -> Task:
    after = (f"train:{stage.sft_id}",) if f"train:{stage.sft_id}" in keys else ()
    label = f"reward model {stage.hash} (backbone {stage.train.backbone}, data {stage.train.data})"
    return Task(stage.key, train_rm_task, (stage, str(out)), after, label, kind="reward")


def train_rm_task(stage: RMStage, out: str, *, deps: dict[str, Outcome]) -> str:
    """Task body (module level: picklable): train the RM unless it is there; returns its directory."""
    from harness.reward.recipe import ensure_reward_model

    backbone = None
    if stage.sft_id is not None:
        backbone = records.checkpoint_dir(out, stage.sft_id)
        if not records.has_checkpoint(out, stage.sft_id):
            raise HarnessError(f"reward model {stage.hash}: its backbone, SFT stage {stage.sft_id}, has no checkpoint "
                               "(the stage failed or its weights were deleted)")
    return str(ensure_reward_model(stage.train, out, sft_dir=backbone))


def check_dependency(stage: RMStage | None, deps: dict[str, Outcome]) -> None:
    """In an evaluation task: a failed RM stage fails it with that reason, not a confusing later one."""
    outcome = deps.get(stage.key) if stage is not None else None
    if outcome is not None and not outcome.ok:
        raise HarnessError(f"reward model {stage.hash} was not trained: {outcome.error.strip().splitlines()[-1]}")


def describe(stage: RMStage | None, out: str | Path) -> list[str]:
    """The `--dry-run` line of the stage."""
    if stage is None:
        return []
    state = "done" if stage.trained(out) else "pending"
    return [f"reward model {stage.hash}: {state} (backbone {stage.train.backbone}, data {stage.train.data}) "
            f"-> {stage.dir(out)}"]


def sft_checkpoint(results: str | Path) -> Path:
    """The SFT-stage checkpoint of a suite results folder (read from its suite.json): what "@sft"
    means to `harness train-rm --results DIR`."""
    import json

    from harness.results.records import checkpoint_dir, has_checkpoint

    doc = Path(results) / "suite.json"
    if not doc.is_file():
        raise HarnessError(f"--results {results}: not a suite results folder (no suite.json)")
    sft = [r["run_id"] for r in json.loads(doc.read_text())["runs"] if r.get("stage") == "sft"]
    if len(sft) != 1:
        raise HarnessError(f"backbone @sft: {results} has {len(sft)} SFT stages; give the checkpoint directory")
    if not has_checkpoint(results, sft[0]):
        raise HarnessError(f"backbone @sft: SFT stage {sft[0]} has no checkpoint in {results}")
    return checkpoint_dir(results, sft[0])
