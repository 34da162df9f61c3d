"""A training run that asks for several processes, on Ray: a Ray Train `TorchTrainer`.

    train: {strategy: ddp, nproc: 4}        # in a run config of a suite run with --executor ray

Ray Train starts `nproc` workers (each with the run's per-process resources), sets up
torch.distributed among them (gloo on CPU, NCCL on GPUs) and runs `_train_loop` in each: the
harness trainer then sees an initialised process group and shards every global batch across the
ranks (harness.trainer.distributed). Rank 0 writes the run's Parquet rows and checkpoint into the
shared out directory; the driver gets rank 0's result. Anything else stays a plain Ray task.
"""

from __future__ import annotations

from types import SimpleNamespace


def wants_processes(task) -> int:
    """How many processes a task's run asks for (1: a plain task)."""
    run = task.args[0] if task.kind == "train" and task.args else None
    cfg = getattr(run, "config", None)
    train = getattr(cfg, "train", None)
    if train is None or getattr(train, "strategy", "single") == "single":
        return 1
    return max(1, getattr(train, "nproc", 1))


def distributed_submitter(task, resources: dict, max_retries: int):
    """A callable `(task, deps) -> ObjectRef` running the task as a TorchTrainer, or None."""
    n = wants_processes(task)
    if n <= 1:
        return None
    import ray

    @ray.remote(num_cpus=0)
    def fit(task, deps):
        from ray.train import RunConfig, ScalingConfig
        from ray.train.torch import TorchTrainer

        from harness.suite.executors import Outcome, where_am_i

        gpus = resources.get("num_gpus", 0)
        trainer = TorchTrainer(_train_loop, train_loop_config={"task": task, "deps": deps},
                               scaling_config=ScalingConfig(num_workers=n, use_gpu=gpus > 0,
                                                            resources_per_worker={"CPU": resources.get("num_cpus", 1),
                                                                                  **({"GPU": gpus} if gpus else {})}),
                               run_config=RunConfig(name=task.key.replace(":", "-"), storage_path=_storage(task)))
        try:
            result = trainer.fit()
        except Exception as e:  # Ray Train raises when a worker fails past its retries
            return Outcome(error=f"ray train: {type(e).__name__}: {str(e).strip().splitlines()[0]}", where=where_am_i())
        if getattr(result, "error", None):
            return Outcome(error=f"ray train: {type(result.error).__name__}: {result.error}", where=where_am_i())
        value = dict(result.metrics or {}).get("outcome")
        return Outcome(value=SimpleNamespace(**value) if value else None, where=f"{n} Ray Train workers")

    return lambda task, deps: fit.options(max_retries=max_retries).remote(task, deps)


def _storage(task) -> str:
    """Ray Train's own bookkeeping goes beside the run's checkpoints, not into ~/ray_results."""
    import os

    return os.path.abspath(os.path.join(task.args[1], "ray-train"))


def _train_loop(config: dict) -> None:
    """One Ray Train worker: the runner's train task body, under Ray's process group."""
    import ray.train

    task, deps = config["task"], config["deps"]
    value = task.fn(*task.args, deps=deps)
    # metrics travel as plain data: what the driver's progress lines and the SFT hand-off read
    keys = ("run_id", "status", "steps", "wall_s", "diverged_step", "error", "resumed_from")
    outcome = {k: getattr(value, k, None) for k in keys}
    outcome["checkpoint"] = str(value.checkpoint) if getattr(value, "checkpoint", None) else None
    ray.train.report({"outcome": outcome} if ray.train.get_context().get_world_rank() == 0 else {})
