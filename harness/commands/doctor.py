"""`harness doctor [SUITE.yaml] [--address A] [--engine]`: can this machine run it?

    harness doctor                               # torch, CUDA, GPUs, vLLM, lm-eval, Ray, trackers, hub
    harness doctor suites/gpu/smollm-hh.yaml     # plus ✓/✗ for everything that suite needs; exit 1 if any ✗
    harness doctor --engine                      # also start a vLLM engine on the tiny model
    harness doctor SUITE --address auto          # the Ray cluster's CPUs and GPUs, and the suite against it

One screen that `vllm collect-env`, `accelerate env` and `ray status` would otherwise take three
commands to give. With a suite, the checks are the ones `harness run` makes before its first task
(harness.doctor.checks.preflight), all of them listed instead of the first one.
Exit status: 0 when everything the suite needs is here (or no suite was given), 1 when something
is missing, 2 on bad input (an unreadable suite).
"""

from __future__ import annotations

from harness.commands import split_overrides, with_overrides


def _options(p):
    p.add_argument("--executor", default=None, help="check the suite as run with this executor (local | pool | ray)")
    p.add_argument("--address", default=None, help="a Ray cluster to describe and check the suite against")
    p.add_argument("--engine", action="store_true", help="start a vLLM engine on the tiny model (20-60 s on CPU)")


def add_arguments(p):
    p.add_argument("suite", nargs="?", default=None, help="a suite YAML to check (optional)")
    with_overrides(p, _options, "dotted overrides of the suite, as for harness run")


def run(args) -> int:
    split_overrides(args, _options, "harness doctor")
    from harness.doctor.environment import environment

    suite = None
    if args.suite:  # read it first: a bad suite is exit 2 before the long report
        from harness.suite.spec import load_suite

        suite = load_suite(args.suite, args.overrides)
    for section, rows in environment(engine=args.engine, address=args.address):
        print(f"\n{section}")
        for label, value, ok in rows:
            print(f"  {_mark(ok)} {label:<22} {value}")
    if suite is None:
        return 0
    from harness.doctor.checks import check_all
    from harness.doctor.needs import suite_needs

    results = check_all(suite_needs(suite, executor=args.executor, address=args.address))
    print(f"\nsuite {suite.name} ({suite.source})")
    for need, problem in results:
        what = f"{need.key}: {need.value}" + (f" ({need.count} runs)" if need.count > 1 else "")
        print(f"  {_mark(problem is None)} {what}" + (f"\n      {problem}" if problem else ""))
    missing = sum(p is not None for _, p in results)
    print(f"\n{'everything this suite needs is here' if not missing else f'{missing} problem(s): harness run would stop before its first task'}")
    return 1 if missing else 0


def _mark(ok: bool | None) -> str:
    return {True: "✓", False: "✗", None: "·"}[ok]
