"""The synthetic arithmetic task: format, corruption rule, held-out splits, determinism."""

from __future__ import annotations

import re

import pytest

from harness.data import load_pairs
from harness.data.arith import generate, solve, split_of
from harness.errors import ConfigError, DataError

CHAIN = re.compile(r"^(\d+)([+-])(\d+)=(\d+)\.(\d+)([+-])(\d+)=(\d+)\.#(\d+)$")


def _numbers(text):
    m = CHAIN.match(text)
    assert m, text
    a, op1, b, mid, mid2, op2, c, final, answer = m.groups()
    return int(a), op1, int(b), int(mid), int(mid2), op2, int(c), int(final), int(answer)


def test_chosen_is_the_correct_chain_and_gold_its_answer():
    for p in generate("train", n_pairs=200, seed=3):
        question = p.prompt.removesuffix("=?")
        mid, final = solve(question)
        a, op1, b, m1, m2, op2, c, f, ans = _numbers(p.chosen)
        assert f"{a}{op1}{b}{op2}{c}" == question
        assert (m1, m2, f, ans) == (mid, mid, final, final)
        assert p.gold == str(final) and min(mid, final) >= 0


def test_rejected_is_one_step_off_by_1_to_3_and_carried_through():
    steps_hit = set()
    for p in generate("train", n_pairs=300, seed=5):
        a, op1, b, mid, _, op2, c, final, _ = _numbers(p.chosen)
        ra, rop1, rb, rmid, rmid2, rop2, rc, rfinal, rans = _numbers(p.rejected)
        assert (ra, rop1, rb, rop2, rc) == (a, op1, b, op2, c)
        assert rmid == rmid2 and rfinal == rans  # the wrong value is carried into the next step
        if rmid != mid:  # step 1 wrong, step 2 computed correctly from the wrong value
            steps_hit.add(1)
            assert 1 <= abs(rmid - mid) <= 3
            assert rfinal == (rmid + rc if rop2 == "+" else rmid - rc)
        else:  # step 2 wrong
            steps_hit.add(2)
            assert 1 <= abs(rfinal - final) <= 3
        assert p.rejected != p.chosen
    assert steps_hit == {1, 2}


def test_splits_never_share_a_question_and_are_stable():
    qs = {s: {p.prompt for p in generate(s, n_pairs=400, seed=s_i)} for s_i, s in enumerate(("train", "eval", "test"))}
    assert not (qs["train"] & qs["eval"]) and not (qs["train"] & qs["test"]) and not (qs["eval"] & qs["test"])
    for split, prompts in qs.items():
        assert all(split_of(q.removesuffix("=?")) == split for q in prompts)
        assert len(prompts) == 400  # distinct within a call


def test_same_seed_same_pairs_other_seed_other_pairs():
    a = [p.to_json() for p in generate("train", n_pairs=50, seed=1)]
    b = [p.to_json() for p in generate("train", n_pairs=50, seed=1)]
    c = [p.to_json() for p in generate("train", n_pairs=50, seed=2)]
    assert a == b and a != c


def test_through_load_pairs_with_options():
    loaded = load_pairs("arith", options={"n_pairs": 30, "seed": 0, "split": "test"})
    assert len(loaded.pairs) == 30 and all(p.meta["split"] == "test" for p in loaded.pairs)
    assert [p.index for p in loaded.pairs] == list(range(30))


@pytest.mark.parametrize("options, error", [
    ({"n_pairs": 0}, DataError), ({"split": "dev2"}, ConfigError), ({"bogus": 1}, ConfigError),
    ({"n_pairs": "5"}, ConfigError), ({"min_operand": 50, "max_operand": 10}, DataError),
])
def test_bad_options_are_user_errors(options, error):
    with pytest.raises(error):
        load_pairs("arith", options=options)
