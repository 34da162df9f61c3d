"""Malformed input, table-driven: each case writes a small file whose second row is bad, and the
`DataError` must name the file, the row (1-based line for JSON Lines) and the reason code. Then the
``skip`` policy (counted by reason), whole-file failures, specs, options and hub ids offline."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from harness.data import load_pairs
from harness.data.check import export_jsonl
from harness.errors import ConfigError, DataError, HarnessError

GOOD = {"prompt": "What is 2+2?", "chosen": "4", "rejected": "5"}
USER = [{"role": "user", "content": "What is 2+2?"}]
ASSIST = [{"role": "assistant", "content": "4"}]


def _jsonl(*lines: str | dict) -> bytes:
    return "".join((ln if isinstance(ln, str) else json.dumps(ln)) + "\n" for ln in lines).encode()


def _with(**change) -> dict:
    return {**GOOD, **change}


def _without(key: str) -> dict:
    return {k: v for k, v in GOOD.items() if k != key}


# (id, file name, contents of a file whose second row is bad, spec adapter, options, reason, row label)
CASES = [
    ("invalid-json", "a.jsonl", _jsonl(GOOD, '{"prompt": "x", "chosen": '), "generic", {}, "invalid_json", "line 2"),
    ("not-utf8", "a.jsonl", _jsonl(GOOD) + b'{"prompt": "\xff\xfe"}\n', "generic", {}, "invalid_json", "line 2"),
    ("not-an-object", "a.jsonl", _jsonl(GOOD, "[1, 2, 3]"), "generic", {}, "not_an_object", "line 2"),
    ("missing-chosen", "a.jsonl", _jsonl(GOOD, _without("chosen")), "generic", {}, "missing_field", "line 2"),
    ("missing-prompt", "a.jsonl", _jsonl(GOOD, _without("prompt")), "generic", {}, "missing_field", "line 2"),
    ("null-rejected", "a.jsonl", _jsonl(GOOD, _with(rejected=None)), "generic", {}, "missing_field", "line 2"),
    ("number-response", "a.jsonl", _jsonl(GOOD, _with(chosen=4)), "generic", {}, "not_a_string", "line 2"),
    ("empty-response", "a.jsonl", _jsonl(GOOD, _with(chosen="")), "generic", {}, "empty_response", "line 2"),
    ("blank-response", "a.jsonl", _jsonl(GOOD, _with(rejected="  \n")), "generic", {}, "empty_response", "line 2"),
    ("identical", "a.jsonl", _jsonl(GOOD, _with(rejected="4")), "generic", {}, "identical_responses", "line 2"),
    ("empty-prompt", "a.jsonl", _jsonl(GOOD, _with(prompt=" ")), "generic", {}, "empty_prompt", "line 2"),
    ("bad-role", "a.jsonl", _jsonl(GOOD, _with(prompt=[{"role": "bot", "content": "hi"}])), "generic", {},
     "bad_role", "line 2"),
    ("late-system", "a.jsonl", _jsonl(GOOD, _with(prompt=USER + [{"role": "system", "content": "x"}])), "generic",
     {}, "bad_role", "line 2"),
    ("prompt-ends-assistant", "a.jsonl", _jsonl(GOOD, _with(prompt=USER + ASSIST)), "generic", {},
     "prompt_not_user_last", "line 2"),
    ("message-no-content", "a.jsonl", _jsonl(GOOD, _with(prompt=[{"role": "user"}])), "generic", {},
     "bad_messages", "line 2"),
    ("message-list-empty", "a.jsonl", _jsonl(GOOD, _with(prompt=[])), "generic", {}, "empty_prompt", "line 2"),
    ("response-not-assistant", "a.jsonl", _jsonl(GOOD, _with(prompt=USER, chosen=USER)), "generic", {},
     "bad_role", "line 2"),
    ("conversation-other-prompt", "a.jsonl",
     _jsonl(GOOD, _with(prompt=USER, chosen=[{"role": "user", "content": "Other?"}] + ASSIST)), "generic", {},
     "prompt_mismatch", "line 2"),
    ("implicit-prompts-differ", "a.jsonl",
     _jsonl(GOOD, {"chosen": USER + ASSIST, "rejected": [{"role": "user", "content": "no"}, *ASSIST]}), "generic",
     {}, "prompt_mismatch", "line 2"),
    ("prompt-id-list", "a.jsonl", _jsonl(GOOD, _with(prompt_id=[1])), "generic", {}, "not_a_string", "line 2"),
    ("mapped-column-missing", "a.jsonl", _jsonl({"q": "x", "chosen": "a", "rejected": "b"}, GOOD), "generic",
     {"columns": {"prompt": "q"}}, "missing_field", "line 2"),
    ("blank-lines-keep-numbering", "a.txt", _jsonl(GOOD) + b"\n  \n" + _jsonl(_with(chosen="")), "jsonl", {},
     "empty_response", "line 4"),
    ("gzip-jsonl", "a.jsonl.gz", gzip.compress(_jsonl(GOOD, _with(chosen=[]))), "generic", {}, "bad_role",
     "line 2"),
    ("json-array", "a.json", json.dumps([GOOD, _without("rejected")]).encode(), "generic", {}, "missing_field",
     "row 2"),
    ("json-columns", "a.json", json.dumps({"prompt": ["a", "b"], "chosen": ["x", "y"], "rejected": ["z", "y"]})
     .encode(), "generic", {}, "identical_responses", "row 2"),
    ("parquet-null", "a.parquet", [GOOD, _with(chosen=None)], "generic", {}, "missing_field", "row 2"),
    ("parquet-forced", "rows.bin", [GOOD, _with(prompt="")], "parquet", {}, "empty_prompt", "row 2"),
    ("hh-no-assistant", "a.jsonl", _jsonl({"chosen": "\n\nHuman: a\n\nAssistant: b", "rejected": "\n\nHuman: a"
                                           "\n\nAssistant: c"}, {"chosen": "\n\nHuman: x", "rejected": "y"}),
     "hh-rlhf", {}, "no_assistant_turn", "line 2"),
    ("hh-not-string", "a.jsonl", _jsonl({"chosen": "\n\nHuman: a\n\nAssistant: b", "rejected": "\n\nHuman: a"
                                         "\n\nAssistant: c"}, {"chosen": ["x"], "rejected": "y"}),
     "hh-rlhf", {}, "not_a_string", "line 2"),
]


def _write(tmp_path: Path, name: str, contents) -> Path:
    path = tmp_path / name
    if isinstance(contents, list):  # rows for a Parquet file
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(contents), path)
    else:
        path.write_bytes(contents)
    return path


@pytest.mark.parametrize("name, contents, adapter, options, reason, row", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_bad_row_error_names_file_row_and_reason(tmp_path, name, contents, adapter, options, reason, row):
    path = _write(tmp_path, name, contents)
    with pytest.raises(DataError) as e:
        load_pairs(f"{adapter}:{path}", options=options)
    msg = str(e.value)
    assert msg.startswith(f"{path}: {row}: "), msg
    assert f"({reason})" in msg and "\n" not in msg


@pytest.mark.parametrize("name, contents, adapter, options, reason, row", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_skip_drops_the_bad_row_and_counts_it(tmp_path, name, contents, adapter, options, reason, row):
    path = _write(tmp_path, name, contents)
    loaded = load_pairs(f"{adapter}:{path}", options=options, on_bad_row="skip")
    assert loaded.dropped == {reason: 1} and len(loaded.pairs) == 1 and loaded.n_rows == 2
    assert loaded.pairs[0].index == 0


def test_skip_counts_each_reason(tmp_path):
    rows = [GOOD, _with(chosen=""), "{oops", _without("chosen"), _with(chosen=""), _with(rejected="4"),
            _with(prompt="Again?")]
    loaded = load_pairs(f"jsonl:{_write(tmp_path, 'mix.txt', _jsonl(*rows))}", on_bad_row="skip")
    assert loaded.dropped == {"empty_response": 2, "invalid_json": 1, "missing_field": 1, "identical_responses": 1}
    assert [p.index for p in loaded.pairs] == [0, 6] and loaded.n_rows == len(rows)


def test_a_dataset_left_empty_is_an_error(tmp_path):
    with pytest.raises(DataError, match=r"no usable preference pairs .*empty_response: 2"):
        load_pairs(f"generic:{_write(tmp_path, 'e.jsonl', _jsonl(_with(chosen=''), _with(chosen='')))}",
                   on_bad_row="skip")
    with pytest.raises(DataError, match="read 0 rows"):
        load_pairs(f"generic:{_write(tmp_path, 'empty.jsonl', b'')}")


@pytest.mark.parametrize("name, contents, fragment", [
    ("broken.jsonl.gz", b"not gzip at all", "cannot read"),
    ("broken.json", b'{"prompt": ', "invalid JSON at line 1"),
    ("broken.parquet", b"PAR1 nope", "cannot read Parquet"),
    ("data.csv", b"prompt,chosen,rejected\n", "cannot tell the format"),
])
def test_unreadable_files_name_the_file(tmp_path, name, contents, fragment):
    path = _write(tmp_path, name, contents)
    with pytest.raises(DataError) as e:
        load_pairs(f"generic:{path}")
    assert str(path) in str(e.value) and fragment in str(e.value)


def test_missing_local_path_and_offline_hub_id_are_clear(tmp_path):
    missing = tmp_path / "nope.jsonl"
    with pytest.raises(DataError, match=f"{missing}: no such file or directory"):
        load_pairs(f"hh-rlhf:{missing}")
    # tests run with HF_HUB_OFFLINE=1 (conftest): the hub id fails fast and the message says why
    with pytest.raises(DataError) as e:
        load_pairs("ultrafeedback-binarized:someone/some-dataset@train", options={"revision": "0" * 40})
    assert "'someone/some-dataset' is not a local file" in str(e.value) and "offline" in str(e.value)


def test_options_and_arguments_are_checked():
    with pytest.raises(ConfigError, match=r"unknown option\(s\) drop_tie .*known: drop_ties, form"):
        load_pairs("ultrafeedback-binarized", options={"drop_tie": False})
    with pytest.raises(ConfigError, match="'drop_ties' must be bool"):
        load_pairs("ultrafeedback-binarized", options={"drop_ties": "no"})
    with pytest.raises(ConfigError, match="'form' must be one of"):
        load_pairs("hh-rlhf", options={"form": "chatty"})
    with pytest.raises(ConfigError, match="revision"):  # hub-only option on a local file
        load_pairs("hh-rlhf", options={"revision": "abc"})
    with pytest.raises(ConfigError, match="'columns': unknown key"):
        load_pairs("generic:" + str(Path(__file__)), options={"columns": {"question": "q"}})
    with pytest.raises(ConfigError, match="on_bad_row"):
        load_pairs("hh-rlhf", on_bad_row="ignore")
    with pytest.raises(ConfigError, match="limit"):
        load_pairs("hh-rlhf", limit=0)
    with pytest.raises(HarnessError, match="did you mean 'hh-rlhf'"):
        load_pairs("hh-rlfh")
    with pytest.raises(ConfigError, match="nothing after ':'"):
        load_pairs("generic:")
    with pytest.raises(DataError, match="needs a path or hub id"):
        load_pairs("generic")


def test_other_forms_load_and_export_round_trips(tmp_path):
    rows = [GOOD,
            {"prompt": USER, "chosen": ASSIST, "rejected": "five", "prompt_id": 7, "gold": 4},
            {"chosen": USER + ASSIST, "rejected": USER + [{"role": "assistant", "content": "3"}]},
            {"q": "Hi?", "good": "Hello", "bad": "Go away"}]
    loaded = load_pairs(f"generic:{_write(tmp_path, 'forms.jsonl', _jsonl(*rows[:3]))}")
    assert [(p.prompt, p.chosen, p.rejected) for p in loaded.pairs] == [
        ("What is 2+2?", "4", "5"), (USER, "4", "five"), (USER, "4", "3")]
    assert loaded.pairs[1].prompt_id == "7" and loaded.pairs[1].gold == "4" and loaded.pairs[0].gold is None
    mapped = load_pairs(f"generic:{_write(tmp_path, 'm.jsonl', _jsonl(rows[3]))}",
                        options={"columns": {"prompt": "q", "chosen": "good", "rejected": "bad"}})
    assert (mapped.pairs[0].prompt, mapped.pairs[0].chosen) == ("Hi?", "Hello")
    out = tmp_path / "out.jsonl"
    assert export_jsonl(loaded, out) == 3
    back = load_pairs(f"generic:{out}")
    assert [(p.prompt, p.chosen, p.rejected, p.prompt_id, p.gold) for p in back.pairs] == [
        (p.prompt, p.chosen, p.rejected, p.prompt_id, p.gold) for p in loaded.pairs]
