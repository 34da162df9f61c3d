"""The `ray` executor: a suite's tasks as Ray tasks, on a local Ray instance or a cluster.

    harness run SUITE --executor ray                       # a local instance with this machine's cores
    harness run SUITE --executor ray --address auto        # join a running cluster (`ray start --head`)
    executor: {name: ray, train: {num_gpus: 1}, eval: {num_gpus: 1}, reward: {num_cpus: 2}, max_retries: 1}

Each task runs on a long-lived Ray actor (harness.suite.ray_actors) holding its kind's resources
(`train`, `eval`, `reward` in the suite's `executor:` block; kinds that ask for the same share
actors), which asks for them once and then runs task after task, so torch and transformers are imported once per worker, not once per task,
and a GPU worker keeps its GPU. A task starts once the tasks it names in `after` are done, as
with the other executors; Ray places the workers where those resources are free. The task bodies are the runner's own
(module-level, plain-data arguments), so every executor writes the same rows; workers write their
own run's Parquet parts into the out directory, which must be a filesystem they all see (one
machine, or NFS/Lustre/GPFS on a cluster; see README "Scaling out").

Faults: a task whose worker is killed (SIGKILL, out of memory) runs again on a new worker
`max_retries` times, then is recorded failed with Ray's reason, and the suite goes on; an exception in a task body is a
failure at once (retrying a bug only repeats it). A run that asks for several processes
(`train.nproc` > 1 with `train.strategy: ddp | fsdp`) becomes a Ray Train `TorchTrainer` with that
many workers (harness.suite.ray_train), which set up torch.distributed for it.

A local instance is started on first use and shut down at the end, and its workers end the moment
the driver does (even SIGKILLed); with --address the cluster is joined and left running, and an
address where no cluster answers is given `executor.connect_timeout_s` (30 s), then exit 2 naming
it (Ray alone retries for ever, into its log files). `import harness` never imports Ray.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence

from harness.suite.executors import DoneHook, Hook, Outcome, Task

_watched: set[tuple[str, int]] = set()


def _end_with(driver: tuple[str, int]) -> None:
    """Worker side, local instance only: end this worker the moment the driver process ends. Ray
    itself notices a dead driver 2-3 s later, long enough for an orphaned task to write rows beside
    the next `harness run`; a pidfd (Linux) turns readable when its process exits, with no polling."""
    host, pid = driver
    if driver in _watched or host != socket.gethostname() or not hasattr(os, "pidfd_open"):
        return  # a worker runs many tasks: one watcher per driver; another host: Ray's own notice
    _watched.add(driver)
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:  # already gone
        os._exit(1)
    except OSError:  # not ours to watch (another PID namespace): Ray's own notice
        return

    def watch() -> None:
        import select

        select.select([fd], [], [])
        os._exit(1)  # as a SIGKILL would: parts are atomic, half-written temporaries are swept

    import threading

    threading.Thread(target=watch, name="harness-driver-watch", daemon=True).start()


def _reason(e, retries: int) -> str:
    """One line for the runs table: what Ray says happened, and whether it was retried."""
    import ray

    lines = [s.strip() for s in str(e).strip().splitlines() if s.strip() and not s.strip().startswith("^")]
    died = (ray.exceptions.WorkerCrashedError, ray.exceptions.OutOfMemoryError, ray.exceptions.NodeDiedError,
            ray.exceptions.RayActorError)
    if isinstance(e, died):  # run again `retries` times on a new worker
        name = type(e).__name__
        oom = [ln for ln in lines if "low on memory" in ln]
        if oom:  # Ray's memory monitor killed the worker: say so, as Ray does for a plain task
            name = "OutOfMemoryError"
        detail = next(iter(oom), next((ln for ln in lines if "exit detail" in ln.lower()), lines[0] if lines else ""))
        return f"ray: {name}: {detail} (after {retries} retr{'y' if retries == 1 else 'ies'})"
    cause = getattr(e, "cause", None)
    return f"ray: {type(cause or e).__name__}: {lines[-1] if lines else ''}"


START_HINT = ("start one with `ray start --head --port 6379` and pass --address HOST:6379 (or auto on that "
              "machine), or leave --address out to start a local instance")


def join_cluster(address: str, timeout_s: float) -> None:
    """Join a running cluster, or give up after about `timeout_s` (executor.connect_timeout_s).
    Ray alone retries an unreachable address for ever, and only into its log files: first wait
    for the address to accept a TCP connection (a head node still starting is given the time),
    then let Ray try once (about 35 s more when something answers that is not a Ray GCS)."""
    import ray

    from harness.errors import HarnessError

    where = f"Ray address {address}"
    if address.startswith("ray://"):  # Ray Client: its own server port, same wait
        target = address[len("ray://"):]
    else:
        from ray._private.services import canonicalize_bootstrap_address_or_die

        try:  # `auto`: RAY_ADDRESS or the cluster `ray start` recorded on this machine
            target = canonicalize_bootstrap_address_or_die(address)
        except (ConnectionError, ValueError) as e:
            raise HarnessError(f"{where}: {str(e).strip().splitlines()[0].rstrip('.')}; {START_HINT}") from None
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise HarnessError(f"{where}: expected auto, HOST:PORT or ray://HOST:PORT")
    problem = _wait_for_port(host.strip("[]"), int(port), timeout_s)
    if problem:
        at = f" at {target}" if target != address else ""
        raise HarnessError(f"{where}: no Ray cluster answered within {timeout_s:g} s ({problem}{at}); "
                           f"{START_HINT} (executor.connect_timeout_s sets the wait)")
    # Ray's own connection retries (20 by default, ~35 s each) are cut to what the wait allows
    os.environ.setdefault("RAY_gcs_server_port_wait_time_s", str(max(1, int(timeout_s // 30))))
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=True)
    except (ConnectionError, RuntimeError) as e:
        raise HarnessError(f"{where}: {target} answers, but not as a Ray cluster ({str(e).strip().splitlines()[0]}); "
                           f"{START_HINT}") from None


def _wait_for_port(host: str, port: int, timeout_s: float) -> str | None:
    """None once host:port accepts a connection; else, after `timeout_s`, the last reason."""
    import time

    deadline, problem = time.monotonic() + timeout_s, "no attempt"
    while True:
        left = deadline - time.monotonic()
        try:
            with socket.create_connection((host, port), timeout=max(0.1, min(left, 5.0))):
                return None
        except OSError as e:
            problem = e.strerror or str(e) or type(e).__name__
        if time.monotonic() + 0.5 > deadline:
            return problem.lower()
        time.sleep(0.5)


class RayExecutor:
    def __init__(self, *, workers: int = 0, address: str | None = None, resources: dict | None = None,
                 max_retries: int = 1, connect_timeout_s: float = 30.0):
        self.workers, self.address, self.max_retries = workers, address, max_retries
        self.connect_timeout_s = connect_timeout_s
        self.resources = resources or {}  # kind -> Resources
        self._started = False  # a local instance this executor started (and stops)

    @classmethod
    def from_options(cls, options) -> RayExecutor:
        return cls(workers=options.workers, address=options.address, max_retries=options.max_retries,
                   connect_timeout_s=options.connect_timeout_s,
                   resources={"train": options.train, "eval": options.eval, "reward": options.reward})

    @property
    def slots(self) -> int:
        """Evaluation parts: as many as the cluster's CPUs hold evaluation tasks at once."""
        if self.address:
            import ray

            self._ensure()  # joined: its size is only known by asking it
            cpus = ray.cluster_resources().get("CPU", 1)
        else:
            from harness.threads import physical_cores

            cpus = self.workers or physical_cores()
        per = max(self._options("eval").get("num_cpus", 1), 1e-3)
        return max(1, int(cpus // per))

    def _ensure(self) -> None:
        """Connect to (or start) Ray once; a local instance started here is shut down after `run`."""
        import ray

        if ray.is_initialized():
            return
        if self.address:
            join_cluster(self.address, self.connect_timeout_s)
        else:
            from harness.threads import physical_cores

            # Ray's memory monitor kills a task when the node runs low and, by default, retries it
            # for ever; here an out-of-memory kill counts against max_retries like any other death
            ray.init(num_cpus=self.workers or physical_cores(), include_dashboard=False, log_to_driver=True,
                     _system_config={"task_oom_retries": self.max_retries})
            self._started = True

    def _options(self, kind: str) -> dict:
        r = self.resources.get(kind)
        if r is None:
            return {"num_cpus": 1}
        opts = {"num_cpus": r.num_cpus, "num_gpus": r.num_gpus}
        if r.memory_gb:
            opts["memory"] = int(r.memory_gb * 2**30)
        return opts

    def run(self, tasks: Sequence[Task], *, on_start: Hook | None = None,
            on_done: DoneHook | None = None) -> dict[str, Outcome]:
        import ray

        from harness.suite.ray_actors import WorkerPool

        keys = {t.key for t in tasks}
        index = {t.key: i for i, t in enumerate(tasks, 1)}
        self._ensure()
        self._check_feasible(tasks)
        # workers of a local instance end with this process (a joined cluster is left to Ray)
        driver = (socket.gethostname(), os.getpid()) if self._started else None
        pool = WorkerPool(self._options, self._capacity(), max_retries=self.max_retries, driver=driver)
        outcomes: dict[str, Outcome] = {}
        waiting, ready, running, distributed = list(tasks), [], {}, set()  # running: ObjectRef -> Task
        started: set[str] = set()
        try:
            while waiting or ready or running:
                for task in [t for t in waiting if all(k in outcomes or k not in keys for k in t.after)]:
                    waiting.remove(task)
                    ready.append(task)
                for task in list(ready):
                    deps = {k: outcomes[k] for k in task.after if k in outcomes}
                    submit = self._submit_distributed(task, deps)
                    if not submit and distributed:  # Ray Train is gathering its workers: hold plain tasks
                        continue
                    ref = submit(task, deps) if submit else pool.submit(task, deps)
                    if ref is None:  # every worker of its kind is busy
                        continue
                    ready.remove(task)
                    running[ref] = task
                    if submit:
                        distributed.add(ref)
                    if on_start and task.key not in started:
                        on_start(index[task.key], len(tasks), task)
                    started.add(task.key)
                # a worker with no task of its kind ready is ended: its CPUs/GPUs go to the kinds that wait
                # (all of them while Ray Train gathers its workers)
                pool.release_idle(keep=set() if distributed else {pool.shape(t.kind) for t in ready})
                if not running:
                    raise RuntimeError(f"ray executor: {len(ready)} task(s) ready but none could start")
                done, _ = ray.wait(list(running), num_returns=1)
                for ref in done:
                    task = running.pop(ref)
                    if ref in distributed:
                        distributed.discard(ref)
                        try:
                            outcome = ray.get(ref)
                        except ray.exceptions.RayError as e:  # past Ray's own retries
                            outcome = Outcome(error=_reason(e, self.max_retries))
                    else:
                        _, outcome = pool.finish(ref)
                        if outcome is None:  # its worker died: run it again on a new one
                            ready.insert(0, task)
                            continue
                    outcomes[task.key] = outcome
                    if on_done:
                        on_done(index[task.key], len(tasks), task, outcome)
        finally:
            for ref in distributed & set(running):
                ray.cancel(ref, force=True)
            pool.shutdown()
            if self._started:
                ray.shutdown()
                self._started = False
        return outcomes

    def _capacity(self):
        """Ray options -> how many such workers the cluster holds at once (by CPUs and GPUs asked for)."""
        import ray

        have = ray.cluster_resources()

        def capacity(opts: dict) -> int:
            fits = [int(have.get(name, 0) / opts[key] + 1e-9) for key, name in (("num_cpus", "CPU"), ("num_gpus", "GPU"))
                    if opts.get(key)]
            return max(1, min(fits)) if fits else 64

        return capacity

    def _check_feasible(self, tasks: Sequence[Task]) -> None:
        """A task asking for more than the whole cluster has would wait for ever (Ray only warns):
        say so before anything starts."""
        import ray

        from harness.errors import HarnessError
        from harness.suite.ray_train import wants_processes

        have = ray.cluster_resources()
        for kind in sorted({t.kind for t in tasks}):
            n = max(wants_processes(t) for t in tasks if t.kind == kind)
            for key, name in (("num_cpus", "CPU"), ("num_gpus", "GPU")):
                asked = self._options(kind).get(key, 0) * n
                if asked > have.get(name, 0):
                    per = f" ({n} processes x {asked / n:g})" if n > 1 else ""
                    raise HarnessError(f"executor.{kind}.{key}: a task asks for {asked:g} {name}{per}, but the Ray "
                                       f"cluster has {have.get(name, 0):g} in all")

    def _submit_distributed(self, task: Task, deps):
        """A training run that asks for several processes: a Ray Train TorchTrainer (or None)."""
        from harness.suite.ray_train import distributed_submitter

        return distributed_submitter(task, self._options(task.kind), self.max_retries)
