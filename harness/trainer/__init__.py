"""Training: `train_run(cfg, out_dir) -> RunResult` (run ids: `harness.results.records.run_id`).

    from harness.trainer import train_run
    from harness.trainer.config import RunConfig

The heavy modules (torch, transformers) load on first use, so importing the config classes
(`harness.trainer.config`) stays cheap for suite expansion and validation.
"""

from __future__ import annotations

__all__ = ["RunResult", "train_run"]


def __getattr__(name):
    if name in __all__:
        import importlib

        return getattr(importlib.import_module("harness.trainer.run"), name)
    raise AttributeError(f"module 'harness.trainer' has no attribute {name!r}")
