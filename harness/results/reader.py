"""Read a results table the way analysis code wants it: `harness.results.load(DIR, TABLE)`.

    from harness.results import load
    runs = load("results/minordpo-arith", "runs")                  # pandas, Arrow dtypes
    steps = load("results/minordpo-arith", "steps", engine="polars")
    steps.join(runs, on="run_id")                                   # one meaning per column name

Why a reader when pandas, polars and duckdb read the folders directly: it gives every part the
current column names (a folder written by an older version is migrated on the way in,
harness.results.schema.RENAMES), refuses a damaged part by name, and keeps types: pandas'
own `read_parquet` turns a nullable integer column (`runs.diverged_step`, `evals.n`) into
float64, while Arrow dtypes keep it an integer with nulls.
"""

from __future__ import annotations

from pathlib import Path

from harness.errors import HarnessError
from harness.results.schema import TABLES, migrate

ENGINES = ("pandas", "polars", "arrow")


def load(results: str | Path, table: str, *, engine: str = "pandas"):
    """Every part of `table` under the results folder, with today's column names.
    engine: "pandas" (ArrowDtype columns), "polars", or "arrow" (a pyarrow Table)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from harness.results.store import DamagedPart, ResultStore, part_problem

    if table not in TABLES:
        raise HarnessError(f"unknown results table {table!r} (known: {', '.join(TABLES)})")
    if engine not in ENGINES:
        raise HarnessError(f"unknown engine {engine!r} (known: {', '.join(ENGINES)})")
    store = ResultStore(results)
    store.check_versions()
    parts = []
    for key in store.keys(table):
        path = store.path(table, key)
        problem = part_problem(table, path)
        if problem:
            raise DamagedPart(path, problem)
        parts.append(migrate(table, pq.read_table(path)))
    arrow = pa.concat_tables(parts, promote_options="permissive") if parts else \
        pa.schema([pa.field(c, t) for c, t in TABLES[table].items()]).empty_table()
    if engine == "arrow":
        return arrow
    if engine == "polars":
        import polars as pl

        return pl.from_arrow(arrow)
    import pandas as pd

    return arrow.to_pandas(types_mapper=pd.ArrowDtype)




# where `runs.checkpoint` (stored relative to the results folder) is now
