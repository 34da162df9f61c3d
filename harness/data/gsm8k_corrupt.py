"""Corrupt one arithmetic step of a GSM8K solution and carry the error through to ``#### N``.

    corrupt(answer, random.Random(0), min_shared=0.8) -> (wrong_answer, step) | None

GSM8K solutions annotate each calculation as ``a * b = <<a*b=c>>c``. One annotated step gets a
plausible slip (its result ``c`` is off by 1, 2, 3, 5 or 10); later annotations whose expression
uses the old value are re-evaluated with the new one (exactly, with fractions), together with the
visible numbers around them, and the final answer follows when it was one of the changed values.
The prose before the slipped step stays as it was: "16 - 3 - 4 = <<16-3-4=10>>10" is the mistake.

Steps are tried in a seeded random order; a candidate is accepted when the final answer changes
and at least `min_shared` of the whitespace tokens are unchanged (a rejected solution that shares
most tokens isolates the error). When no annotated step works (no annotations, or the final answer
is computed in prose), the last visible occurrence of the final answer is slipped instead
(step -1). None when even that is impossible.
"""

from __future__ import annotations

import ast
import difflib
import operator
import random
import re
from fractions import Fraction

ANNOTATION = re.compile(r"<<([^<>=]*)=([^<>=]*)>>")
NUMBER = re.compile(r"(?<![\w.)\]])-?(?:\d[\d,]*(?:\.\d+)?|\.\d+)(?![\w])")  # "-6" but not the "-3" of "16-3"
DELTAS = (1, 2, 3, 5, 10)
_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


def parse_number(text: str) -> Fraction | None:
    try:
        return Fraction(text.strip().replace(",", "").lstrip("$").rstrip("%"))
    except (ValueError, ZeroDivisionError):
        return None


def format_number(value: Fraction, like: str) -> str:
    """`value` written the way `like` was: same decimal places (at least 2 if inexact), commas kept."""
    like = like.strip()
    places = len(like.split(".")[1]) if "." in like else 0
    if value.denominator != 1 and value * 10**places != round(value * 10**places):
        places = max(places, 2)  # 10/3 in a "3"-like slot: 3.33, as the dataset does
    text = f"{float(round(value, places)):,.{places}f}" if places else f"{round(value):,d}"
    return text if "," in like else text.replace(",", "")


def safe_eval(expr: str) -> Fraction | None:
    """Exact value of a calculator annotation (+ - * / ** parentheses), or None."""
    try:
        tree = ast.parse(expr.replace(",", "").strip(), mode="eval")
        return _eval(tree.body)
    except (SyntaxError, ValueError, ZeroDivisionError, OverflowError, RecursionError):
        return None


def _eval(node) -> Fraction:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return Fraction(repr(node.value))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _eval(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        return _OPS[type(node.op)](_eval(node.left), _eval(node.right))
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
        base, exp = _eval(node.left), _eval(node.right)
        if exp.denominator != 1 or abs(exp) > 12:
            raise ValueError("unsupported power")
        return base ** int(exp)
    raise ValueError(f"unsupported expression {ast.dump(node)}")


def shared_fraction(a: str, b: str) -> float:
    """Fraction of whitespace tokens the two texts share (matching blocks over the longer one)."""
    ta, tb = a.split(), b.split()
    same = sum(block.size for block in difflib.SequenceMatcher(None, ta, tb, autojunk=False).get_matching_blocks())
    return same / max(len(ta), len(tb), 1)


def corrupt(answer: str, rng: random.Random, *, min_shared: float = 0.8) -> tuple[str, int] | None:
    body, sep, final = answer.rpartition("####")
    gold = parse_number(final)
    if not sep or gold is None:
        return None
    steps = list(ANNOTATION.finditer(body))
    order = list(range(len(steps)))
    rng.shuffle(order)
    for k in [*order, -1]:
        slip = _slip(rng, parse_number(steps[k].group(2)) if k >= 0 else gold)
        edits = _propagate(body, steps, k, slip) if k >= 0 else _slip_final_prose(body, gold, slip)
        if edits is None or gold not in edits[1]:
            continue  # the error never reaches the final answer
        body_edits, changed = edits
        wrong = _apply(body, body_edits) + sep + final.replace(final.strip(), format_number(changed[gold], final), 1)
        if shared_fraction(answer, wrong) >= min_shared:
            return wrong, k
    return None


def _slip(rng: random.Random, value: Fraction | None) -> Fraction | None:
    if value is None:
        return None
    delta = rng.choice(DELTAS) * rng.choice((1, -1))
    new = value + delta
    return value + abs(delta) if value >= 0 > new or new == 0 else new  # no new signs, no zero divisors


def _propagate(body: str, steps: list[re.Match], k: int, new: Fraction | None):
    """Edits {(start, end): text} slipping step k to `new` and re-evaluating dependent steps."""
    old = parse_number(steps[k].group(2))
    if new is None or old is None:
        return None
    changed: dict[Fraction, Fraction] = {old: new}
    edits: dict[tuple[int, int], str] = {}
    _set_result(body, steps[k], new, edits)
    for j in range(k + 1, len(steps)):
        m = steps[j]
        expr = _substitute(m.group(1), changed)
        if expr is None:
            continue  # does not use a changed value
        value, old_j = safe_eval(expr), parse_number(m.group(2))
        if value is None or old_j is None:
            return None  # cannot recompute a dependent step: try another one
        edits[m.span(1)] = expr
        start = max(body.rfind("\n", 0, m.start()) + 1, _visible_end(body, steps[j - 1]))
        _substitute(body[start:m.start()], changed, edits, offset=start)  # the "9 * 2 = " before it
        _set_result(body, m, value, edits)
        if value != old_j:
            changed[old_j] = value
    return edits, changed


def _visible(body: str, m: re.Match) -> re.Match | None:
    """The number written right after an annotation (``<<9*2=18>>18``, ``<<..>>$18``)."""
    return NUMBER.match(body, m.end() + body.startswith("$", m.end()))


def _visible_end(body: str, m: re.Match) -> int:
    visible = _visible(body, m)
    return visible.end() if visible else m.end()


def _set_result(body: str, m: re.Match, value: Fraction, edits: dict) -> None:
    """Rewrite the annotation's result and the identical visible number right after ``>>``."""
    old = parse_number(m.group(2))
    edits[m.span(2)] = format_number(value, m.group(2))
    visible = _visible(body, m)
    if visible and parse_number(visible.group()) == old:
        edits[visible.span()] = format_number(value, visible.group())


def _substitute(text: str, changed: dict, edits: dict | None = None, offset: int = 0) -> str | None:
    """Replace the numbers of `text` equal to a changed value; the new text, or None if none changed.
    With `edits`, also record each replacement (at `offset`), leaving already-edited spans alone."""
    out, last, hit = [], 0, False
    for m in NUMBER.finditer(text):
        value, span = parse_number(m.group()), (m.start() + offset, m.end() + offset)
        if value not in changed or (edits is not None and any(s < span[1] and span[0] < e for s, e in edits)):
            continue
        new = format_number(changed[value], m.group())
        out += [text[last:m.start()], new]
        last, hit = m.end(), True
        if edits is not None:
            edits[span] = new
    return "".join(out) + text[last:] if hit else None


def _slip_final_prose(body: str, gold: Fraction, new: Fraction | None):
    """Slip the last visible occurrence of the final answer outside annotations (the prose result)."""
    inside = [m.span() for m in ANNOTATION.finditer(body)]
    for m in reversed(list(NUMBER.finditer(body))):
        if new is not None and parse_number(m.group()) == gold and not any(s <= m.start() < e for s, e in inside):
            return {m.span(): format_number(new, m.group())}, {gold: new}
    return None


def _apply(text: str, edits: dict[tuple[int, int], str]) -> str:
    out, last = [], 0
    for (start, end), new in sorted(edits.items()):
        out += [text[last:start], new]
        last = end
    return "".join(out) + text[last:]
