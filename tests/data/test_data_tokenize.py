"""Tokenisation, truncation policy, masks and batching (tiny byte-level tokenizer)."""

from __future__ import annotations

import pytest

from harness.data.schema import PreferencePair
from harness.data.tokenize import IGNORE, batches, collate, padding_fraction, tokenize_pairs, truncated
from harness.errors import DataError


@pytest.fixture(scope="module")
def tok():
    from harness.models import load_tokenizer
    from harness.models.tiny import build

    return load_tokenizer(build(seed=0))


def _pair(prompt="12+34-5=?", chosen="12+34=46.46-5=41.#41", rejected="12+34=46.46-5=42.#42", i=0):
    return PreferencePair(prompt=prompt, chosen=chosen, rejected=rejected, index=i, prompt_id=f"p{i}")


def _ids(tok, text):
    return tok(text, add_special_tokens=False)["input_ids"]


def test_prompt_and_responses_tokenised_once_with_eos(tok):
    [tp], dropped = tokenize_pairs([_pair()], tok, max_prompt_len=64, max_response_len=64)
    assert dropped == {}
    assert list(tp.prompt_ids) == _ids(tok, "12+34-5=?")
    assert list(tp.chosen_ids) == _ids(tok, "12+34=46.46-5=41.#41") + [tok.eos_token_id]
    assert tok.decode(tp.rejected_ids, skip_special_tokens=True) == "12+34=46.46-5=42.#42"


def test_truncation_keeps_prompt_end_and_response_start(tok):
    [tp], _ = tokenize_pairs([_pair(prompt="abcdefgh", chosen="0123456789", rejected="9876543210")], tok,
                             max_prompt_len=3, max_response_len=4)
    assert tok.decode(tp.prompt_ids) == "fgh"
    assert tok.decode(tp.chosen_ids) == "0123"  # cut before EOS: a truncated response has none
    assert len(tp.rejected_ids) == 4


def test_cuts_are_counted_per_pair_exactly_at_the_limit(tok):
    # prompt "abcd": 4 tokens plus a BOS when the tokenizer adds one; responses + EOS: 5 and 3 tokens
    n_prompt = len(tok("abcd")["input_ids"])
    pairs = [_pair(prompt="abcd", chosen="0123", rejected="01", i=0), _pair(prompt="a", chosen="0", rejected="1", i=1)]
    kept, _ = tokenize_pairs(pairs, tok, max_prompt_len=n_prompt, max_response_len=5)  # at the limit: no cut
    assert truncated(kept) == {"prompt": 0, "response": 0}
    kept, _ = tokenize_pairs(pairs, tok, max_prompt_len=n_prompt - 1, max_response_len=4)  # one token over
    assert [(p.prompt_cut, p.response_cut) for p in kept] == [(True, True), (False, False)]
    assert truncated(kept) == {"prompt": 1, "response": 1}


def test_a_run_stores_its_cuts_and_warns_naming_the_key(tmp_path, capsys):
    """data.max_prompt_len=1 cuts every prompt: counted in runs.truncated_json and said, naming
    the key; a folder written before the column reads beside it."""
    import json
    from pathlib import Path

    import pandas as pd

    from harness.cli import main
    from harness.results.store import ResultStore

    tiny = Path(__file__).resolve().parents[2] / "suites" / "examples" / "train-tiny.yaml"
    fast = ["train.steps=1", "train.warmup_steps=0", "train.eval_every=0", "train.checkpoint_every=0"]
    assert main(["train", str(tiny), "--out", str(tmp_path / "plain"), *fast]) == 0
    assert "data.max_" not in capsys.readouterr().err  # the shipped limits cut (almost) nothing: no warning
    assert main(["train", str(tiny), "--out", str(tmp_path), *fast, "data.max_prompt_len=1"]) == 0
    err = capsys.readouterr().err
    assert "warning: data.max_prompt_len=1 cuts 448 of the 448 training prompts" in err and "(100%)" in err, err
    assert "data.max_response_len" not in err
    store = ResultStore(tmp_path)
    store.write("runs", "older", [{"run_id": "older", "status": "completed", "dropped_json": "{}"}])  # no column
    runs = store.read("runs").set_index("run_id")
    cut = json.loads(runs.drop(index="older")["truncated_json"].iloc[0])
    assert cut["prompt"] == 448 and cut["response"] == 0 and cut["eval:prompt"] > 0
    assert pd.isna(runs.loc["older", "truncated_json"])  # not counted then: missing, not zero


def test_pairs_identical_after_truncation_are_dropped_and_reported(tok):
    pairs = [_pair(chosen="0123456789", rejected="0123456780", i=0), _pair(chosen="0123", rejected="1234", i=1)]
    kept, dropped = tokenize_pairs(pairs, tok, max_prompt_len=16, max_response_len=5)
    assert [p.index for p in kept] == [1] and dropped == {"identical": 1}


def test_empty_response_errors_naming_the_row_or_is_skipped(tok):
    pairs = [_pair(i=0), _pair(chosen="", i=7)]
    with pytest.raises(DataError, match=r"row 7 \(prompt_id p7\).*empty response"):
        tokenize_pairs(pairs, tok, max_prompt_len=16, max_response_len=16)
    kept, dropped = tokenize_pairs(pairs, tok, max_prompt_len=16, max_response_len=16, on_bad_row="skip")
    assert [p.index for p in kept] == [0] and dropped == {"empty_response": 1}


def test_message_prompts_use_the_chat_template_when_there_is_one(tok):
    messages = [{"role": "user", "content": "hi"}]
    [plain], _ = tokenize_pairs([_pair(prompt=messages)], tok, max_prompt_len=64, max_response_len=64)
    assert tok.decode(plain.prompt_ids) == "User: hi\n\nAssistant:"  # no template: a readable fallback
    tok.chat_template = "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}<assistant>"
    try:
        [templ], _ = tokenize_pairs([_pair(prompt=messages)], tok, max_prompt_len=64, max_response_len=64)
    finally:
        tok.chat_template = None
    assert tok.decode(templ.prompt_ids) == "<user>hi<assistant>"


def test_collate_packs_chosen_then_rejected_with_masks_and_no_fixed_padding(tok):
    pairs = [_pair(i=0), _pair(prompt="1+2+3=?", chosen="1+2=3.3+3=6.#6", rejected="1+2=3.3+3=7.#7", i=1)]
    tps, _ = tokenize_pairs(pairs, tok, max_prompt_len=64, max_response_len=64)
    b = collate(tps, pad_id=tok.pad_token_id)
    rows = [(t.prompt_ids, t.chosen_ids) for t in tps] + [(t.prompt_ids, t.rejected_ids) for t in tps]
    width = max(len(p) + len(r) for p, r in rows)
    assert b["input_ids"].shape == (4, width)  # 2B rows, padded only to the longest real row
    assert b["response_lengths"].tolist() == [len(r) for _, r in rows]
    for i, (p, r) in enumerate(rows):
        n = len(p) + len(r)
        assert b["input_ids"][i, :n].tolist() == list(p + r)
        assert b["attention_mask"][i].tolist() == [1] * n + [0] * (width - n)
        assert b["labels"][i, : len(p)].eq(IGNORE).all() and b["labels"][i, n:].eq(IGNORE).all()
        assert b["labels"][i, len(p):n].tolist() == list(r)
        assert b["input_ids"][i, n:].eq(tok.pad_token_id).all()


def test_batches_cover_every_index_once_deterministically_with_little_padding():
    lengths = [(i * 37) % 50 + 1 for i in range(1000)]
    order = batches(lengths, 16, seed=3, epoch=0)
    assert sorted(i for b in order for i in b) == list(range(1000))
    assert order == batches(lengths, 16, seed=3, epoch=0) and order != batches(lengths, 16, seed=3, epoch=1)
    unsorted = batches(lengths, 16, seed=3, epoch=0, max_waste=1.0)  # plain random batches
    assert padding_fraction(unsorted, lengths) > 0.4  # lengths 1..50: random batches are half padding
    assert padding_fraction(order, lengths) < 0.05
    inference = batches(lengths, 16)
    assert [lengths[i] for i in inference[0]] == sorted((lengths[i] for i in inference[0]), reverse=True)
    assert max(lengths[i] for i in inference[0]) == max(lengths)


def test_near_uniform_lengths_keep_random_batches():
    lengths = [30 + i % 4 for i in range(640)]  # like arith: padding would waste < 15%
    order = batches(lengths, 64, seed=0, epoch=0)
    assert sorted(i for b in order for i in b) == list(range(640))
    assert any(len({lengths[i] for i in b}) == 4 for b in order)  # batches mix lengths
