"""Any file of preference rows: ``generic:`` (format from the file name) or ``json:``, ``jsonl:``,
``parquet:`` (format forced, whatever the name).

    load_pairs("generic:pairs.jsonl")
    load_pairs("parquet:export.bin", options={"columns": {"prompt": "question", "chosen": "good", "rejected": "bad"}})

Accepted row forms (TRL's names):
- standard: ``prompt``, ``chosen``, ``rejected`` strings;
- conversational: ``prompt`` a list of {role, content} messages ending with a user turn, and each
  response a string, a one-message assistant list, or the whole conversation ending with the
  assistant turn (it must then start with the prompt);
- implicit prompt: no ``prompt`` column, ``chosen``/``rejected`` full conversations sharing every
  turn but the last.
Optional columns: ``prompt_id`` (default: a content hash of the prompt) and ``gold``.

Option ``columns``: maps those names to the file's own column names, e.g. ``{prompt: question}``.
`harness data export` writes this format, so an export loads back with ``generic:OUT.jsonl``.
"""

from __future__ import annotations

import functools

from harness.data import messages as msg
from harness.data.io import Record
from harness.data.schema import PreferencePair
from harness.data.validate import BadRow, check_prompt, optional_id, require
from harness.errors import ConfigError
from harness.hashing import content_hash

COLUMNS = ("prompt", "chosen", "rejected", "prompt_id", "gold")


def load(req, fmt: str | None = None):
    mapping = req.option("columns", {}, dict)
    unknown = sorted(set(mapping) - set(COLUMNS))
    bad = [k for k, v in mapping.items() if not isinstance(v, str) or not v]
    if unknown or bad:
        what = f"unknown key(s) {', '.join(unknown)}" if unknown else f"non-string column name for {', '.join(bad)}"
        raise ConfigError(f"dataset {req.spec.text!r}: option 'columns': {what} (keys: {', '.join(COLUMNS)})")
    cols = {name: mapping.get(name, name) for name in COLUMNS}
    return req.map_rows(lambda rec: convert(rec, cols, prompt_required="prompt" in mapping), fmt=fmt)


load_json = functools.partial(load, fmt="json")
load_jsonl = functools.partial(load, fmt="jsonl")
load_parquet = functools.partial(load, fmt="parquet")


def convert(rec: Record, cols: dict[str, str], prompt_required: bool = False) -> PreferencePair:
    row = rec.data
    chosen_value, rejected_value = require(row, cols["chosen"]), require(row, cols["rejected"])
    prompt_value = row.get(cols["prompt"])
    if prompt_value is None and (prompt_required or not (isinstance(chosen_value, list) and isinstance(rejected_value, list))):
        require(row, cols["prompt"])  # raises missing_field naming the column
    if prompt_value is None:
        prompt, chosen, rejected = msg.implicit_prompt(chosen_value, rejected_value)
    else:
        if isinstance(prompt_value, list):
            prompt = check_prompt(prompt_value, cols["prompt"])
        elif isinstance(prompt_value, str):
            prompt = prompt_value
        else:
            raise BadRow("not_a_string", f"field {cols['prompt']!r} must be a string or a list of messages, "
                         f"got {type(prompt_value).__name__}")
        chosen = msg.response(chosen_value, cols["chosen"], prompt)
        rejected = msg.response(rejected_value, cols["rejected"], prompt)
    prompt_id = optional_id(row, cols["prompt_id"]) or content_hash(prompt)
    return PreferencePair(prompt, chosen, rejected, rec.index, prompt_id, gold=_gold(row, cols["gold"]))


def _gold(row: dict, key: str) -> str | None:
    value = row.get(key)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadRow("not_a_string", f"field {key!r} must be a string or a number, got {type(value).__name__}")
    return str(int(value)) if float(value).is_integer() else str(value)
