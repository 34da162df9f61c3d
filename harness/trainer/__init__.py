"""Training: `train_run(cfg, out_dir) -> RunResult` and `run_id_for(cfg)`.

    from harness.trainer import train_run, run_id_for
    from harness.trainer.config import RunConfig

The heavy modules (torch, transformers) load on first use, so importing the config classes
(`harness.trainer.config`) stays cheap for suite expansion and validation.
"""

from __future__ import annotations

__all__ = ["RunResult", "run_id_for", "train_run"]


def __getattr__(name):
    if name in __all__:
        import importlib

        return getattr(importlib.import_module("harness.trainer.run"), name)
    raise AttributeError(f"module 'harness.trainer' has no attribute {name!r}")
