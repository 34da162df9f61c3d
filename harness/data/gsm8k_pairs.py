"""Math preference pairs from GSM8K (``question``, ``answer`` ending in ``#### N``).

    load_pairs("gsm8k-pairs")                            # shipped test split (1,319 rows)
    load_pairs("gsm8k-pairs:gsm8k@train", options={"revision": "<sha>", "seed": 1})

chosen = the reference solution; rejected = the same solution with one arithmetic step slipped
and the error carried through to a wrong ``#### N`` (see `harness.data.gsm8k_corrupt`), so the two
share most tokens and differ exactly where the reasoning goes wrong. ``gold`` = the reference final
answer with thousands commas removed, for verifiers (`final_answer` extracts a response's).

Options:
- ``seed`` (default 0): which step slips and by how much; each row draws from its own stream
  (seed, row index), so a row's pair does not depend on ``limit`` or on other rows.
- ``min_shared`` (default 0.8): minimum fraction of whitespace tokens the two solutions share.
- ``form``: ``standard`` (default: the question string) or ``conversational``.

Rows where no step can be slipped under these rules (e.g. a three-token solution, an answer in
cents computed in dollars) are dropped as ``no_corruptible_step``.
"""

from __future__ import annotations

import random

from harness.data import messages as msg
from harness.data.gsm8k_corrupt import corrupt, parse_number
from harness.data.io import Record
from harness.data.schema import PreferencePair
from harness.data.validate import BadRow, Drop, require_str
from harness.errors import ConfigError
from harness.hashing import content_hash


def final_answer(text: str) -> str | None:
    """The ``#### N`` answer of a solution, normalised like `gold` (commas removed); None if absent."""
    head, sep, tail = text.rpartition("####")
    answer = tail.strip().replace(",", "")
    return answer if sep and answer else None


def load(req):
    seed = req.option("seed", 0, int)
    min_shared = req.option("min_shared", 0.8, float)
    if not 0 <= min_shared <= 1:
        raise ConfigError(f"dataset {req.spec.text!r}: option 'min_shared' must be in [0, 1], got {min_shared}")
    form = req.option("form", "standard", str, msg.FORMS)
    return req.map_rows(lambda rec: convert(rec, seed, min_shared, form))


def convert(rec: Record, seed: int, min_shared: float, form: str) -> PreferencePair | Drop:
    question = require_str(rec.data, "question")
    answer = require_str(rec.data, "answer")
    gold = final_answer(answer)
    if gold is None:
        raise BadRow("no_final_answer", "field 'answer' does not end with a '#### N' final answer")
    if parse_number(gold) is None:
        raise BadRow("bad_final_answer", f"final answer {gold!r} is not a number")
    slipped = corrupt(answer, random.Random(f"gsm8k-pairs:{seed}:{rec.index}"), min_shared=min_shared)
    if slipped is None:
        return Drop("no_corruptible_step", rec.index)
    rejected, step = slipped
    return PreferencePair(msg.as_prompt(question, form), answer, rejected, rec.index, content_hash(question),
                          gold=gold, meta={"corrupted_step": step})
