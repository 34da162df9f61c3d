"""`harness data check|export` in-process (`harness.cli.main` + capsys, no subprocess): counts,
percentiles and examples on the shipped data, export files, and one-line errors with exit code 2."""

from __future__ import annotations

import json
import re

import pytest

from harness.cli import main
from harness.data import ADAPTERS, load_pairs


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("spec", ["hh-rlhf", "gsm8k-pairs", "ultrafeedback-binarized"])
def test_check_reports_counts_lengths_and_examples(capsys, spec):
    loaded = load_pairs(spec)
    code, out, err = run(capsys, "data", "check", spec)
    assert code == 0, err
    n_dropped = sum(loaded.dropped.values())
    assert f"{loaded.n_rows} read, {len(loaded.pairs)} kept, {n_dropped} dropped" in out
    for reason, count in loaded.dropped.items():
        assert f"dropped  {reason}: {count}" in out
    table = out[out.index("lengths (characters)"):]
    row = re.search(r"\n  chosen\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)", table)
    lengths = sorted(len(p.chosen) for p in loaded.pairs)
    p50, p90, p99, top = map(int, row.groups())
    assert p50 <= p90 <= p99 <= top == lengths[-1] and lengths[0] <= p50
    assert out.count("[row ") == 3 and out.count("    rejected: ") == 3


def test_check_with_options_limit_and_skip(capsys, tmp_path):
    code, out, _ = run(capsys, "data", "check", "ultrafeedback-binarized", "-o", "drop_ties=false", "--examples", "0")
    assert code == 0 and "16 read, 16 kept, 0 dropped" in out and "[row " not in out
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "p", "chosen": "a", "rejected": "b"}\n{"prompt": "p", "chosen": "a"}\n')
    code, out, err = run(capsys, "data", "check", f"generic:{bad}", "--on-bad-row", "skip", "--limit", "5")
    assert code == 0 and "2 read, 1 kept, 1 dropped" in out and "dropped  missing_field: 1" in out


def test_export_writes_normalised_pairs(capsys, tmp_path):
    out_file = tmp_path / "gsm.jsonl"
    code, out, err = run(capsys, "data", "export", "gsm8k-pairs", str(out_file), "--limit", "40")
    assert code == 0, err
    assert f"wrote 40 pairs to {out_file}" in out
    rows = [json.loads(line) for line in out_file.read_text(encoding="utf-8").splitlines()]
    expected = load_pairs("gsm8k-pairs", limit=40).pairs
    assert len(rows) == 40
    for row, pair in zip(rows, expected, strict=True):
        assert set(row) == {"prompt", "chosen", "rejected", "index", "prompt_id", "gold"}
        assert (row["prompt"], row["chosen"], row["rejected"], row["index"], row["prompt_id"], row["gold"]) == (
            pair.prompt, pair.chosen, pair.rejected, pair.index, pair.prompt_id, pair.gold)


def test_export_conversational_prompts_and_meta(capsys, tmp_path):
    out_file = tmp_path / "hh.jsonl"
    assert run(capsys, "data", "export", "hh-rlhf", str(out_file), "--limit", "3", "--meta")[0] == 0
    rows = [json.loads(line) for line in out_file.read_text(encoding="utf-8").splitlines()]
    assert all(isinstance(r["prompt"], list) and r["prompt"][-1]["role"] == "user" for r in rows)
    assert all("gold" not in r and r["meta"]["raw_prompt"].endswith("\n\nAssistant:") for r in rows)


@pytest.mark.parametrize("argv, fragment", [
    (["data", "check", "hh-rlhf:{tmp}/missing.jsonl.gz"], "{tmp}/missing.jsonl.gz: no such file or directory"),
    (["data", "export", "hh-rlhf:{tmp}/missing.jsonl", "{tmp}/out.jsonl"], "{tmp}/missing.jsonl: no such file"),
    (["data", "check", "generic:{tmp}/bad.jsonl"], "{tmp}/bad.jsonl: line 1: field 'chosen' is missing"),
    (["data", "check", "hh-rlhf", "-o", "quirks=loud"], "option 'quirks' must be one of"),
    (["data", "check", "hh-rlhf", "--tokenizer", "{tmp}/no-tokenizer"], "{tmp}/no-tokenizer: no such tokenizer"),
    (["data", "export", "hh-rlhf", "{tmp}/no-dir/out.jsonl"], "{tmp}/no-dir: no such directory"),
])
def test_user_errors_are_one_line_with_exit_code_2(capsys, tmp_path, argv, fragment):
    (tmp_path / "bad.jsonl").write_text('{"prompt": "p", "rejected": "b"}\n')
    code, out, err = run(capsys, *[a.format(tmp=tmp_path) for a in argv])
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert fragment.format(tmp=tmp_path) in err


def test_check_with_a_tokenizer_reports_token_lengths(capsys, tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = sorted({w for p in load_pairs("gsm8k-pairs", limit=20).pairs
                    for w in re.findall(r"\w+|[^\w\s]+", p.prompt + " " + p.chosen + " " + p.rejected)})
    vocab = {w: i for i, w in enumerate(["[UNK]", *words])}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()  # \w+|[^\w\s]+, like the count below
    PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]").save_pretrained(tmp_path / "tok")
    code, out, err = run(capsys, "data", "check", "gsm8k-pairs", "--limit", "20", "--tokenizer", str(tmp_path / "tok"))
    assert code == 0, err
    table = out[out.index("lengths (tokens, tok)"):]
    top = int(re.search(r"\n  chosen\s+\d+\s+\d+\s+\d+\s+(\d+)", table).group(1))
    pairs = load_pairs("gsm8k-pairs", limit=20).pairs
    assert top == max(len(re.findall(r"\w+|[^\w\s]+", p.chosen)) for p in pairs)


def test_ls_datasets_lists_every_adapter(capsys):
    code, out, _ = run(capsys, "ls", "datasets")
    assert code == 0 and out.split() == ADAPTERS.names()
    assert {"hh-rlhf", "ultrafeedback-binarized", "shp", "gsm8k-pairs", "generic", "arith"} <= set(out.split())
