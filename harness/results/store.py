"""Atomic, resumable Parquet store: one folder per table, one part file per key.

    store = ResultStore("results/minordpo-arith")
    store.write("steps", run_id, rows)        # results/minordpo-arith/steps/<run_id>.parquet
    store.read("steps")                        # pandas DataFrame over all parts

Why part files: a run's rows for a table appear all at once (temporary file + rename), a re-run
of the same key replaces its part instead of appending, so a suite killed at any point and run
again never loses or duplicates a row. A table folder is a standard Parquet dataset: pandas
(`read_parquet(dir)`), polars (`scan_parquet(dir/'*.parquet')`) and duckdb
(`read_parquet('dir/*.parquet')`) read it directly.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path

from harness.errors import HarnessError
from harness.results.schema import SCHEMA_VERSION, TABLES, arrow_schema

_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._=+-]{0,199}")


class ResultStore:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    def path(self, table: str, key: str) -> Path:
        # A key is a file name. "/" or ".." would write outside the table folder, and a leading
        # "." or "_" makes pyarrow/pandas dataset readers skip the part silently (they treat such
        # files as hidden) while `read()` and duckdb still see it.
        if not _KEY.fullmatch(key):
            raise HarnessError(f"invalid results key {key!r}: use letters, digits and . _ = + - "
                               f"(not first), at most 200 characters")
        return self.root / table / f"{key}.parquet"

    def has(self, table: str, key: str) -> bool:
        return self.path(table, key).is_file()

    def write(self, table: str, key: str, rows: "Iterable[dict] | object") -> Path:
        """Write `rows` (dicts or a DataFrame) as the part `key` of `table`, atomically."""
        import pandas as pd
        import pyarrow as pa
        import pyarrow.parquet as pq

        if table not in TABLES:
            raise HarnessError(f"unknown results table {table!r} (known: {', '.join(TABLES)})")
        df = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
        df = df.copy()
        missing = [c for c in TABLES[table] if c not in df.columns]
        for col in missing:  # absent contract columns are null, typed by the contract
            df[col] = None
        df["schema_version"] = SCHEMA_VERSION
        schema = arrow_schema(table, list(df.columns))
        arrow = pa.Table.from_pandas(df, preserve_index=False)
        arrow = arrow.cast(pa.schema([schema.field(n) if n in schema.names else arrow.schema.field(n)
                                      for n in arrow.column_names]))
        target = self.path(table, key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{key}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
        try:
            pq.write_table(arrow, tmp, compression="zstd")
            os.replace(tmp, target)  # atomic on POSIX: readers see the old part or the new one
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return target

    def keys(self, table: str) -> list[str]:
        folder = self.root / table
        return sorted(p.stem for p in folder.glob("*.parquet")) if folder.is_dir() else []

    def read(self, table: str, key: str | None = None):
        """All parts of `table` (or one part) as a pandas DataFrame; empty frame if none."""
        import pandas as pd

        if key is not None:
            return pd.read_parquet(self.path(table, key))
        parts = [pd.read_parquet(self.path(table, k)) for k in self.keys(table)]
        parts = [p for p in parts if len(p)]
        if not parts:
            return pd.DataFrame(columns=list(TABLES[table]))
        return pd.concat(parts, ignore_index=True)

    def delete(self, table: str, key: str) -> None:
        self.path(table, key).unlink(missing_ok=True)
