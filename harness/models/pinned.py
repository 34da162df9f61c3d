"""Pinned checkpoints: project-built models shipped inside the package, the same bytes everywhere.

    model: {name: tiny-arith-sft}                  # in a suite: every run starts from it, and it is the reference
    path = pinned_dir("tiny-arith-sft")            # harness/assets/models/tiny-arith-sft/, verified
    harness reference build tiny-arith-sft --out results/ref --seed 1     # rebuild it from its recipe
    harness reference check tiny-arith-sft                               # re-measure the shipped one

Why pin: a reference trained inside every suite run is a long, chaotic optimisation, and CPUs
round floats differently (AVX-512 vs AVX2 kernels), so the same recipe landed anywhere from 6% to
86% greedy accuracy from machine to machine and seed to seed, and every cell downstream moved
with it. Published DPO studies start from one fixed SFT checkpoint for the same reason. A pinned
file removes that amplifier: what is left between machines is the seed-level noise of the
preference runs themselves, which the suite's seeds measure.

A pinned directory is a plain Hugging Face model directory (transformers, vLLM and lm-eval load
it as is) plus:
- `recipe.yaml`: the `harness train` config that built it (`harness reference build` reruns it);
- `pinned.json`: the weights' sha256, the recipe's seed, the accuracy measured when it was
  built (with its interval and prompt set), and the machine and library versions.
The weights are checked against `pinned.json` once per process, so an edited or truncated file
is an error naming the file, never a silently different reference.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from harness.errors import ConfigError, HarnessError
from harness.hashing import file_hash

PINNED = ("tiny-arith-sft",)  # registered in harness.models.MODELS
INFO, RECIPE, WEIGHTS = "pinned.json", "recipe.yaml", "model.safetensors"


def asset_root() -> Path:
    return Path(__file__).resolve().parent.parent / "assets" / "models"


def info(name: str, root: Path | None = None) -> dict:
    path = (root or asset_root()) / name / INFO
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise HarnessError(f"{path}: unreadable pinned-model record ({type(e).__name__}: {e})") from None


@functools.cache
def pinned_dir(name: str) -> Path:
    """The verified directory of a shipped pinned model."""
    if name not in PINNED:
        raise HarnessError(f"unknown pinned model {name!r} (known: {', '.join(PINNED)})")
    folder = asset_root() / name
    want = info(name).get("sha256")
    weights = folder / WEIGHTS
    if not weights.is_file():
        raise HarnessError(f"{weights}: missing (the package was installed without its assets?)")
    got = file_hash(weights, n=64)
    if got != want:
        raise HarnessError(f"{weights}: sha256 {got[:16]}... does not match {INFO} ({str(want)[:16]}...); "
                           f"rebuild it with `harness reference build {name}` or restore the file")
    return folder


def builder(name: str):
    """A MODELS builder for pinned model `name`: it builds nothing and takes no options."""
    def build(*, texts=(), seed: int = 0, options: dict | None = None, cache_dir=None) -> Path:
        del texts, seed, cache_dir  # a pinned model is the same file whatever the run
        if options:
            raise ConfigError(f"model.tiny: options apply to the 'tiny' builder, not to pinned model {name!r}")
        return pinned_dir(name)

    build.__doc__ = f"The pinned model {name!r} (harness/assets/models/{name}/)."
    return build


tiny_arith_sft = builder("tiny-arith-sft")
