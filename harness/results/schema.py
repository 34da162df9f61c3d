"""Table contracts: the minimum columns of each Parquet table other code and users rely on.

Tables are long/tidy so new metrics need no schema change. Columns may be added freely; renaming
or retyping one needs a SCHEMA_VERSION bump. Every row carries `schema_version`.
"""

from __future__ import annotations

import pyarrow as pa

from harness.catalogue import STEP_COLUMNS

SCHEMA_VERSION = 1

S, F, I, B = pa.string(), pa.float64(), pa.int64(), pa.bool_()  # noqa: E741  (short names keep TABLES readable)

TABLES: dict[str, dict[str, pa.DataType]] = {
    # one row per run (training or evaluation-only baseline such as the reference policy)
    "runs": {"run_id": S, "suite": S, "name": S, "loss": S, "beta": F, "learning_rate": F, "seed": I,
             "model": S, "dataset": S, "status": S, "diverged_step": I, "steps": I, "wall_s": F,
             "ref_cache_hit": B, "config_json": S, "env_json": S, "git_sha": S, "error": S},
    # one row per (run, step, split)
    # (the metric columns are the catalogue's STEP_COLUMNS: counts are integers, the rest floats)
    "steps": {"run_id": S, "step": I, "split": S, "grad_norm": F, "learning_rate": F,
              **{c: (I if c == "nonfinite" else F) for c in STEP_COLUMNS}, "tokens": I, "wall_s": F, "step_s": F},
    "generations": {"run_id": S, "prompt_id": S, "sample": I, "prompt": S, "completion": S,
                    "completion_tokens": I, "finish_reason": S, "backend": S},
    "scores": {"run_id": S, "prompt_id": S, "sample": I, "reward": F, "correct": F, "kl": F},
    "evals": {"run_id": S, "metric": S, "value": F, "ci_low": F, "ci_high": F, "n": I},
    "lmeval": {"run_id": S, "task": S, "metric": S, "value": F, "stderr": F, "n": I},
    # `harness bench ...`: one row per (bench, side, repeat, metric), with the machine it ran on
    "bench": {"bench": S, "side": S, "repeat": I, "metric": S, "value": F, "config_json": S,
              "machine_json": S, "created_at": S},
}


def arrow_schema(table: str, columns: list[str]) -> pa.Schema:
    """Schema for a frame with `columns`: contract types for known columns, inferred for the rest."""
    known = TABLES[table]
    return pa.schema([pa.field(c, known[c]) for c in columns if c in known])
