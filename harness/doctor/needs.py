"""What a suite, a run config or an eval block needs from the machine, as a list of `Need`s.

    needs = suite_needs(suite, executor="ray", address=None)    # every run, stage and the eval block
    needs = run_needs(cfg)                                      # `harness train`
    needs = eval_needs(eval_cfg)                                # `harness eval`

A Need names the config key that asks (so an error can name it) and what it asks for. Reading a
config is all this does: nothing is imported, resolved or downloaded here; `harness.doctor.checks`
decides whether the machine has it.
"""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True)
class Need:
    kind: str  # a key of harness.doctor.checks.CHECKS: cuda | gpus | package | model | data | ray-gpus
    key: str  # the config key that asks for it, e.g. "train.device", "eval.generation.backend"
    value: Any  # what it asks for: "cuda:1", 2, "vllm", "smollm2-135m-instruct", "hh-rlhf"
    count: int = 1  # how many runs ask (merged by `merge`)
    device: str = "cuda"  # gpus: the device setting that makes them GPUs ("auto" on a CPU machine: none needed)


def merge(needs: list[Need]) -> list[Need]:
    """One Need per (kind, key, value), in first-seen order, counting the askers."""
    seen: dict[tuple, Need] = {}
    for n in needs:
        k = (n.kind, n.key, str(n.value))
        seen[k] = dataclasses.replace(seen[k], count=seen[k].count + n.count) if k in seen else n
    return list(seen.values())


def run_needs(cfg, prefix: str = "") -> list[Need]:
    """A RunConfig's: its device (and a GPU per rank), its model, its data, its trackers."""
    out = [Need("cuda", f"{prefix}train.device", cfg.train.device)]
    if cfg.train.nproc > 1 and cfg.train.device != "cpu":  # one GPU per rank, when the ranks are on CUDA
        out.append(Need("gpus", f"{prefix}train.nproc", cfg.train.nproc, device=cfg.train.device))
    if not cfg.model.init_from and not str(cfg.model.name).startswith("@"):
        out.append(Need("model", f"{prefix}model.name", cfg.model.name))
    out.append(Need("data", f"{prefix}data.train", cfg.data.train))
    if cfg.data.eval:
        out.append(Need("data", f"{prefix}data.eval", cfg.data.eval))
    out += logger_needs(cfg.loggers, f"{prefix}loggers")
    return out


def logger_needs(loggers, key: str = "loggers") -> list[Need]:
    from harness.tracking import specs

    try:
        named = [s.name for s in specs(loggers)]
    except Exception:  # an unknown name is the config's own error, raised where it loads
        named = []
    return [Need("package", key, name) for name in named]


def eval_needs(ev, prefix: str = "eval.") -> list[Need]:
    """An EvalConfig's: the generation backend, lm-eval, the reward model and its backbone, devices."""
    out = [Need("cuda", f"{prefix}device", ev.device)]
    if ev.generation.backend == "vllm":
        out.append(Need("package", f"{prefix}generation.backend", "vllm"))
    if ev.lmeval.tasks:
        out.append(Need("package", f"{prefix}lmeval.tasks", "lm_eval"))
        if ev.lmeval.backend == "vllm":
            out.append(Need("package", f"{prefix}lmeval.backend", "vllm"))
    if ev.prompts is not None:
        out.append(Need("data", f"{prefix}prompts.data", ev.prompts.data))
    rm = ev.reward_model
    if rm is not None and rm.train is not None:
        t = rm.train
        out += [Need("cuda", f"{prefix}reward_model.train.device", t.device),
                Need("data", f"{prefix}reward_model.train.data", t.data)]
        if not t.backbone.startswith("@"):
            out.append(Need("model", f"{prefix}reward_model.train.backbone", t.backbone))
    elif rm is not None and getattr(rm, "path", None):
        out.append(Need("model", f"{prefix}reward_model.path", rm.path))
    return out


def suite_needs(suite, *, executor: str | None = None, address: str | None = None) -> list[Need]:
    """Every run and stage of a suite, its eval block, and its executor."""
    from harness.suite.grid import expand

    spec = suite.spec
    name = executor or ("ray" if address else spec.executor.name)
    needs: list[Need] = []
    for run in expand(suite).all:
        needs += run_needs(run.config)
    if spec.eval is not None:
        needs += eval_needs(spec.eval)
    needs += logger_needs(spec.loggers)
    if name == "ray":
        needs.append(Need("package", "executor.name", "ray"))
        cuda = [n for n in needs if n.kind == "cuda" and n.value != "cpu"]
        if address or spec.executor.address:
            # the runs execute on the cluster's machines, not here: CUDA on this driver says
            # nothing; what can be checked now is that a CUDA run asks Ray for a GPU at all
            needs = [n for n in needs if n.kind not in ("cuda", "gpus")]
            needs += [Need("ray-gpus", f"executor.{kind}.num_gpus", getattr(spec.executor, kind).num_gpus)
                      for kind in ("train", "eval") if any(n.value.startswith("cuda") for n in cuda)]
        else:  # a local Ray instance offers this machine's GPUs
            needs += [Need("gpus", f"executor.{kind}.num_gpus", getattr(spec.executor, kind).num_gpus)
                      for kind in ("train", "eval", "reward") if getattr(spec.executor, kind).num_gpus > 0]
    return merge(needs)
