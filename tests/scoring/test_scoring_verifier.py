"""The math verifier: final-answer extraction and robust comparison, on the real GSM8K test split."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from harness.scoring.verifier import MathVerifier, extract_answer, is_correct

GSM8K = Path(__file__).resolve().parents[2] / "harness" / "assets" / "data" / "gsm8k" / "test.jsonl"


@pytest.fixture(scope="module")
def gsm8k():
    rows = [json.loads(line) for line in GSM8K.read_text().splitlines() if line.strip()]
    assert len(rows) == 1319
    return rows


def _gold(answer: str) -> str:
    return answer.split("####")[-1].strip()


def test_accepts_every_gold_solution(gsm8k):
    wrong = [i for i, r in enumerate(gsm8k) if not is_correct(r["answer"], _gold(r["answer"]))]
    assert wrong == []


def test_rejects_every_corrupted_answer(gsm8k):
    accepted = []
    for i, r in enumerate(gsm8k):
        body, _, gold = r["answer"].rpartition("####")
        value = int(gold.strip().replace(",", ""))
        for bad in (value + 1, value - 1, -value if value else 7, value * 10):
            if is_correct(f"{body}#### {bad}", gold):
                accepted.append((i, bad))
    assert accepted == []


def test_comparison_ignores_formatting():
    assert is_correct("#### 1,000", "1000")
    assert is_correct("The answer is $1,000.00.", "1000")
    assert is_correct("#### 18.0", "18")
    assert is_correct("so we get -3", "-3")
    assert is_correct("#### +5", "5")
    assert is_correct("half: 1/2", "0.5")
    assert not is_correct("#### 3", "-3")
    assert not is_correct("no number here", "3")
    assert not is_correct("", "3")


def test_extraction_rules():
    assert extract_answer("61-48=13.13+71=84.#84") == "84"  # arith format: the last number
    assert extract_answer("x = 5-3 = 2") == "2"  # a binary minus is not a sign
    assert extract_answer("#### 7 apples, not 9") == "7"  # the marker wins over the last number
    assert extract_answer("It costs -$4.") == "-4"
    assert extract_answer("nothing") is None


def test_scorer_columns_and_missing_gold():
    class S:
        completions = ["#### 4", "#### 5", "#### 4"]
        golds = ["4", "4", None]

    out = MathVerifier().score(S())["correct"]
    assert out[:2] == [1.0, 0.0] and math.isnan(out[2])
