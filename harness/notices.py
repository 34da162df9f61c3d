"""Warnings a task gives while it runs, carried to the console of `harness run`.

    from harness.notices import warn
    warn("warning: logger wandb failed (...)")      # stderr, and the task's Outcome.warnings

`harness run` points stderr at OUT/logs/ for the suite's duration (harness.console), and a task
may run in a worker process or on another machine (pool, ray): a plain print reaches only the log
file. `warn` prints as before and also records the line for the task in progress
(harness.suite.executors.call collects them into `Outcome.warnings`, which cross process
boundaries with the outcome); the runner's progress then shows each on the console, once.
Outside a task (`harness train`) it is a plain print to stderr: that is the console.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

_collected: list[str] | None = None  # the task in progress's warnings (a worker runs one at a time)


def warn(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
    if _collected is not None:
        _collected.append(line)


@contextlib.contextmanager
def collect() -> Iterator[list[str]]:
    global _collected
    before, _collected = _collected, []
    try:
        yield _collected
    finally:
        _collected = before
