"""`harness train CONFIG.yaml [key=value ...] --out DIR`: one training run.

    harness train suites/examples/train-tiny.yaml --out results/tiny
    harness train suites/examples/train-tiny.yaml loss.name=minor_dpo train.steps=50 --out results/tiny

Dotted overrides are type-checked like the file. Rows land in DIR/runs and DIR/steps, the
model in DIR/checkpoints/<run_id>/final. Running the same command again after an interruption
resumes from the last checkpoint (set train.checkpoint_every). Under torchrun or `accelerate
launch` (WORLD_SIZE set) it is one rank of a ddp/fsdp run, and train.nproc is the launched world.
Exit status: 0 completed, 1 diverged or failed (the run is recorded either way), 2 bad input.
"""

from __future__ import annotations

from harness.commands import split_overrides, with_overrides


def _options(p):
    p.add_argument("--out", help="results directory (required)")
    p.add_argument("--nproc", type=int, default=None,
                   help="start this many processes with torchrun (train.strategy ddp or fsdp; sets train.nproc)")
    p.add_argument("--run-id", default=None, help="override the run id (default: hash of the resolved config)")
    p.add_argument("--suite", default="", help="suite name recorded in the runs table")


def add_arguments(p):
    p.add_argument("config", help="run config YAML (see harness/trainer/config.py)")
    with_overrides(p, _options, "dotted overrides, e.g. train.steps=10 (before or after the options)")


def run(args) -> int:
    import os
    import sys
    from contextlib import nullcontext
    from pathlib import Path

    from harness.config import load_config
    from harness.errors import HarnessError
    from harness.results.lock import check_out, out_lock
    from harness.trainer import train_run
    from harness.trainer.config import RunConfig
    from harness.trainer.setup import check_loss

    split_overrides(args, _options, "harness train")
    if not args.out:
        raise HarnessError("harness train: --out is required")
    from harness.names import check_name

    for flag, value in (("--run-id", args.run_id), ("--suite", args.suite)):
        if value:  # each becomes a folder name under --out (checkpoints/<id>, tensorboard/<suite>)
            check_name(value, f"harness train: {flag}")
    if args.nproc is not None and args.nproc < 1:
        raise HarnessError(f"harness train: --nproc {args.nproc}: must be at least 1 (1: this process alone)")
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:  # this process is one of `world` that torchrun or `accelerate launch` started
        if args.nproc not in (None, world):
            raise HarnessError(f"harness train: --nproc {args.nproc}, but this process is one of WORLD_SIZE={world}")
        args.nproc = world  # the resolved config (and so the run id) says what ran, as with --nproc
    if args.nproc:
        args.overrides = [*args.overrides, f"train.nproc={args.nproc}"]
    cfg = load_config(RunConfig, args.config, args.overrides)
    from harness.doctor.checks import preflight
    from harness.doctor.needs import run_needs

    preflight(run_needs(cfg), source=args.config)  # CUDA, packages, model, data: before torchrun or any work
    if args.nproc and args.nproc > 1 and "WORLD_SIZE" not in os.environ:
        return _torchrun(args, cfg)
    if world > 1 and cfg.train.strategy == "single":  # each rank would train and write its own copy
        raise HarnessError(f"{args.config}: {world} processes were launched (WORLD_SIZE) but train.strategy is "
                           "single: set train.strategy=ddp or fsdp")
    rank = int(os.environ.get("RANK", "0"))
    try:
        check_loss(cfg.loss)  # before any work, naming the file: `CONFIG: loss.name: unknown loss 'dpoo'`
    except HarnessError as e:
        raise HarnessError(f"{args.config}: {e}") from None
    check_out(Path(args.out))
    lock = out_lock(args.out, f"harness train {args.config}") if rank == 0 else nullcontext()  # rank 0 writes
    with lock:  # one writer per results folder
        result = train_run(cfg, args.out, run_id=args.run_id, suite=args.suite)
    if rank:
        return 0 if result.status == "completed" else 1
    where = f" -> {result.checkpoint}" if result.checkpoint else ""
    detail = f" at step {result.diverged_step}" if result.status == "diverged" else ""
    print(f"run {result.run_id}: {result.status}{detail}, {result.steps} steps in {result.wall_s:.1f}s, "
          f"reference cache {'hit' if result.ref_cache_hit else 'miss' if result.ref_cache_hit is False else 'unused'}"
          f"{where}")
    if result.error:
        print(result.error, file=sys.stderr)
    return 0 if result.status == "completed" else 1


def _torchrun(args, cfg) -> int:
    """`--nproc N`: this same command under torchrun, N processes on this machine (one per GPU on
    CUDA); torchrun ends every rank when one fails, and the collectives time out. Its per-run log
    folder (torchelastic_*, empty unless output is redirected) would otherwise be left in /tmp at
    every run: it goes to a temporary folder removed when torchrun ends."""
    import subprocess
    import sys
    import tempfile

    from harness.errors import HarnessError

    if cfg.train.strategy == "single":
        raise HarnessError(f"{args.config}: --nproc {args.nproc} needs train.strategy: ddp or fsdp (got single)")
    with tempfile.TemporaryDirectory(prefix="harness-torchrun-") as logs:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={args.nproc}",
               f"--log-dir={logs}", "-m", "harness.cli", "train", args.config, *args.overrides, "--out", args.out]
        if args.run_id:
            cmd += ["--run-id", args.run_id]
        if args.suite:
            cmd += ["--suite", args.suite]
        return subprocess.call(cmd)
