"""Table contracts: the minimum columns of each Parquet table other code and users rely on.

Tables are long/tidy so new metrics need no schema change. Columns may be added freely; renaming
or retyping one needs a SCHEMA_VERSION bump and an entry in RENAMES, so that older folders read
as the current version (every reader goes through `migrate`). Every row carries `schema_version`.

One name, one meaning, across tables: a join of `steps` with `runs` on run_id must not meet two
`loss` columns (the loss value and the loss name). Version 2 renamed runs.loss -> loss_name,
runs.learning_rate -> lr_peak (the configured peak; steps.learning_rate is the scheduled value
at that step) and steps.wall_s -> elapsed_s (training time at that step; runs.wall_s is the
whole run's).
"""

from __future__ import annotations

import pyarrow as pa

from harness.results.catalogue import STEP_COLUMNS

SCHEMA_VERSION = 3  # 3 added the `pairs` table (no renames: a version-2 folder reads as it is, without one)

# version -> table -> {old name: new name}: what that version renamed
RENAMES: dict[int, dict[str, dict[str, str]]] = {
    2: {"runs": {"loss": "loss_name", "learning_rate": "lr_peak"}, "steps": {"wall_s": "elapsed_s"}},
}

S, F, I, B = pa.string(), pa.float64(), pa.int64(), pa.bool_()  # noqa: E741  (short names keep TABLES readable)

TABLES: dict[str, dict[str, pa.DataType]] = {
    # one row per run (training or evaluation-only baseline such as the reference policy)
    "runs": {"run_id": S, "suite": S, "name": S, "loss_name": S, "beta": F, "lr_peak": F, "seed": I,
             "model": S, "dataset": S, "status": S, "diverged_step": I, "steps": I, "wall_s": F,
             "ref_cache_hit": B, "config_json": S, "env_json": S, "git_sha": S, "error": S},
    # one row per (run, step, split)
    # (the metric columns are the catalogue's STEP_COLUMNS: counts are integers, the rest floats)
    "steps": {"run_id": S, "step": I, "split": S, "grad_norm": F, "learning_rate": F,
              **{c: (I if c == "nonfinite" else F) for c in STEP_COLUMNS}, "tokens": I, "elapsed_s": F, "step_s": F},
    "generations": {"run_id": S, "prompt_id": S, "sample": I, "prompt": S, "completion": S,
                    "completion_tokens": I, "finish_reason": S, "backend": S},
    "scores": {"run_id": S, "prompt_id": S, "sample": I, "reward": F, "correct": F, "kl": F},
    "evals": {"run_id": S, "metric": S, "value": F, "ci_low": F, "ci_high": F, "n": I},
    "lmeval": {"run_id": S, "task": S, "metric": S, "value": F, "stderr": F, "n": I},
    # one row per (run, held-out pair) at the run's last eval, with the reference's per-pair features
    # (harness.logprobs.ches): written by training runs that complete, from schema 3 on
    "pairs": {"run_id": S, "prompt_id": S, "chosen_logratio": F, "rejected_logratio": F, "margin": F,
              "displaced": B, "pair_index": I, "split": S, "step": I, "prompt_tokens": I, "chosen_tokens": I,
              "rejected_tokens": I, "shared_prefix_tokens": I, "edit_distance": I, "ches": F, "ches_mean": F},
    # `harness bench ...`: one row per (bench, side, repeat, metric), with the machine it ran on
    "bench": {"bench": S, "side": S, "repeat": I, "metric": S, "value": F, "config_json": S,
              "machine_json": S, "created_at": S},
}


def arrow_schema(table: str, columns: list[str]) -> pa.Schema:
    """Schema for a frame with `columns`: contract types for known columns, inferred for the rest."""
    known = TABLES[table]
    return pa.schema([pa.field(c, known[c]) for c in columns if c in known])


def renames(table: str, version: int) -> dict[str, str]:
    """{old: current} for a part of `table` written at schema `version` (empty when current)."""
    out: dict[str, str] = {}
    for v in sorted(k for k in RENAMES if k > version):
        for old, new in RENAMES[v].get(table, {}).items():
            out = {k: (new if cur == old else cur) for k, cur in out.items()}
            out.setdefault(old, new)
    return out


def guess_version(table: str, names: list[str]) -> int:
    """A part's schema version from its column names (the footer alone, without reading rows):
    the oldest version whose renamed-away names it still has, else the current one."""
    for v in sorted(RENAMES):
        if any(old in names and new not in names for old, new in RENAMES[v].get(table, {}).items()):
            return v - 1
    return SCHEMA_VERSION


def migrate(table: str, arrow):
    """A pyarrow Table of `table` written at any schema version, with the current names."""
    mapping = renames(table, guess_version(table, arrow.column_names))
    if not mapping:
        return arrow
    return arrow.rename_columns([mapping.get(c, c) for c in arrow.column_names])
