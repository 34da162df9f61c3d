"""Synthetic two-step arithmetic preference pairs: the CPU workhorse task.

    prompt    61-48+71=?
    chosen    61-48=13.13+71=84.#84
    rejected  61-48=15.15+71=86.#86      one step off by 1-3, the error carried through

A tiny character-level model learns the chosen format from scratch in minutes (SFT), and the
pairs differ in only a few tokens, which is exactly the regime where DPO drags the chosen answer
down with the rejected one. The final answer follows '#'; `gold` holds it for verifiers.

    load_pairs("arith", options={"n_pairs": 2000, "seed": 0, "split": "train"})   # via harness.data
    pairs = list(generate("train", n_pairs=2000, seed=0))                         # directly

Held-out handling: every question is assigned to one split by a hash of its text (80% train,
10% eval, 10% test), so train, eval and test never share a question, whatever `n_pairs` or
`seed` each side uses. Within a split the questions of one call are distinct.

Options: split ('train' | 'eval' | 'test'), n_pairs (default 1000), seed (0), min_operand (10),
max_operand (99).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator

from harness.data.schema import PreferencePair
from harness.errors import DataError

SPLITS = {"train": range(0, 8), "eval": range(8, 9), "test": range(9, 10)}  # hash bucket (mod 10) -> split
ALIASES = {"validation": "eval", "dev": "eval"}
OPTIONS = {"n_pairs": 1000, "seed": 0, "min_operand": 10, "max_operand": 99}
OPS = {"+": lambda x, y: x + y, "-": lambda x, y: x - y}


def split_of(question: str) -> str:
    """The split a question belongs to; a pure function of its text."""
    bucket = int.from_bytes(hashlib.sha256(question.encode()).digest()[:4], "big") % 10
    return next(name for name, buckets in SPLITS.items() if bucket in buckets)


def solve(question: str) -> tuple[int, int]:
    """`'61-48+71'` -> (intermediate, final) = (13, 84)."""
    a, op1, b, op2, c = _parse(question)
    mid = OPS[op1](a, b)
    return mid, OPS[op2](mid, c)


def chain(question: str, mid: int, final: int) -> str:
    """The response text: `61-48=13.13+71=84.#84` (with whatever mid/final it is given)."""
    a, op1, b, op2, c = _parse(question)
    return f"{a}{op1}{b}={mid}.{mid}{op2}{c}={final}.#{final}"


def load(req) -> Iterator[PreferencePair]:
    """Adapter entry point (`harness.data` protocol): `load_pairs("arith", options={...})`."""
    if req.spec.location:
        raise DataError(f"arith: takes no path, got {req.spec.location!r}; choose the split with options.split")
    split = req.option("split", req.spec.split or "train", str, (*SPLITS, *ALIASES))
    opts = {name: req.option(name, default, int) for name, default in OPTIONS.items()}
    return generate(split, **opts)


def generate(split: str = "train", **options) -> Iterator[PreferencePair]:
    """Yield `n_pairs` distinct arithmetic pairs of `split` ('train' | 'eval' | 'test')."""
    split = ALIASES.get(split, split)
    if split not in SPLITS:
        raise DataError(f"arith: unknown split {split!r} (known: {', '.join(SPLITS)})")
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise DataError(f"arith: unknown option(s) {unknown} (known: {', '.join(OPTIONS)})")
    opts = {**OPTIONS, **options}
    for name, value in opts.items():
        if isinstance(value, bool) or not isinstance(value, int):
            raise DataError(f"arith: option {name} must be an integer, got {value!r}")
    n, lo, hi = opts["n_pairs"], opts["min_operand"], opts["max_operand"]
    if n < 1 or not 0 <= lo <= hi:
        raise DataError(f"arith: need n_pairs >= 1 and 0 <= min_operand <= max_operand, got {opts}")
    return _pairs(split, n, lo, hi, opts["seed"])


def _pairs(split: str, n: int, lo: int, hi: int, seed: int) -> Iterator[PreferencePair]:
    rng = random.Random(f"arith:{seed}:{split}")  # str seeds are stable across processes
    seen: set[str] = set()
    attempts = 0
    while len(seen) < n:
        attempts += 1
        if attempts > 50 * n + 10_000:
            raise DataError(f"arith: could not draw {n} distinct {split} questions with operands {lo}..{hi}")
        question = _draw(rng, lo, hi)
        if question is None or question in seen or split_of(question) != split:
            continue
        rejected = _corrupt(rng, question)
        if rejected is None:
            continue
        seen.add(question)
        mid, final = solve(question)
        yield PreferencePair(prompt=f"{question}=?", chosen=chain(question, mid, final), rejected=rejected,
                             index=len(seen) - 1, prompt_id=f"arith:{question}", gold=str(final),
                             meta={"split": split})


def _draw(rng: random.Random, lo: int, hi: int) -> str | None:
    a, b, c = (rng.randint(lo, hi) for _ in range(3))
    op1, op2 = rng.choice("+-"), rng.choice("+-")
    question = f"{a}{op1}{b}{op2}{c}"
    mid, final = solve(question)
    return question if mid >= 0 and final >= 0 else None  # keep every number non-negative


def _corrupt(rng: random.Random, question: str) -> str | None:
    """A wrong chain: step 1 or step 2 off by 1-3; a wrong intermediate is carried through."""
    a, op1, b, op2, c = _parse(question)
    mid, final = solve(question)
    delta = rng.choice((-3, -2, -1, 1, 2, 3))
    if rng.random() < 0.5:
        bad_mid = mid + delta
        bad_final = OPS[op2](bad_mid, c)
        bad = (bad_mid, bad_final)
    else:
        bad = (mid, final + delta)
    return chain(question, *bad) if min(bad) >= 0 else None


def _parse(question: str) -> tuple[int, str, int, str, int]:
    # '61-48+71' -> (61, '-', 48, '+', 71); operands are non-negative integers.
    ops = [i for i, ch in enumerate(question) if ch in OPS and i > 0]
    if len(ops) != 2:
        raise ValueError(f"not a two-step question: {question!r}")
    i, j = ops
    return int(question[:i]), question[i], int(question[i + 1:j]), question[j], int(question[j + 1:])
