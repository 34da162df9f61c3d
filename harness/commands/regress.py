"""`harness regress RESULTS_DIR --baseline baselines/NAME`: compare results with a baseline.

    harness regress results/minordpo-arith --baseline baselines/minordpo-arith

Compares each grid cell's metrics (reward accuracy, chosen log-ratio, displaced pairs,
divergences, eval reward, verifier accuracy, win-rate, ...) with the baseline's, under the
tolerances written in its baseline.yaml, and evaluates its stated expectations.
Exit status: 0 within tolerance; 1 on regression (a table of what moved and by how much);
2 on bad input (missing metrics, mismatched grid, unreadable baseline).
"""

from __future__ import annotations


def add_arguments(p):
    p.add_argument("results", help="results folder, e.g. results/minordpo-arith")
    p.add_argument("--baseline", required=True, help="baseline folder, e.g. baselines/minordpo-arith")


def run(args) -> int:
    from harness.regress import compare

    report = compare(args.results, args.baseline)
    print(report.text())
    return report.exit_code
