"""Regression against baselines: `compare` results with a recorded baseline under per-metric
tolerances and stated expectations; `record_baseline` writes one (with a reason).

    report = compare("results/minordpo-arith", "baselines/minordpo-arith")   # .exit_code 0 | 1
    record_baseline("results/minordpo-arith", "baselines/minordpo-arith", reason="...")
"""

from harness.regress.baseline import load_baseline, record_baseline
from harness.regress.compare import RegressReport, compare

__all__ = ["RegressReport", "compare", "load_baseline", "record_baseline"]
