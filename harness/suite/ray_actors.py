"""Long-lived Ray actors that run a suite's tasks: torch and transformers imported once per worker.

    pool = WorkerPool(options, capacity, max_retries=1, driver=None)
    ref = pool.submit(task, deps)        # None: no worker of its kind is free yet (submit again later)
    task, outcome = pool.finish(ref)     # outcome None: the worker died and the task is to be run again
    pool.shutdown()

Why actors and not plain Ray tasks. Plain tasks reuse idle worker processes on CPU, but a task
that asks for a GPU gets a fresh process each time (Ray sets `max_calls=1` for GPU functions,
ray-project/ray#29624: a reused process keeps the GPU its CUDA context was made on while its next
task may be given another), so every GPU run paid again for importing torch, transformers and
peft and for a CUDA context. An actor holds its resources, GPU included, for its whole life: its
CUDA_VISIBLE_DEVICES never changes under it, and it runs task after task of its kind, keeping the
per-process memo of data and tokenizer (harness.trainer.setup.prepared_data) as the pool
executor's workers do.

Kinds (train, eval, reward) may ask for different resources (the suite's `executor:` block), so
actors are pooled by the resources they hold: kinds that ask for the same (all of them by
default) share one pool, and an actor that trained a run then evaluates one; at most as many
actors of a shape as the cluster holds at once. An actor is kept only while tasks of its shape are
ready for it: once none is, it is ended and its resources go back to Ray
(otherwise the training actors, idle after the last run, would hold every CPU while an
evaluation made earlier waits for ever for a worker; an evaluation part becomes ready while the
last runs still train). While a multi-process run (Ray Train) gathers its workers, idle actors are ended and
no new task starts on an actor, so the run is not starved of the CPUs/GPUs it waits for.

Faults: an actor that dies (SIGKILL, out of memory, its node lost) fails its task with Ray's
reason; the task runs again on a new actor `max_retries` times, then is recorded failed, and the
suite goes on. An exception in a task body is an outcome at once (retrying a bug repeats it).
"""

from __future__ import annotations

import collections
from collections.abc import Callable

from harness.suite.executors import Outcome, Task


class _Worker:
    """One actor: runs the runner's task bodies, one at a time, for the whole suite."""

    def __init__(self, driver: tuple[str, int] | None):
        import os

        os.environ.setdefault("TQDM_DISABLE", "1")  # progress is the driver's; bars from N actors interleave
        if driver is not None:
            from harness.suite.ray_executor import _end_with

            _end_with(driver)

    def run(self, task: Task, deps: dict[str, Outcome]) -> Outcome:
        from harness.suite.executors import call, where_am_i

        return call(task, deps, where=where_am_i())


class WorkerPool:
    def __init__(self, options: Callable[[str], dict], capacity: Callable[[str], int], *, max_retries: int,
                 driver: tuple[str, int] | None):
        import ray

        self._cls = ray.remote(_Worker)
        self.options, self.capacity, self.max_retries, self.driver = options, capacity, max_retries, driver
        self.idle: dict[tuple, list] = collections.defaultdict(list)  # shape -> actors waiting for a task
        self.alive: collections.Counter = collections.Counter()  # actors of each shape, busy or idle
        self.deaths: collections.Counter = collections.Counter()  # task key -> workers it lost
        self.running: dict = {}  # ObjectRef -> (task, actor)

    def submit(self, task: Task, deps: dict[str, Outcome]):
        """Start `task` on a free actor of its kind (made if the cluster holds one more); None if none is free."""
        actor = self._actor(self.shape(task.kind))
        if actor is None:
            return None
        ref = actor.run.remote(task, deps)
        self.running[ref] = (task, actor)
        return ref

    def shape(self, kind: str) -> tuple:
        """What an actor for `kind` holds (its Ray options): kinds with the same shape share actors."""
        return tuple(sorted(self.options(kind).items()))

    def _actor(self, shape: tuple):
        if self.idle[shape]:
            return self.idle[shape].pop()
        self.release_idle(keep={shape})
        if self.alive[shape] >= max(1, self.capacity(dict(shape))):
            return None
        self.alive[shape] += 1
        return self._cls.options(**dict(shape), max_restarts=0, max_concurrency=1).remote(self.driver)

    def release_idle(self, keep=frozenset()) -> None:
        """End the idle actors of every shape not in `keep`: their resources go back to Ray."""
        import ray

        for shape, actors in self.idle.items():
            if shape in keep:
                continue
            for actor in actors:
                ray.kill(actor, no_restart=True)
            self.alive[shape] -= len(actors)
            actors.clear()

    def finish(self, ref) -> tuple[Task, Outcome | None]:
        """The task behind a ready `ref` and its outcome; None when its worker died and it is owed a retry."""
        import ray

        from harness.suite.ray_executor import _reason

        task, actor = self.running.pop(ref)
        shape = self.shape(task.kind)
        try:
            outcome = ray.get(ref)
        except ray.exceptions.RayActorError as e:  # the process died: the actor is gone
            self.alive[shape] -= 1
            self.deaths[task.key] += 1
            if self.deaths[task.key] <= self.max_retries:
                return task, None
            return task, Outcome(error=_reason(e, self.max_retries))
        except ray.exceptions.RayError as e:  # the call itself failed (e.g. an argument that does not pickle)
            self.idle[shape].append(actor)
            return task, Outcome(error=_reason(e, self.max_retries))
        self.idle[shape].append(actor)
        return task, outcome

    def shutdown(self) -> None:
        import ray

        for _, actor in self.running.values():
            ray.kill(actor, no_restart=True)
        self.running.clear()
        self.release_idle()
