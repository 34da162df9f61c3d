"""Executors: how a suite's tasks are run. The runner builds `Task`s; an executor runs them.

    executor = EXECUTORS.get("local")()
    outcomes = executor.run(tasks, on_start=..., on_done=...)

The seam is deliberately small so that a Ray (or Slurm) executor can be added as one more
registry entry without touching the runner:
- tasks come in dependency order; `task.after` names tasks that must finish first (whatever
  their outcome: a task decides itself what a failed dependency means, from `deps`);
- `task.fn(*task.args, deps={key: Outcome})` must be a module-level function with plain-data
  arguments, so it can be pickled to a worker;
- every task's durable effect is its writes to the ResultStore (one atomic part per key), so a
  crashed worker or a killed driver loses at most the work in flight.
An exception inside a task is an `Outcome` with `error`; KeyboardInterrupt and SystemExit still
stop the whole suite (a user's Ctrl-C is not a failed run).
"""

from __future__ import annotations

import dataclasses
import traceback
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from harness.registry import Registry


@dataclasses.dataclass(frozen=True)
class Task:
    key: str  # unique, e.g. "train:3f2a..." or "eval:tiny/arith"
    fn: Callable[..., Any]
    args: tuple = ()
    after: tuple[str, ...] = ()  # keys of tasks that must finish before this one
    label: str = ""  # for progress lines
    kind: str = "train"  # train | eval | reward: which resources it asks a cluster for (suite `executor:`)


@dataclasses.dataclass(frozen=True)
class Outcome:
    value: Any = None
    error: str | None = None  # formatted traceback when the task raised
    where: str = ""  # the worker that ran it (host and pid), when not this process
    warnings: tuple[str, ...] = ()  # what the task warned about (harness.notices): shown on the console

    @property
    def ok(self) -> bool:
        return self.error is None


def where_am_i() -> str:
    """This worker, as progress lines name it: host and pid."""
    import os
    import socket

    return f"{socket.gethostname()}:{os.getpid()}"


def call(task: Task, deps: dict[str, Outcome], where: str = "") -> Outcome:
    """Run one task body, in whichever process: an exception is an outcome (the suite goes on),
    and the task's warnings travel with it (harness.notices)."""
    from harness.notices import collect

    with collect() as warnings:
        try:
            outcome = Outcome(value=task.fn(*task.args, deps=deps), where=where)
        except Exception:  # a failing task is recorded; the suite goes on
            outcome = Outcome(error=traceback.format_exc(), where=where)
    return dataclasses.replace(outcome, warnings=tuple(warnings))


Hook = Callable[[int, int, Task], None]
DoneHook = Callable[[int, int, Task, Outcome], None]


class Executor(Protocol):
    slots: int  # how many tasks it runs at once

    def run(self, tasks: Sequence[Task], *, on_start: Hook | None = None,
            on_done: DoneHook | None = None) -> dict[str, Outcome]: ...


class LocalExecutor:
    """Runs tasks one after the other in this process (the CPU default)."""

    slots = 1  # tasks at once: the runner splits evaluation into this many shards

    @classmethod
    def from_options(cls, options) -> "LocalExecutor":
        """From a suite's `executor:` block (harness.suite.spec.ExecutorOptions): nothing to set."""
        return cls()

    def run(self, tasks: Sequence[Task], *, on_start: Hook | None = None,
            on_done: DoneHook | None = None) -> dict[str, Outcome]:
        outcomes: dict[str, Outcome] = {}
        for i, task in enumerate(tasks, 1):
            missing = [k for k in task.after if k not in outcomes and k in {t.key for t in tasks}]
            if missing:
                raise ValueError(f"task {task.key} listed before its dependencies {missing}")
            if on_start:
                on_start(i, len(tasks), task)
            deps = {k: outcomes[k] for k in task.after if k in outcomes}
            outcome = outcomes[task.key] = call(task, deps)
            if on_done:
                on_done(i, len(tasks), task, outcome)
        return outcomes


EXECUTORS: Registry[type] = Registry("executor")
EXECUTORS.register("local", LocalExecutor)
EXECUTORS.register("pool", "harness.suite.pool:PoolExecutor")  # worker processes on this machine
EXECUTORS.register("ray", "harness.suite.ray_executor:RayExecutor")  # a Ray cluster (local or joined)
