"""A suite resolved once: its plan, its evaluation block, the reward-model stage and each run's
reference, derived in one place and handed to the runner and to `--dry-run` alike.

    rs = resolve_suite(load_suite("suites/minordpo-arith.yaml"))
    rs.plan.runs, rs.eval, rs.eval_hash, rs.reward       # the RMStage, or None
    rs.reference_of(run)                                 # "<sft run id>" or "base-<hash>"
    rs.states(store)                                     # run or SFT stage id -> RunState (one checkpoint rule)
    rs.eval_inputs(ref, runs, out)                       # (prompts or None, (ref id, ref dir)): what evaluation gets

Why: the runner, the task builder, each evaluation task and the dry run used to re-derive the
plan, the resolved eval block, its hash, the RM stage and the run states. Everything here is a
pure function of the suite (plus, for states, of the results folder), so it is computed once and
passed down; evaluation receives its prompts and its reference directory from here, so it needs
nothing from the trainer. Torch-free: a dry run imports none of the heavy libraries.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from harness.config import to_dict
from harness.hashing import content_hash
from harness.results.records import RunState, checkpoint_dir, has_checkpoint
from harness.suite import reward_stage, status
from harness.suite.grid import Plan, PlannedRun, expand
from harness.suite.spec import Suite


@dataclasses.dataclass(frozen=True)
class ResolvedSuite:
    suite: Suite
    plan: Plan
    eval: object | None  # EvalConfig with "@sft" resolved to "@sft:<id>"; None: the suite does not evaluate
    eval_hash: str | None
    reward: reward_stage.RMStage | None

    def reference_of(self, run: PlannedRun) -> str:
        return run.sft_id or base_reference_id(run)

    def states(self, store) -> dict[str, RunState]:
        """Every SFT stage's and grid run's state, computed here only (the runner, each evaluation
        task and the dry run read it). One checkpoint rule: a run whose weights are still needed
        (its evaluation is owed; an SFT stage's checkpoint starts its runs and is their reference)
        and are gone is PENDING: it is trained again."""
        out = {r.run_id: self.state(store, r.run_id) for r in self.plan.runs}
        for sft in self.plan.sft:
            out[sft.run_id] = self.state(store, sft.run_id, stage=True)
        return out

    def state(self, store, run_id: str, *, stage: bool = False) -> RunState:
        """One run's (or, with `stage`, one SFT stage's) state now."""
        state = status.run_state(store, run_id, eval_hash=None if stage else self.eval_hash)
        needs_weights = state == RunState.TRAINED or (stage and state == RunState.DONE)
        return RunState.PENDING if needs_weights and not has_checkpoint(store.root, run_id) else state

    def eval_inputs(self, ref: str, runs: list[PlannedRun], out: str | Path) -> tuple[list | None, tuple[str, str]]:
        """(prompts, (reference id, reference directory)) for evaluating `runs` against `ref`.
        Prompts are None when the eval block names its own prompt set; else the runs' held-out pairs."""
        prompts = None
        if self.eval.prompts is None:
            from harness.trainer.data import load_run_pairs

            prompts = load_run_pairs(runs[0].config.data).eval
        if ref.startswith("base-"):  # the runs' initial policy, built as the trainer builds it
            from harness.models.load import model_dir

            run = runs[0].config
            return prompts, (ref, str(model_dir(run.model, seed=run.train.seed)))
        return prompts, (ref, str(checkpoint_dir(out, ref)))


def resolve_suite(suite: Suite) -> ResolvedSuite:
    plan = expand(suite)
    eval_cfg = reward_stage.resolved_eval(plan)  # also checks a "@sft" reward model has one SFT stage
    return ResolvedSuite(suite, plan, eval_cfg, status.eval_hash(eval_cfg), reward_stage.stage_of(eval_cfg))


def base_reference_id(run: PlannedRun) -> str:
    """Id of the reference of a run without SFT stage: its initial policy, which depends on the
    model config and, for models built from a seed (tiny without its own seed), on the run's seed;
    a pinned or downloaded model is one reference for every seed."""
    from harness.models import SEEDED

    model = {k: v for k, v in to_dict(run.config.model).items() if k != "lora"}  # LoRA: base = reference
    seeded = run.config.model.name in SEEDED and run.config.model.tiny.get("seed") is None
    return "base-" + content_hash({"model": model, "seed": run.config.train.seed if seeded else None}, 12)
