"""Verifiable rewards for math: extract the final answer, compare it with the gold one.

    extract_answer("... so 9 * 2 = 18.\\n#### 18")   # '18'
    extract_answer("61-48=13.13+71=84.#84")            # '84'  (the last number)
    is_correct("#### 1,000.0", "1000")                 # True
    MathVerifier().score(samples)                      # {"correct": [1.0, 0.0, nan, ...]}

Extraction: the number after the last ``####`` (GSM8K's answer marker) when there is one, else
the last number in the text. Numbers keep a sign only when the minus is not a subtraction
(``61-48`` is 61 and 48, ``= -3`` is -3). Comparison is exact rational arithmetic after
normalising: thousands commas, a ``$``, a leading ``+``, trailing zeros (``18.0 == 18``) and a
trailing full stop do not matter; ``1/2 == 0.5``. A missing answer is wrong, never an error.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

# Digits with optional thousands commas, decimals, or a simple fraction: "1,000", "2.50", "3/4".
_DIGITS = re.compile(r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:/\d+)?")
_MARKER = "####"


def parse_number(text: str) -> Fraction | None:
    """`'-1,234.50'` -> Fraction(-2469, 2); None if `text` is not one number."""
    s = text.strip().rstrip(".").replace(",", "").replace("$", "").replace("−", "-")
    s = s[1:] if s.startswith("+") else s
    try:
        if "/" in s:
            num, den = s.split("/")
            return Fraction(int(num), int(den)) if int(den) else None
        return Fraction(s)
    except (ValueError, ZeroDivisionError):
        return None


def _numbers(text: str) -> list[str]:
    """Every number in `text`, with a minus sign only where it is not a subtraction."""
    out = []
    for m in _DIGITS.finditer(text):
        j = m.start() - (1 if text[max(0, m.start() - 1):m.start()] == "$" else 0)
        minus = j > 0 and text[j - 1] in "-−"
        binary = minus and j > 1 and (text[j - 2].isalnum() or text[j - 2] in ").]")
        out.append(("-" if minus and not binary else "") + m.group(0))
    return out


def extract_answer(text: str) -> str | None:
    """The final answer of a completion as a normalised string, or None when there is none."""
    if not text:
        return None
    head, sep, tail = text.rpartition(_MARKER)
    if sep:
        found = _numbers(tail)
        if found:
            value = parse_number(found[0])
            return None if value is None else _fmt(value)
    found = _numbers(text)
    value = parse_number(found[-1]) if found else None
    return None if value is None else _fmt(value)


def _fmt(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else str(value)


def is_correct(completion: str, gold: str) -> bool:
    """Does the completion's final answer equal `gold` (itself a number or a full solution)?"""
    want = extract_answer(gold)
    got = extract_answer(completion)
    return want is not None and got is not None and parse_number(got) == parse_number(want)


class MathVerifier:
    """Scorer: ``correct`` is 1.0 / 0.0 per sample, NaN where the prompt has no gold answer."""

    columns = ("correct",)

    def __init__(self, **_):
        pass

    options = ()

    @classmethod
    def for_eval(cls, cfg, ctx) -> "MathVerifier | None":
        """On with `verifier: true` (or `scorers: {verifier: {}}`) and a prompt with a gold answer."""
        on = cfg.scorer_options("verifier", cfg.verifier) is not None
        return cls() if on and any(p.gold is not None for p in ctx.pairs) else None

    def score(self, samples) -> dict[str, list[float]]:
        return {"correct": [math.nan if gold is None else float(is_correct(text, gold))
                            for text, gold in zip(samples.completions, samples.golds)]}

    def close(self) -> None:
        pass
