"""Results: Parquet table contracts (`schema`) and the atomic, resumable store (`store`)."""

from harness.results.store import ResultStore

__all__ = ["ResultStore"]
