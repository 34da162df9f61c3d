"""Atomic, resumable Parquet store: one folder per table, one part file per key.

    store = ResultStore("results/minordpo-arith")
    store.write("steps", run_id, rows)        # results/minordpo-arith/steps/<run_id>.parquet
    store.read("steps")                        # pandas DataFrame over all parts

Why part files: a run's rows for a table appear all at once (temporary file + rename, fsynced,
harness.atomic), a re-run of the same key replaces its part instead of appending, so a suite
killed at any point and run again never loses or duplicates a row.

A part that cannot be read (truncated, not Parquet) or that is not a harness part (a contract
column missing or of another type) is a `DamagedPart` error naming the file: one bad file never
turns into a traceback or a silently missing row. `harness run` instead moves such parts aside
(`damaged()` + `quarantine()`, into `<table>/.damaged/`, never deleted) and redoes their runs. A table folder is a standard Parquet dataset: pandas
(`read_parquet(dir)`), polars (`scan_parquet(dir/'*.parquet')`) and duckdb
(`read_parquet('dir/*.parquet')`) read it directly.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from harness.atomic import write_atomic
from harness.errors import HarnessError
from harness.names import check_name
from harness.results.schema import SCHEMA_VERSION, TABLES, arrow_schema, guess_version, migrate, renames


class DamagedPart(HarnessError):
    def __init__(self, path: Path, problem: str):
        self.path = path
        super().__init__(f"{path}: {problem}; delete the file (or move it aside) and its run is redone by "
                         "`harness run`, or restore it from a copy")


def part_problem(table: str, path: Path) -> str | None:
    """Why `path` is not a readable part of `table`, or None. Reads the footer only (cheap)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
    except (OSError, pa.ArrowException) as e:
        return f"unreadable Parquet part ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})"
    current = renames(table, guess_version(table, schema.names))  # an older part: judged by today's names
    types = {current.get(f.name, f.name): f.type for f in schema}
    missing = [c for c in TABLES[table] if c not in types]
    if missing:
        return f"not a harness {table!r} part: missing contract column(s) {missing}"
    wrong = [f"{c} is {types[c]}, not {t}" for c, t in TABLES[table].items()
             if types[c] != t and not pa.types.is_null(types[c])]
    if wrong:
        return f"not a harness {table!r} part: {'; '.join(wrong)}"
    return None


class NewerPart(HarnessError):
    def __init__(self, path: Path, version: int):
        self.path, self.version = path, version
        super().__init__(f"{path}: written with results schema {version}, newer than this harness reads "
                         f"({SCHEMA_VERSION}); upgrade harness to read this folder")


_VERSIONS: dict[tuple[str, int, int], int | None] = {}  # (path, size, mtime_ns) -> newest schema_version


def part_version(path: Path) -> int | None:
    """The newest `schema_version` in a part, from the footer's column statistics (rows are read
    only when a writer left no statistics); None for a part without one or that cannot be read."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        st = path.stat()
        stamp = (str(path), st.st_size, st.st_mtime_ns)
        if stamp in _VERSIONS:
            return _VERSIONS[stamp]
        meta = pq.ParquetFile(path).metadata
        col = next((i for i in range(meta.num_columns)
                    if meta.row_group(0).column(i).path_in_schema == "schema_version"), None) \
            if meta.num_row_groups else None
        stats = [meta.row_group(g).column(col).statistics for g in range(meta.num_row_groups)] if col is not None else []
        if col is None:
            version = None
        elif all(x is not None and x.has_min_max for x in stats):
            version = max(int(x.max) for x in stats)
        else:
            values = pq.read_table(path, columns=["schema_version"]).column(0).drop_null().to_pylist()
            version = max(int(v) for v in values) if values else None
    except (OSError, ValueError, TypeError, pa.ArrowException):
        return None  # damage is part_problem's to name
    _VERSIONS[stamp] = version
    return version


class ResultStore:
    def __init__(self, root: str | Path):
        self.root = Path(root)
        self._versions_checked = False

    def check_versions(self) -> None:
        """Refuse the folder when any part of any table was written by a newer schema: its columns
        may mean something this code does not know (a read would be silently wrong). Every reader
        (`read`, `load`, `damaged`) calls it; once per store (what it writes itself is current),
        one stat per part when footers are already cached."""
        if self._versions_checked:
            return
        for table in TABLES:
            for key in self.keys(table):
                version = part_version(self.path(table, key))
                if version is not None and version > SCHEMA_VERSION:
                    raise NewerPart(self.path(table, key), version)
        self._versions_checked = True

    def path(self, table: str, key: str) -> Path:
        # A key is a file name (harness.names says why the rule)
        check_name(key, "invalid results key")
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
        return write_atomic(self.path(table, key), lambda tmp: pq.write_table(arrow, tmp, compression="zstd"))

    def keys(self, table: str) -> list[str]:
        folder = self.root / table
        return sorted(p.stem for p in folder.glob("*.parquet")) if folder.is_dir() else []

    def read(self, table: str, key: str | None = None):
        """All parts of `table` (or one part) as a pandas DataFrame; empty frame if none.
        A damaged part raises DamagedPart, naming it."""
        import pandas as pd

        self.check_versions()
        if key is not None:
            return self._read_part(table, self.path(table, key))
        parts = [self._read_part(table, self.path(table, k)) for k in self.keys(table)]
        parts = [p for p in parts if len(p)]
        if not parts:
            return pd.DataFrame(columns=list(TABLES[table]))
        return pd.concat(parts, ignore_index=True)

    def _read_part(self, table: str, path: Path):
        import pyarrow.parquet as pq

        problem = part_problem(table, path)
        if problem:
            raise DamagedPart(path, problem)
        return migrate(table, pq.read_table(path)).to_pandas()

    def damaged(self) -> list[tuple[str, str, str]]:
        """(table, key, problem) of every part that cannot be read as a harness part. A part of a
        newer schema is no damage to move aside: NewerPart, exit 2."""
        self.check_versions()
        out = []
        for table in TABLES:
            for key in self.keys(table):
                problem = part_problem(table, self.path(table, key))
                if problem:
                    out.append((table, key, problem))
        return out

    def sweep_temporaries(self) -> list[Path]:
        """Remove the `.<name>.*.tmp` files a killed writer left behind (its rename never happened,
        so they hold nothing a reader could have seen). Only safe under the folder's lock, when no
        other process is writing (harness.results.lock)."""
        removed = []
        for folder in [self.root / t for t in TABLES] + [self.root / "cache" / "refs"]:
            for tmp in folder.glob(".*.tmp") if folder.is_dir() else []:
                if tmp.is_file():
                    tmp.unlink()
                    removed.append(tmp)
        return removed

    def quarantine(self, table: str, key: str) -> Path:
        """Move a part aside into `<table>/.damaged/` (readers skip hidden folders); never delete it."""
        import time

        src = self.path(table, key)
        dest = src.parent / ".damaged" / f"{key}.{time.strftime('%Y%m%dT%H%M%S')}.parquet"
        dest.parent.mkdir(exist_ok=True)
        os.replace(src, dest)
        return dest

    def delete(self, table: str, key: str) -> None:
        self.path(table, key).unlink(missing_ok=True)
