"""`train_run`: one training run from a `RunConfig`, recorded in the results store.

    from harness.trainer import train_run
    result = train_run(cfg, "results/x", suite="minordpo-arith")
    result.status, result.checkpoint          # "completed", results/x/checkpoints/<run_id>/final

Contract (the suite runner and the benchmark rely on it):
- the run id defaults to `harness.results.records.run_id(cfg)`, the content hash of the resolved config;
- bad config, data or model raise a HarnessError before any training;
- a run that diverges returns status "diverged" with the step; any other exception during the
  run returns status "failed" with the error text; neither propagates;
- rows go to `ResultStore(out_dir)`: `runs/<run_id>.parquet` (one row) and
  `steps/<run_id>.parquet` (one row per train step and per eval);
- an interrupted run resumes from `checkpoints/<run_id>/last` when called again.
"""

from __future__ import annotations

import dataclasses
import json
import time
import traceback
from pathlib import Path

from harness.malloc import retain_freed_memory
from harness.notices import warn
from harness.results import ResultStore, records
from harness.results.records import runs_row
from harness.threads import physical_cores, torch_threads


@dataclasses.dataclass
class RunResult:
    run_id: str
    status: str  # "completed" | "diverged" | "failed"
    diverged_step: int | None
    steps: int  # optimizer steps applied
    wall_s: float
    checkpoint: Path | None  # final/ directory (model + tokenizer), when saved
    ref_cache_hit: bool | None  # None: no reference log-probs were needed
    error: str | None = None
    resumed_from: int = 0  # the step restored from checkpoints/<run_id>/last (0: a fresh start)


def train_run(cfg, out_dir: str | Path, *, run_id: str | None = None, suite: str = "",
              reference_dir: str | None = None) -> RunResult:
    """Train `cfg`, write its `runs` and `steps` rows under `out_dir`, return the outcome."""
    from harness.results.records import run_dir
    from harness.trainer.checkpoint import clear_state, save_final
    from harness.trainer.config import pin_dtype
    from harness.trainer.distributed import full_state_dict, hold_stop_signal
    from harness.trainer.loop import Loop
    from harness.trainer.setup import prepare

    retain_freed_memory()  # the process's malloc keeps a step's freed blocks for the next (harness.malloc)
    cfg = pin_dtype(cfg)  # a suite's runs arrive pinned; `harness train` configs are pinned here
    run_id = run_id or records.run_id(cfg)
    store = ResultStore(out_dir)
    folder = run_dir(out_dir, run_id)
    t0 = time.perf_counter()
    # 0 (auto): the physical cores, which `prepare` lowers to 1 for small models once it knows the size
    with torch_threads(cfg.train.threads or physical_cores()):
        session = prepare(cfg, out_dir, reference_dir=reference_dir)  # HarnessError propagates from here
        if session.dist.main:  # said once, on the console of `harness run` too (harness.notices)
            for line in _data_warnings(cfg, session.data):
                warn(line)
        result = RunResult(run_id, "failed", None, 0, 0.0, None, session.ref_cache_hit)
        loop = None
        trackers = _trackers(cfg, out_dir, run_id, suite) if session.dist.main else None
        try:
            loop = Loop(session, cfg, folder=folder, run_id=run_id,
                        on_checkpoint=lambda r: store.write("steps", run_id, r),
                        on_row=trackers.log_step if trackers else None)
            outcome = loop.fit()
            result.status, result.diverged_step, result.steps = outcome.status, outcome.diverged_step, outcome.steps
            result.resumed_from = outcome.resumed_from
            if outcome.status == "completed" and cfg.train.save_final:
                full = full_state_dict(loop.fwd, session.dist)  # FSDP: a collective, every rank takes part
                if session.dist.main:
                    full = {k.removeprefix("model."): v for k, v in full.items()} if full else None
                    save_final(folder, model=session.model, tokenizer=session.tokenizer, state_dict=full)
                result.checkpoint = folder / "final"
            if session.dist.main:
                clear_state(folder)  # finished (completed or diverged): nothing left to resume
            session.dist.barrier()  # no rank leaves before rank 0 has written the run's files
        except Exception as e:  # a bug or a resource failure: recorded, the suite goes on
            hold_stop_signal()
            # failed even when training itself had finished: a final checkpoint that could not be
            # written (a full disk) left the run "completed" with no checkpoint, and the suite then
            # skipped its evaluation without a word
            result.status = "failed"
            result.error = f"{type(e).__name__}: {e}\n{''.join(traceback.format_exc(limit=-3))}"
        hold_stop_signal()
        result.wall_s = time.perf_counter() - t0
        if session.dist.main:  # rank 0 alone writes the run's rows (its metrics are the global batch's)
            store.write("steps", run_id, loop.rows if loop else [])
            if loop is not None and result.status == "completed" and loop.final_pairs is not None:
                store.write("pairs", run_id, pairs_rows(run_id, session, *loop.final_pairs, step=result.steps))
            store.write("runs", run_id, [_runs_row(cfg, result, session, suite, out_dir)])
        if trackers:
            trackers.finish(result.status)
    return result


def pairs_rows(run_id: str, session, r_w, r_l, *, step: int) -> list[dict]:
    """The `pairs` table of a run: one row per held-out pair, its final log-ratios (unscaled) and the
    reference's per-pair features (harness.logprobs.ches.COLUMNS; null without them)."""
    from harness.logprobs.ches import COLUMNS

    feats = session.features_eval.columns if session.features_eval is not None else {}
    rows = []
    for i, p in enumerate(session.data.eval):
        w, lo = float(r_w[i]), float(r_l[i])
        rows.append({"run_id": run_id, "prompt_id": p.prompt_id, "chosen_logratio": w, "rejected_logratio": lo,
                     "margin": w - lo, "displaced": bool(w < 0), "pair_index": int(p.index), "split": "eval",
                     "step": int(step), **{c: (feats[c][i] if c in feats else None) for c in COLUMNS}})
    return rows


def _data_warnings(cfg, data) -> list[str]:
    from harness.trainer.data import truncation_warnings

    lines = truncation_warnings(data, cfg.data)
    if cfg.train.batch_size > len(data.train):  # batches() then holds every pair: say so
        lines.append(f"warning: train.batch_size={cfg.train.batch_size} is more than the {len(data.train)} "
                     f"training pairs; each step uses all {len(data.train)} (runs.batch_size_used)")
    return lines


def _trackers(cfg, out_dir, run_id: str, suite: str):
    """The run's experiment trackers (harness.tracking); none configured: None, nothing imported."""
    if not cfg.loggers:
        return None
    from harness.tracking import open_trackers, run_info

    return open_trackers(cfg.loggers, out_dir, info=run_info(cfg, run_id, suite), config=records.content(cfg))


def _runs_row(cfg, result: RunResult, session, suite: str, out_dir) -> dict:
    import torch

    from harness.results.records import portable

    return runs_row(
        cfg, run_id=result.run_id, suite=suite, status=result.status, steps=result.steps,
        diverged_step=result.diverged_step, wall_s=result.wall_s, ref_cache_hit=result.ref_cache_hit,
        error=result.error,
        # beyond the contract: where things came from and went
        # paths inside the results folder are stored relative to it (harness.results.records.portable)
        checkpoint=portable(result.checkpoint, out_dir), model_dir=portable(session.model_path, out_dir),
        reference=portable(session.reference, out_dir) if session.reference != "initial policy" else session.reference,
        n_train=len(session.data.train), n_eval=len(session.data.eval),
        dropped_json=json.dumps(session.data.dropped, sort_keys=True),
        truncated_json=json.dumps(session.data.truncated, sort_keys=True),  # absent in folders written before
        device=session.device, dtype=str(session.dtype or torch.float32).replace("torch.", ""),
        threads=torch.get_num_threads(), resumed_from=result.resumed_from,
        batch_size_used=min(cfg.train.batch_size, len(session.data.train)), world_size=session.dist.world,
    )
