"""Suites: a YAML grid of runs (`spec`), its expansion into hashed run configs (`grid`), and the
resumable runner (`runner`) that executes them through an executor (`executors`), with the
SFT stage (in `grid`) and the reward-model stage (`reward_stage`) shared by every run.

    from harness.suite import load_suite, expand, run_suite
    suite = load_suite("suites/smoke.yaml")
    plan = expand(suite)
    run_suite(suite, "results/smoke")
"""

from harness.suite.grid import Plan, PlannedRun, expand, run_id
from harness.suite.spec import Suite, SuiteSpec, load_suite

__all__ = ["Plan", "PlannedRun", "Suite", "SuiteSpec", "expand", "load_suite", "run_id", "run_suite"]


def run_suite(*args, **kwargs):  # imported lazily: the runner pulls in the results store (pandas)
    from harness.suite.runner import run_suite as _run

    return _run(*args, **kwargs)
