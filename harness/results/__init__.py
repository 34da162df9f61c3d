"""Results: Parquet table contracts (`schema`), the atomic, resumable store (`store`), and the
reader for analysis code (`reader.load`: current column names, Arrow dtypes, pandas or polars)."""

from harness.results.reader import load
from harness.results.records import located as checkpoint_path  # where a stored checkpoint path is now
from harness.results.store import ResultStore

__all__ = ["ResultStore", "checkpoint_path", "load"]
