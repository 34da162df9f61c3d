"""The `pool` executor: a suite's tasks side by side in worker processes on this machine.

    executor = EXECUTORS.get("pool")(workers=2)       # 0: one worker per physical core
    outcomes = executor.run(tasks, on_start=..., on_done=...)

Why processes, not threads: a tiny-model step is a few milliseconds of many small torch ops, so
the Python interpreter is the bottleneck and threads would serialise on it. Each worker trains
with the run's own `train.threads` (1 for the tiny model), so two workers on two cores do what
one worker would, twice as fast; `--executor local` and `--executor pool` give the same rows.

Workers are spawned (not forked: a forked torch with OpenMP threads can deadlock) and live for
the whole suite, so a worker keeps its per-process memo of data and tokenizer
(`harness.trainer.setup.prepared_data`) from one run to the next. A task starts as soon as the
tasks it names in `after` have finished, whatever their outcome (the task body decides what a
failed dependency means, as with the local executor). A worker that dies (SIGKILL, out of
memory) breaks the pool and every task in flight with it: a fresh pool takes over and each of
those tasks runs again, alone; one that kills its worker while alone is recorded as failed with
the reason, and the suite goes on. Ctrl-C stops the workers and the suite.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from harness.suite.executors import DoneHook, Hook, Outcome, Task
from harness.suite.executors import call as _call  # worker side: as in the local executor


def _init_worker(devices: tuple[str, ...] = (), counter=None) -> None:
    # Workers report through the driver's progress lines; per-run bars from two processes at
    # once would interleave into noise.
    os.environ.setdefault("TQDM_DISABLE", "1")
    if devices and counter is not None:
        # one GPU per worker (harness.accel.pool_gpu_plan), set before the worker imports torch;
        # a replacement worker (after a crash) takes the next slot, round robin
        with counter.get_lock():
            slot = counter.value
            counter.value += 1
        os.environ["CUDA_VISIBLE_DEVICES"] = devices[slot % len(devices)]
    _die_with_parent()


def _die_with_parent() -> None:
    """Linux: a worker gets SIGKILL when the driver dies (SIGKILL, SIGTERM, a crash). Otherwise an
    orphaned worker trains on, holding cores and writing rows beside the next driver, which
    holds the folder's lock but not the orphan's pen. Elsewhere the worker exits at its next
    task, when the pipe to the dead driver breaks."""
    import ctypes
    import signal
    import sys

    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except OSError:
            pass
        if os.getppid() == 1:  # the driver died before prctl took effect
            os._exit(1)


class PoolExecutor:
    """Runs independent tasks in `workers` spawned processes (0: the physical cores)."""

    def __init__(self, workers: int = 0, gpus: int | None = None):
        from harness.accel import gpu_count, pool_gpu_plan
        from harness.threads import physical_cores

        # on a GPU machine: one GPU per worker, and no more workers than GPUs (`note` says so)
        self.plan = pool_gpu_plan(workers or physical_cores(), gpu_count() if gpus is None else gpus)
        self.workers, self.note = self.plan.workers, self.plan.note

    @classmethod
    def from_options(cls, options) -> "PoolExecutor":
        return cls(workers=options.workers)

    @property
    def slots(self) -> int:
        return self.workers

    def run(self, tasks: Sequence[Task], *, on_start: Hook | None = None,
            on_done: DoneHook | None = None) -> dict[str, Outcome]:
        from concurrent.futures import FIRST_COMPLETED, wait
        from concurrent.futures.process import BrokenProcessPool

        keys = {t.key for t in tasks}
        index = {t.key: i for i, t in enumerate(tasks, 1)}
        for t in tasks:
            unknown = [k for k in t.after if k in keys and index[k] > index[t.key]]
            if unknown:
                raise ValueError(f"task {t.key} listed before its dependencies {unknown}")
        outcomes: dict[str, Outcome] = {}
        waiting = list(tasks)
        suspects: set[str] = set()  # in flight when a worker died: each runs alone until cleared
        pool = self._pool()
        running: dict = {}  # future -> task
        try:
            while waiting or running:
                for task in [t for t in waiting if all(k in outcomes or k not in keys for k in t.after)]:
                    alone = any(t.key in suspects for t in running.values())
                    if len(running) >= self.workers or alone or (task.key in suspects and running):
                        break
                    waiting.remove(task)
                    if on_start and task.key not in suspects:
                        on_start(index[task.key], len(tasks), task)
                    deps = {k: outcomes[k] for k in task.after if k in outcomes}
                    running[pool.submit(_call, task, deps)] = task
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                broken = []
                for fut in done:
                    task = running.pop(fut)
                    try:
                        outcomes[task.key] = fut.result()
                    except BrokenProcessPool:
                        broken.append(task)
                        continue
                    if on_done:
                        on_done(index[task.key], len(tasks), task, outcomes[task.key])
                if broken:
                    # A dead worker breaks the whole pool and every task in flight dies with it; which one
                    # killed it is unknown. Each of them runs again, alone: a bystander then finishes, and
                    # a task that kills its worker while alone is recorded as failed.
                    broken += list(running.values())
                    running.clear()
                    pool.shutdown(wait=False, cancel_futures=True)
                    pool = self._pool()
                    for task in broken:
                        if task.key in suspects and len(broken) == 1:
                            outcomes[task.key] = Outcome(error=f"worker process died while running {task.key} "
                                                               "alone (killed, or out of memory)")
                            if on_done:
                                on_done(index[task.key], len(tasks), task, outcomes[task.key])
                        else:
                            suspects.add(task.key)
                            waiting.insert(0, task)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            for proc in list(getattr(pool, "_processes", {}).values()):  # Ctrl-C: do not leave workers training
                proc.terminate()
            raise
        pool.shutdown(wait=True)
        return outcomes

    def _pool(self):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        ctx = multiprocessing.get_context("spawn")
        if self.plan.devices and not hasattr(self, "_slot"):
            self._slot = ctx.Value("i", 0)  # which GPU the next worker takes
        return ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_init_worker,
                                   initargs=(self.plan.devices, getattr(self, "_slot", None)))
