"""`harness baseline record RESULTS_DIR --to baselines/NAME --reason "..."`: record a baseline.

    harness baseline record results/minordpo-arith --to baselines/minordpo-arith \
        --reason "calibrated sizes after the trainer landed"

Writes baseline.yaml (suite, suite hash, reason, environment, tolerances, expectations; meant to
be reviewed and edited) and metrics.parquet (per grid cell and metric: n, mean, std, CI, values).
Re-recording keeps the tolerances and expectations already in the file; recording over a
baseline of another suite is refused, and so are results that break a stated expectation
(unless --force).
"""

from __future__ import annotations


def add_arguments(p):
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    rec = sub.add_parser("record", help="record RESULTS_DIR as a baseline")
    rec.add_argument("results", help="results folder")
    rec.add_argument("--to", required=True, help="baseline folder, e.g. baselines/minordpo-arith")
    rec.add_argument("--reason", required=True, help="why these numbers become the reference")
    rec.add_argument("--force", action="store_true", help="record even if stated expectations fail")


def run(args) -> int:
    from harness.regress import record_baseline

    b = record_baseline(args.results, args.to, reason=args.reason, force=args.force)
    n_cells = len(b.metrics.drop_duplicates(b.file.keys)) if b.file.keys else 1
    print(f"recorded {b.path}: suite {b.file.suite}, {n_cells} cell(s), {b.metrics['metric'].nunique()} metric(s), "
          f"{len(b.file.expectations)} expectation(s)")
    return 0
