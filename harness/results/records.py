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
from harness.names import check_name


class Status(enum.StrEnum):  # compares equal to its string: "completed" == Status.COMPLETED
    COMPLETED = "completed"
    DIVERGED = "diverged"  # stopped by the divergence rule; recorded with its step, not evaluated
    FAILED = "failed"  # an error; retried on the next `harness run`


FINISHED = (Status.COMPLETED, Status.DIVERGED)  # nothing left to train


class RunState(enum.StrEnum):
    """Where a planned run (or SFT stage) stands in a results folder: what the suite still owes it.
    Computed once per look by harness.suite.resolved.ResolvedSuite.states; `Status` is what a
    finished training recorded, this is what is left to do."""

    PENDING = "pending"  # nothing recorded, or its weights are gone while they are still needed
    FAILED = "failed"  # recorded failed: trained again
    DAMAGED = "damaged"  # its `runs` part cannot be read: set aside and trained again
    TRAINED = "trained"  # trained; its evaluation is owed
    DONE = "done"  # nothing owed


TO_TRAIN = frozenset({RunState.PENDING, RunState.FAILED, RunState.DAMAGED})


NOT_CONTENT = ("loggers",)  # where a run's numbers are also streamed to: no part of what it computes


# keys added after runs were recorded, left out of the content while unset, so that the ids of
# every run recorded before them (and of the pinned references' recipes) stay what they were
# (section, key, the value that means unset)
UNSET_LATER_KEYS = (("data", "filter", None), ("train", "compile", False))


def content(cfg) -> dict:
    """The resolved config as a dict, without the keys that change no number (NOT_CONTENT).

    `model.dtype` arrives resolved (harness.trainer.config.pin_dtype); float32 is hashed under
    its old default spelling "auto", which meant float32 on every CPU run recorded before the
    dtype was resolved, so those runs keep their ids while a bf16 run gets its own."""
    out = {k: v for k, v in to_dict(cfg).items() if k not in NOT_CONTENT}
    if isinstance(out.get("model"), dict) and out["model"].get("dtype") == "float32":
        out["model"] = {**out["model"], "dtype": "auto"}
    for section, key, unset in UNSET_LATER_KEYS:
        if isinstance(out.get(section), dict) and key in out[section] and out[section][key] is unset:
            out[section] = {k: v for k, v in out[section].items() if k != key}
    return out


def run_id(cfg) -> str:
    """Content hash of a resolved run config: same config, same id (the suite's skip key)."""
    return content_hash(content(cfg))


def run_dir(out: str | Path, rid: str) -> Path:
    """A run's checkpoints: `last/` (resumable state) and `final/` (the model evaluation loads).
    The id is a folder name under `out`: "../x" would put weights outside it (harness.names)."""
    return Path(out) / "checkpoints" / check_name(rid, "run id")


def checkpoint_dir(out: str | Path, rid: str) -> Path:
    return run_dir(out, rid) / "final"


def portable(path: str | Path | None, out: str | Path) -> str | None:
    """A path as the tables store it: relative to the results folder when inside it (so that a
    moved or copied folder still finds its checkpoints), else as given (a model outside it)."""
    if path is None:
        return None
    try:
        return Path(path).resolve().relative_to(Path(out).resolve()).as_posix()
    except ValueError:
        return str(path)


def located(out: str | Path, stored: str | Path) -> Path:
    """Where a stored path (`runs.checkpoint`, `runs.reference`) is now: relative ones are
    resolved against the results folder `out`, wherever it has been moved."""
    p = Path(stored)
    return p if p.is_absolute() else Path(out) / p


def has_checkpoint(out: str | Path, rid: str) -> bool:
    d = checkpoint_dir(out, rid)
    return d.is_dir() and any(d.iterdir())


def runs_row(cfg, *, run_id: str, suite: str, status: Status | str, steps: int = 0, diverged_step: int | None = None,
             wall_s: float | None = None, ref_cache_hit: bool | None = None, error: str | None = None,
             **extra: Any) -> dict:
    """The `runs` row of `cfg` (the contract of harness.results.schema, plus `extra` columns)."""
    from harness.env import git_sha, snapshot

    return {
        "run_id": run_id, "suite": suite, "name": cfg.name, "loss_name": cfg.loss.name, "beta": cfg.loss.beta,
        "lr_peak": cfg.train.learning_rate, "seed": cfg.train.seed, "model": cfg.model.name,
        "dataset": cfg.data.train, "status": str(Status(status)), "diverged_step": diverged_step, "steps": steps,
        "wall_s": wall_s, "ref_cache_hit": ref_cache_hit, "config_json": canonical_json(content(cfg)),
        "env_json": json.dumps(snapshot(), sort_keys=True), "git_sha": git_sha(),
        "error": error[-4000:] if error else error, **extra,
    }
