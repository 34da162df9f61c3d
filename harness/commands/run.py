"""`harness run SUITE.yaml [--out DIR] [--dry-run] [key=value ...]`: run a benchmark suite.

    harness run suites/minordpo-arith.yaml                 # results/minordpo-arith/, then its report
    harness run suites/smoke.yaml --dry-run                # the expanded runs and what is done
    harness run suites/smoke.yaml train.steps=5 grid.loss.beta=[0.1,0.5] --out /tmp/smoke
    harness run suites/minordpo-arith.yaml --executor ray  # fan out on Ray (--address auto: a cluster)

Resumable: runs already done in --out are skipped; kill it at any point and run it again.
Overrides: `grid.KEY=[...]` sets an axis; a run key (`train.steps=5`) sets the base config and
pins that axis; other dotted keys (`sft.train.steps=10`, `report.enabled=false`) edit the suite.
Exit status: 0 when every run completed or diverged (and was evaluated), 1 when some run failed
or its evaluation did (recorded, and retried next time), 2 on bad input.
"""

from __future__ import annotations

from harness.commands import split_overrides, with_overrides


def _options(p):
    p.add_argument("--out", help="results folder (default: results/<suite name>)")
    p.add_argument("--dry-run", action="store_true", help="print the expanded runs and their state; train nothing")
    p.add_argument("--executor", default=None,
                   help="how runs are executed: local (one after the other) | pool (worker processes) | "
                        "ray (a Ray cluster); default: the suite's executor block, else local")
    p.add_argument("--workers", type=int, default=None,
                   help="pool: worker processes; ray: CPUs of a local instance (0: one per physical core)")
    p.add_argument("--address", default=None,
                   help="ray: join this running cluster (auto | HOST:PORT | ray://HOST:PORT) instead of starting one")
    p.add_argument("--no-report", action="store_true", help="do not write the report at the end")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="show library and engine output (default: a progress bar; that output goes to OUT/logs/)")


def add_arguments(p):
    p.add_argument("suite", help="suite YAML, e.g. suites/smoke.yaml")
    with_overrides(p, _options, "dotted overrides of the suite")  # options before or after them


def precision(plan) -> str:
    """The compute dtypes of the planned runs, and the probe when one decided them (dtype: fastest)."""
    from collections import Counter

    from harness import accel, probe

    counts = Counter(r.config.model.dtype for r in plan.all)
    line = "precision: " + ", ".join(f"{n} run(s) in {d}" for d, n in sorted(counts.items()))
    return line + (f" ({accel.probe_line()})" if probe.measured() else "")


def run(args) -> int:
    split_overrides(args, _options, "harness run")
    from harness.suite.spec import load_suite

    suite = load_suite(args.suite, args.overrides)
    from harness.suite.runner import check_run_args, default_out

    check_run_args(suite, args.workers)
    out = args.out or default_out(suite)
    if args.dry_run:
        from harness.results.store import ResultStore
        from harness.suite import reward_stage
        from harness.suite.resolved import resolve_suite
        from harness.suite.status import describe

        rs = resolve_suite(suite)  # the runner's own resolution: what the dry run shows is what runs
        print(f"suite {suite.name} ({suite.hash}) from {suite.source}; executor {suite.spec.executor.name}")
        store = ResultStore(out)
        for table, key, problem in store.damaged():
            print(f"damaged: {store.path(table, key)}: {problem} (harness run moves it aside and redoes its run)")
        print(describe(rs, store))
        print(precision(rs.plan))
        for line in reward_stage.describe(rs.reward, out):
            print(line)
        return 0
    from harness.console import SuiteConsole
    from harness.doctor.checks import preflight
    from harness.doctor.needs import suite_needs
    from harness.results.lock import check_out
    from harness.results.store import ResultStore
    from harness.suite.resolved import resolve_suite
    from harness.suite.runner import check_names, run_suite

    # what would fail every task (no CUDA, a missing package, a model or dataset nowhere to be
    # found) fails here, once, before OUT is touched: nothing is recorded as failed
    preflight(suite_needs(suite, executor=args.executor, address=args.address), source=str(suite.source))

    check_out(out)  # before the console makes OUT/logs/
    ResultStore(out).check_versions()  # a folder of a newer schema: refused before anything is written
    rs = resolve_suite(suite)  # run_suite checks these again (cheap): here they come before OUT/logs/
    check_names(rs.plan, evaluates=rs.eval is not None)
    print(precision(rs.plan))
    with SuiteConsole(out, verbose=args.verbose) as console:
        summary = run_suite(suite, out, executor=args.executor, workers=args.workers, address=args.address,
                            report=False if args.no_report else None, console=None if args.verbose else console)
    return 1 if summary.incomplete else 0
