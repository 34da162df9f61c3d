"""hh-rlhf adapter on the shipped harmless-base test file: every row accounted for, every kept pair
reconstructs its original transcripts exactly, and the quirky rows follow the documented policy.

The expectations are computed here from the raw file, independently of the adapter's code path.
"""

from __future__ import annotations

import gzip
import json

import pytest

from harness.data import load_pairs
from harness.data.hh_rlhf import reconstruct
from harness.data.spec import ASSETS, SHIPPED
from harness.errors import DataError

ASSISTANT = "\n\nAssistant:"
FILE = ASSETS / SHIPPED["hh-rlhf"]


@pytest.fixture(scope="module")
def raw() -> list[dict]:
    with gzip.open(FILE, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def loaded():
    return load_pairs("hh-rlhf")


def _divergent(row) -> bool:
    prompt = row["chosen"][: row["chosen"].rfind(ASSISTANT) + len(ASSISTANT)]
    return not row["rejected"].startswith(prompt)


def _empty_response(row) -> bool:
    cut = row["chosen"].rfind(ASSISTANT) + len(ASSISTANT)
    return not row["chosen"][cut:].strip() or not row["rejected"][cut:].strip()


def test_every_row_is_read_and_accounted_for(raw, loaded):
    assert len(raw) == 2312  # the published harmless-base test size (SOURCE.md)
    assert loaded.n_rows == len(raw)
    assert len(loaded.pairs) + sum(loaded.dropped.values()) == len(raw)
    assert loaded.source.startswith("hh-rlhf:") and loaded.source.endswith("harmless-base-test.jsonl.gz")


def test_kept_pairs_reconstruct_the_original_transcripts_exactly(raw, loaded):
    for pair in loaded.pairs:
        assert reconstruct(pair) == (raw[pair.index]["chosen"], raw[pair.index]["rejected"]), pair.index


def test_divergent_rows_are_dropped_never_sliced(raw, loaded):
    divergent = {i for i, row in enumerate(raw) if _divergent(row)}
    assert len(divergent) == 4  # the known HH quirk (brief and SOURCE.md)
    assert loaded.dropped["prompt_mismatch"] == len(divergent)
    assert divergent.isdisjoint(p.index for p in loaded.pairs)


def test_empty_final_turns_are_dropped_and_counted(raw, loaded):
    empty = {i for i, row in enumerate(raw) if not _divergent(row) and _empty_response(row)}
    assert empty, "the shipped file has empty final Assistant turns"
    assert loaded.dropped["empty_response"] == len(empty)
    assert set(loaded.dropped) == {"prompt_mismatch", "empty_response", "repeated_speaker"}
    kept = {p.index for p in loaded.pairs}
    repeated = {667, 763, 1319, 1849}  # test_the_shipped_rows_with_an_inline_human_turn_are_dropped_by_name
    assert kept == set(range(len(raw))) - empty - repeated - {i for i, r in enumerate(raw) if _divergent(r)}


def test_quirks_error_names_the_line_of_the_first_divergent_row(raw):
    first = min(i for i, row in enumerate(raw) if _divergent(row) or _empty_response(row))
    with pytest.raises(DataError) as e:
        load_pairs("hh-rlhf", options={"quirks": "error"})
    msg = str(e.value)
    assert str(FILE) in msg and f"line {first + 1}:" in msg
    assert "prompt_mismatch" in msg or "empty_response" in msg


def test_prompts_are_chat_messages_ending_with_the_human_turn(raw, loaded):
    for pair in loaded.pairs:
        roles = [m["role"] for m in pair.prompt]
        assert roles[0] == "user" and roles[-1] == "user"
        assert all(a != b for a, b in zip(roles, roles[1:], strict=False)), "turns alternate"
        raw_prompt = pair.meta["raw_prompt"]
        assert raw_prompt.endswith(ASSISTANT)
        last_human = raw_prompt[raw_prompt.rfind("\n\nHuman:") + len("\n\nHuman:"): -len(ASSISTANT)]
        assert pair.prompt[-1]["content"] == last_human.strip()
        assert pair.chosen == pair.chosen.lstrip() and pair.rejected == pair.rejected.lstrip()


def test_prompt_ids_follow_the_prompt_text(loaded):
    by_id: dict[str, str] = {}
    for pair in loaded.pairs:
        assert by_id.setdefault(pair.prompt_id, pair.meta["raw_prompt"]) == pair.meta["raw_prompt"]


def test_standard_form_keeps_the_raw_strings(raw):
    loaded = load_pairs("hh-rlhf", options={"form": "standard"}, limit=200)
    assert len(loaded.pairs) == 200
    for pair in loaded.pairs:
        row = raw[pair.index]
        assert isinstance(pair.prompt, str) and pair.prompt.endswith(ASSISTANT)
        assert pair.prompt + pair.chosen == row["chosen"] and pair.prompt + pair.rejected == row["rejected"]


def _write(tmp_path, rows) -> str:
    path = tmp_path / "hh.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def test_repeated_speaker_turns_are_dropped_not_rewritten(tmp_path):
    """Merging two turns of one speaker would drop an Assistant tag and change the text the model
    trains on; such rows are dropped with a named reason (the standard form keeps them verbatim)."""
    merged = "\n\nHuman: hi\n\nAssistant: one\n\nAssistant: two\n\nHuman: and?\n\nAssistant:"
    ends_with_assistant = "\n\nHuman: hi\n\nAssistant: one\n\nAssistant:"
    clean = "\n\nHuman: hi\n\nAssistant: one\n\nHuman: and?\n\nAssistant:"
    rows = [{"chosen": merged + " yes", "rejected": merged + " no"},
            {"chosen": ends_with_assistant + " a", "rejected": ends_with_assistant + " b"},
            {"chosen": clean + " same", "rejected": clean + "  same"},
            {"chosen": clean + " yes", "rejected": clean + " no"}]
    loaded = load_pairs("hh-rlhf:" + _write(tmp_path, rows))
    assert loaded.dropped == {"repeated_speaker": 1, "malformed_transcript": 1, "identical_responses": 1}
    (pair,) = loaded.pairs
    assert pair.prompt == [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "one"},
                           {"role": "user", "content": "and?"}]
    assert reconstruct(pair) == (rows[3]["chosen"], rows[3]["rejected"])
    with pytest.raises(DataError, match="two Assistant turns in a row"):
        load_pairs("hh-rlhf:" + _write(tmp_path, rows), options={"quirks": "error"})
    # the standard form needs no turn structure, so both rows are fine there, verbatim
    standard = load_pairs("hh-rlhf:" + _write(tmp_path, rows), options={"form": "standard"})
    assert [p.index for p in standard.pairs] == [0, 1, 3]
    assert standard.pairs[0].prompt + standard.pairs[0].chosen == rows[0]["chosen"]


def test_the_shipped_rows_with_an_inline_human_turn_are_dropped_by_name(raw, loaded):
    dropped = {667, 763, 1319, 1849} - {p.index for p in loaded.pairs}
    assert dropped == {667, 763, 1319, 1849} and loaded.dropped["repeated_speaker"] == 4
