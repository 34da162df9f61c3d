"""gsm8k-pairs over the full shipped GSM8K test split: chosen is the reference (final answer = gold),
rejected reaches a different final answer through one slipped step whose error is carried through
consistently, the pair shares most tokens, and everything is deterministic given the seed."""

from __future__ import annotations

import json
import re

import pytest

from harness.data import load_pairs
from harness.data.gsm8k_corrupt import safe_eval
from harness.data.gsm8k_pairs import final_answer
from harness.data.spec import ASSETS, SHIPPED
from harness.errors import DataError

FILE = ASSETS / SHIPPED["gsm8k-pairs"]
ANNOTATION = re.compile(r"<<([^<>=]*)=([^<>=]*)>>")


@pytest.fixture(scope="module")
def raw() -> list[dict]:
    return [json.loads(line) for line in FILE.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def loaded():
    return load_pairs("gsm8k-pairs")


def test_every_row_is_read_and_few_are_dropped(raw, loaded):
    assert loaded.n_rows == len(raw) == 1319
    assert len(loaded.pairs) + sum(loaded.dropped.values()) == len(raw)
    assert set(loaded.dropped) <= {"no_corruptible_step"}
    assert sum(loaded.dropped.values()) <= 0.02 * len(raw), loaded.dropped


def test_chosen_is_the_reference_and_gold_its_normalised_answer(raw, loaded):
    for pair in loaded.pairs:
        row = raw[pair.index]
        assert pair.prompt == row["question"] and pair.chosen == row["answer"]
        assert pair.gold == row["answer"].split("####")[-1].strip().replace(",", "")
        assert final_answer(pair.chosen) == pair.gold


def test_rejected_answer_is_wrong_and_shares_most_tokens(loaded):
    for pair in loaded.pairs:
        assert final_answer(pair.rejected) is not None and final_answer(pair.rejected) != pair.gold
        a, b = pair.chosen.split(), pair.rejected.split()
        assert len(a) == len(b), "numbers are replaced in place: whitespace tokens line up"
        assert sum(x == y for x, y in zip(a, b, strict=True)) / len(a) >= 0.8, pair.index
        body_a, body_b = pair.chosen.rpartition("####")[0], pair.rejected.rpartition("####")[0]
        assert body_a != body_b, "a step of the solution itself is wrong, not only the final line"


def test_one_step_slips_and_every_other_changed_step_is_recomputed(loaded):
    """Annotations that differ from the reference: at most one keeps its expression with another
    result (the slip); every other changed one is arithmetically consistent (the carried error)."""
    for pair in loaded.pairs:
        ref, bad = ANNOTATION.findall(pair.chosen), ANNOTATION.findall(pair.rejected)
        assert len(ref) == len(bad)
        slips = 0
        for (e1, r1), (e2, r2) in zip(ref, bad, strict=True):
            if (e1, r1) == (e2, r2):
                continue
            if e1 == e2:
                slips += 1
            else:
                assert abs(safe_eval(e2) - safe_eval(r2)) < 0.01, (pair.index, e2, r2)
        assert slips <= 1, pair.index


def test_seeded_and_independent_of_limit(loaded):
    again = load_pairs("gsm8k-pairs", limit=50)
    assert [p.rejected for p in again.pairs] == [p.rejected for p in loaded.pairs[:50]]
    other = load_pairs("gsm8k-pairs", options={"seed": 1}, limit=50)
    assert sum(a.rejected != b.rejected for a, b in zip(other.pairs, again.pairs, strict=True)) > 25


def test_hub_alias_for_the_test_split_is_the_shipped_copy(loaded):
    alias = load_pairs("gsm8k-pairs:gsm8k@test", limit=5)
    assert alias.source == loaded.source
    assert [p.to_json() for p in alias.pairs] == [p.to_json() for p in loaded.pairs[:5]]


def test_conversational_form_and_bad_rows(tmp_path, raw):
    chat = load_pairs("gsm8k-pairs", options={"form": "conversational"}, limit=2)
    assert chat.pairs[0].prompt == [{"role": "user", "content": raw[0]["question"]}]
    path = tmp_path / "g.jsonl"
    path.write_text(json.dumps(raw[0]) + "\n" + json.dumps({"question": "q", "answer": "no final line"}) + "\n")
    with pytest.raises(DataError, match=rf"{re.escape(str(path))}: line 2: .*\(no_final_answer\)"):
        load_pairs(f"gsm8k-pairs:{path}")
    skipped = load_pairs(f"gsm8k-pairs:{path}", on_bad_row="skip")
    assert skipped.dropped == {"no_final_answer": 1} and len(skipped.pairs) == 1
