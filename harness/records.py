"""Run records: the one home of a run's identity, status, `runs` row and checkpoint location.

    rid = run_id(cfg)                               # content hash of the resolved RunConfig
    Status.COMPLETED in FINISHED                    # completed | diverged | failed (a str enum)
    row = runs_row(cfg, run_id=rid, suite="x", status=Status.FAILED, error="...")
    checkpoint_dir("results/x", rid)                # results/x/checkpoints/<id>/final

Torch-free on purpose: dry runs, the suite runner and reports use it without importing torch.
Every writer of a `runs` row (the trainer, the runner recording a failure) builds it here, so the
same config always serialises to the same `config_json` string.
"""

from __future__ import annotations

import enum
import json
from pathlib import Path
from typing import Any

from harness.config import to_dict
from harness.hashing import canonical_json, content_hash


class Status(enum.StrEnum):  # compares equal to its string: "completed" == Status.COMPLETED
    COMPLETED = "completed"
    DIVERGED = "diverged"  # stopped by the divergence rule; recorded with its step, not evaluated
    FAILED = "failed"  # an error; retried on the next `harness run`


FINISHED = (Status.COMPLETED, Status.DIVERGED)  # nothing left to train


def run_id(cfg) -> str:
    """Content hash of a resolved run config: same config, same id (the suite's skip key)."""
    return content_hash(to_dict(cfg))


def run_dir(out: str | Path, rid: str) -> Path:
    """A run's checkpoints: `last/` (resumable state) and `final/` (the model evaluation loads)."""
    return Path(out) / "checkpoints" / rid


def checkpoint_dir(out: str | Path, rid: str) -> Path:
    return run_dir(out, rid) / "final"


def has_checkpoint(out: str | Path, rid: str) -> bool:
    d = checkpoint_dir(out, rid)
    return d.is_dir() and any(d.iterdir())


def runs_row(cfg, *, run_id: str, suite: str, status: Status | str, steps: int = 0, diverged_step: int | None = None,
             wall_s: float | None = None, ref_cache_hit: bool | None = None, error: str | None = None,
             **extra: Any) -> dict:
    """The `runs` row of `cfg` (the contract of harness.results.schema, plus `extra` columns)."""
    from harness.env import git_sha, snapshot

    return {
        "run_id": run_id, "suite": suite, "name": cfg.name, "loss": cfg.loss.name, "beta": cfg.loss.beta,
        "learning_rate": cfg.train.learning_rate, "seed": cfg.train.seed, "model": cfg.model.name,
        "dataset": cfg.data.train, "status": str(Status(status)), "diverged_step": diverged_step, "steps": steps,
        "wall_s": wall_s, "ref_cache_hit": ref_cache_hit, "config_json": canonical_json(to_dict(cfg)),
        "env_json": json.dumps(snapshot(), sort_keys=True), "git_sha": git_sha(),
        "error": error[-4000:] if error else error, **extra,
    }
