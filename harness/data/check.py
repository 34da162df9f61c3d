"""What `harness data check` prints and `harness data export` writes.

    print(check_report(load_pairs("hh-rlhf"), tokenizer_dir="path/to/tokenizer"))
    n = export_jsonl(load_pairs("gsm8k-pairs"), "pairs.jsonl")

Lengths are characters of the prompt (messages flattened as "role: content" lines) and of each
response; with a tokenizer they are also tokens, with the prompt rendered exactly as training
renders it (`harness.data.tokenize.render_prompt`: the chat template for message prompts).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from harness.data.loader import LoadedPairs
from harness.data.messages import prompt_text
from harness.data.schema import PreferencePair
from harness.errors import DataError

PERCENTILES = (50, 90, 99)
FIELDS = ("prompt", "chosen", "rejected")


def percentile(sorted_values: list[int], q: float) -> int:
    """Nearest-rank percentile of an ascending list (an actual observed length, never interpolated)."""
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def length_table(lengths: dict[str, list[int]], unit: str) -> list[str]:
    head = f"lengths ({unit})".ljust(20) + "".join(f"p{q}".rjust(8) for q in PERCENTILES) + "max".rjust(8) + "mean".rjust(9)
    lines = [head]
    for name, values in lengths.items():
        vs = sorted(values)
        cells = "".join(str(percentile(vs, q)).rjust(8) for q in PERCENTILES) + str(vs[-1]).rjust(8)
        lines.append(f"  {name:<18}{cells}{sum(vs) / len(vs):9.1f}")
    return lines


def char_lengths(pairs: list[PreferencePair]) -> dict[str, list[int]]:
    return {"prompt": [len(prompt_text(p.prompt)) for p in pairs], "chosen": [len(p.chosen) for p in pairs],
            "rejected": [len(p.rejected) for p in pairs]}


def token_lengths(pairs: list[PreferencePair], tokenizer_dir: str | Path) -> dict[str, list[int]]:
    """Token counts with the tokenizer in `tokenizer_dir` (a local directory, loaded offline)."""
    path = Path(tokenizer_dir)
    if not path.is_dir():
        raise DataError(f"{path}: no such tokenizer directory")
    from transformers import AutoTokenizer  # lazy: ~2 s import

    from harness.data.tokenize import render_prompt
    from harness.models.custom_code import check_custom_code

    check_custom_code(path, trust=False, what="tokenizer", advice="harness data check runs no tokenizer's own code")
    try:
        tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True, trust_remote_code=False)
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: cannot load a tokenizer: {str(e).splitlines()[0]}") from None
    rendered = [render_prompt(p.prompt, tok) for p in pairs]
    prompts = [0] * len(pairs)
    for special in (True, False):  # one batched call per add_special_tokens value
        idx = [i for i, (_, s) in enumerate(rendered) if s is special]
        if idx:
            for i, ids in zip(idx, tok([rendered[i][0] for i in idx], add_special_tokens=special)["input_ids"],
                              strict=True):
                prompts[i] = len(ids)
    out = {"prompt": prompts}
    for side in ("chosen", "rejected"):
        out[side] = [len(ids) for ids in tok([getattr(p, side) for p in pairs], add_special_tokens=False)["input_ids"]]
    return out


def _clip(text: str, n: int, *, keep_end: bool = False) -> str:
    text = text.replace("\n", "\\n")
    if len(text) <= n:
        return text
    return "…" + text[-n:] if keep_end else text[:n] + "…"


def examples(pairs: list[PreferencePair], n: int = 3, width: int = 160) -> list[str]:
    """The first `n` pairs, one field per line; prompts show their end (the turn being answered)."""
    lines = []
    for p in pairs[:n]:
        kind = "text" if isinstance(p.prompt, str) else f"{len(p.prompt)} message" + "s" * (len(p.prompt) != 1)
        gold = f", gold {p.gold}" if p.gold is not None else ""
        lines.append(f"  [row {p.index}] prompt_id {p.prompt_id}{gold}")
        lines.append(f"    prompt ({kind}): {_clip(prompt_text(p.prompt), width, keep_end=True)}")
        lines.append(f"    chosen:   {_clip(p.chosen, width)}")
        lines.append(f"    rejected: {_clip(p.rejected, width)}")
    return lines


def check_report(loaded: LoadedPairs, *, tokenizer_dir: str | Path | None = None, n_examples: int = 3) -> str:
    pairs = loaded.pairs
    n_dropped = sum(loaded.dropped.values())
    n_chat = sum(not isinstance(p.prompt, str) for p in pairs)
    lines = [f"source   {loaded.source}",
             f"rows     {loaded.n_rows} read, {len(pairs)} kept, {n_dropped} dropped",
             f"prompts  {len(pairs) - n_chat} standard (text), {n_chat} conversational (messages)"]
    lines += [f"dropped  {reason}: {count}" for reason, count in loaded.dropped.items()]
    lines += length_table(char_lengths(pairs), "characters")
    if tokenizer_dir is not None:
        lines += length_table(token_lengths(pairs, tokenizer_dir), f"tokens, {Path(tokenizer_dir).name}")
    if n_examples:
        lines += [f"examples (first {min(n_examples, len(pairs))})", *examples(pairs, n_examples)]
    return "\n".join(lines)


def export_row(pair: PreferencePair, *, meta: bool = False) -> dict:
    row = {"prompt": pair.prompt, "chosen": pair.chosen, "rejected": pair.rejected, "index": pair.index,
           "prompt_id": pair.prompt_id}
    if pair.gold is not None:
        row["gold"] = pair.gold
    if meta and pair.meta:
        row["meta"] = pair.meta
    return row


def export_jsonl(loaded: LoadedPairs, out: str | Path, *, meta: bool = False) -> int:
    """Write one JSON object per pair (UTF-8, non-ASCII kept); atomic: a reader never sees half a file."""
    out = Path(out)
    if out.is_dir():
        raise DataError(f"{out}: is a directory; give a file name such as {out / 'pairs.jsonl'}")
    if not out.parent.is_dir():
        raise DataError(f"{out.parent}: no such directory (export target {out})")
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            for pair in loaded.pairs:
                f.write(json.dumps(export_row(pair, meta=meta), ensure_ascii=False) + "\n")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return len(loaded.pairs)
