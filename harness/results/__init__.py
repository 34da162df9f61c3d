"""Results: Parquet table contracts (`schema`), the atomic, resumable store (`store`), and the
reader for analysis code (`reader.load`: current column names, Arrow dtypes, pandas or polars)."""

from harness.results.reader import checkpoint_path, load
from harness.results.store import ResultStore

__all__ = ["ResultStore", "checkpoint_path", "load"]
