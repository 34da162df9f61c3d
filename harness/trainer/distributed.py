"""One run over several processes: torch.distributed data parallelism (DDP, or FSDP2 sharding).

    train: {strategy: ddp, nproc: 2}       # harness train CONFIG --nproc 2 starts torchrun with it
    d = setup(cfg.train, device)            # Dist(rank, world, strategy); the process group comes from
                                            # torchrun's environment or is already there (Ray Train)
    fwd = wrap(LogpsModule(model), d, device)    # DDP / fully_shard around the log-prob forward

The global batch stays `train.batch_size`: every rank builds the same global micro-batch (a pure
function of seed and step, as in one process) and takes its shard, `idx[rank::world]`. Its loss is
scaled by world / global size, so that DDP's mean over ranks is exactly the one-process mean
over the global batch, and the update is the same. Step metrics are sums reduced across ranks
(`all_reduce`) before the means are taken, so what rank 0 writes is the global batch's. Rank 0
alone writes Parquet rows and checkpoints. The reference log-probs are computed once: each rank
its shard of the pairs, summed into every rank's copy, cached by rank 0 (harness.logprobs.refcache).

Why a wrapper module: the trainer computes log-probs through the decoder and only the scored
positions of the LM head (harness.logprobs.logps), not through `model.forward`; DDP synchronises gradients
of what runs inside *its* forward, so that whole computation is one module's forward.
Collectives time out (`TIMEOUT_S`): a crashed rank makes the others fail, never hang.
"""

from __future__ import annotations

import dataclasses
import datetime
import os

import torch

TIMEOUT_S = 600  # a collective that waits longer means a rank died


@dataclasses.dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    strategy: str = "single"

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def shard(self, idx: list[int]) -> list[int]:
        return idx[self.rank::self.world] if self.active else idx

    def all_reduce(self, t: torch.Tensor) -> torch.Tensor:
        if self.active:
            torch.distributed.all_reduce(t)
        return t

    def barrier(self) -> None:
        if self.active:
            torch.distributed.barrier()


def launched_world() -> int:
    """Processes torchrun (or Ray Train) started for this run: WORLD_SIZE, or the live group's size."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_world_size()
    return int(os.environ.get("WORLD_SIZE", "1"))


def setup(train, device: str) -> Dist:
    """The run's process group: joined (torchrun's env) or found (Ray Train); single otherwise."""
    if train.strategy == "single" or launched_world() <= 1:
        return Dist(strategy=train.strategy)
    dist = torch.distributed
    if not dist.is_initialized():
        from harness.accel import dist_backend

        dist.init_process_group(backend=dist_backend(device), timeout=datetime.timedelta(seconds=TIMEOUT_S))
    _stop_on_sigterm()
    return Dist(dist.get_rank(), dist.get_world_size(), train.strategy)


class RankStopped(RuntimeError):
    """The launcher stopped this rank (SIGTERM): another rank failed."""


def _stop_on_sigterm() -> None:
    """When one rank dies, torchrun SIGTERMs the others (and SIGKILLs them 30 s later). Turning
    that signal into an exception lets rank 0 record the run as failed, with the reason, instead
    of vanishing with no row. Only under torchrun, and only in the main thread (signal's rule)."""
    import signal

    if not _torchrun_main_thread():
        return

    def stop(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: the rows must not be cut short in turn
        raise RankStopped("stopped by torchrun (SIGTERM): another rank of this run failed")

    signal.signal(signal.SIGTERM, stop)


def hold_stop_signal() -> None:
    """From here on this rank only writes its rows: a SIGTERM (another rank died) must not cut
    that short (torchrun's SIGKILL follows 30 s later)."""
    import signal

    if _torchrun_main_thread():
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _torchrun_main_thread() -> bool:
    """Started by torchrun, and in the main thread (the only one that may set signal handlers)."""
    import threading

    return "TORCHELASTIC_RUN_ID" in os.environ and threading.current_thread() is threading.main_thread()


class LogpsModule(torch.nn.Module):
    """The trainer's log-prob computation as one module forward (what DDP/FSDP wrap)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, batch: dict):
        from harness.logprobs.logps import sequence_logps

        out = sequence_logps(self.model, batch)
        return out.logps, out.tokens


def wrap(module: LogpsModule, d: Dist, device: str, dtype=None):
    """DDP or FSDP2 (`fully_shard`) around the log-prob module; the module itself with one process.
    `dtype`: the autocast dtype; FSDP then gathers parameters in it and reduces gradients in
    float32 (harness.accel.fsdp_mp_policy)."""
    if not d.active:
        return module
    if d.strategy == "fsdp":
        from torch.distributed.fsdp import fully_shard

        from harness.accel import fsdp_mp_policy

        policy = fsdp_mp_policy(dtype)
        fully_shard(module, **({"mp_policy": policy} if policy is not None else {}))
        return module
    ids = [torch.device(device).index or 0] if device.startswith("cuda") else None
    return torch.nn.parallel.DistributedDataParallel(module, device_ids=ids)


def full_state_dict(model, d: Dist) -> dict | None:
    """Every parameter gathered in full (FSDP shards them): what rank 0 saves; None elsewhere."""
    if d.strategy != "fsdp" or not d.active:
        return None
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def gather_train_state(module, optimizer, d: Dist) -> tuple[dict, dict] | None:
    """FSDP: the resumable state (full weights, and optimizer state keyed by parameter name),
    gathered to rank 0 on CPU; a collective, so every rank calls it. None without FSDP (the
    model's own tensors are whole) and on ranks other than 0."""
    if d.strategy != "fsdp" or not d.active:
        return None
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict

    weights, optim = get_state_dict(module, optimizer,
                                    options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    return ({k.removeprefix("model."): v for k, v in weights.items()}, optim) if d.main else None


def restore_train_state(module, optimizer, weights: dict, optim: dict) -> None:
    """FSDP: load a full resumable state (what gather_train_state saved) into the shards."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_state_dict

    set_state_dict(module, optimizer, model_state_dict={f"model.{k}": v for k, v in weights.items()},
                   optim_state_dict=optim, options=StateDictOptions(full_state_dict=True, strict=False))
