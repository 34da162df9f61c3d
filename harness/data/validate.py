"""Row-level validation: what a bad row is, what a deliberate drop is, and the schema check every
`PreferencePair` passes before anyone trains on it.

Two outcomes besides "kept", counted separately on purpose:

- `BadRow`: the row is malformed (missing field, wrong type, empty response, undecodable line, ...).
  The loader's ``on_bad_row`` policy decides: ``error`` raises a `DataError` naming file, row and
  reason; ``skip`` drops and counts it.
- `Drop`: the row is well formed but the adapter's policy excludes it (a tie, a score ratio under
  the threshold, a GSM8K solution with no step to corrupt). Always counted, never an error unless
  the adapter offers an option for that.

Reasons are short snake_case codes, stable enough to be keys of `LoadedPairs.dropped` and to grep
for; the human detail goes in the message.

    raise BadRow("missing_field", "field 'chosen' is missing")
    text = require_str(row, "chosen")                   # BadRow unless a non-empty string
"""

from __future__ import annotations

import dataclasses
import numbers
from typing import Any

from harness.data.schema import PreferencePair


class BadRow(Exception):
    """A malformed row. Adapters raise it (or yield it); the loader adds the file and row."""

    def __init__(self, reason: str, detail: str, where: str | None = None):
        super().__init__(f"{detail} ({reason})")
        self.reason, self.detail, self.where = reason, detail, where

    def located(self, where: str) -> BadRow:
        return self if self.where else BadRow(self.reason, self.detail, where)

    def message(self) -> str:
        return f"{self.where or '<unknown row>'}: {self.detail} ({self.reason})"


@dataclasses.dataclass(frozen=True)
class Drop:
    """A well-formed row the adapter's policy leaves out; counted under `reason`."""

    reason: str
    index: int | None = None


# ---------------------------------------------------------------- field helpers for adapters
def require(row: Any, key: str) -> Any:
    if not isinstance(row, dict):
        raise BadRow("not_an_object", f"row is a {type(row).__name__}, expected a JSON object")
    if key not in row or row[key] is None:
        raise BadRow("missing_field", f"field {key!r} is missing")
    return row[key]


def require_str(row: Any, key: str, *, allow_empty: bool = False) -> str:
    value = require(row, key)
    if not isinstance(value, str):
        raise BadRow("not_a_string", f"field {key!r} must be a string, got {type(value).__name__}")
    if not allow_empty and not value.strip():
        raise BadRow("empty_field", f"field {key!r} is empty")
    return value


def require_number(row: Any, key: str) -> float:
    value = require(row, key)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise BadRow("not_a_number", f"field {key!r} must be a number, got {value!r}")
    if value != value:  # NaN compares unequal to itself
        raise BadRow("not_a_number", f"field {key!r} is NaN")
    return float(value)


def optional_id(row: dict, key: str) -> str | None:
    """A dataset-provided id (string or integer), or None when the column is absent."""
    value = row.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise BadRow("not_a_string", f"field {key!r} must be a string id, got {type(value).__name__}")
    return str(value)


# ---------------------------------------------------------------- chat messages
ROLES = ("system", "user", "assistant")


def check_messages(value: Any, field: str) -> list[dict]:
    """A list of {role, content} dicts with known roles and string contents, normalised to exactly
    those two keys (datasets add extras such as "name"); a system turn only comes first."""
    if not isinstance(value, list):
        raise BadRow("bad_messages", f"{field} must be a list of {{role, content}} messages, got {type(value).__name__}")
    out = []
    for i, msg in enumerate(value):
        if not isinstance(msg, dict) or "role" not in msg or "content" not in msg:
            raise BadRow("bad_messages", f"{field}[{i}] must be a {{role, content}} object, got {msg!r:.80}")
        role, content = msg["role"], msg["content"]
        if role not in ROLES or (role == "system" and i > 0):
            where = " after the first message" if role == "system" else ""
            raise BadRow("bad_role", f"{field}[{i}] has role {role!r}{where}; expected one of {', '.join(ROLES)}")
        if not isinstance(content, str):
            raise BadRow("not_a_string", f"{field}[{i}].content must be a string, got {type(content).__name__}")
        out.append({"role": role, "content": content})
    return out


def check_prompt(value: Any, field: str) -> list[dict]:
    """A conversational prompt: valid messages, not empty, ending with the user turn to answer."""
    msgs = check_messages(value, field)
    if not msgs:
        raise BadRow("empty_prompt", f"{field} has no messages")
    if msgs[-1]["role"] != "user":
        raise BadRow("prompt_not_user_last", f"{field} must end with a user turn, ends with {msgs[-1]['role']!r}")
    if not msgs[-1]["content"].strip():
        raise BadRow("empty_prompt", f"{field}: the last user turn is empty")
    return msgs


# ---------------------------------------------------------------- the schema check
def check_pair(pair: Any) -> None:
    """Raise `BadRow` unless `pair` is a well-formed `PreferencePair` (every adapter's output passes here)."""
    if not isinstance(pair, PreferencePair):
        raise TypeError(f"an adapter yielded {type(pair).__name__}; expected PreferencePair, Drop or BadRow")
    if isinstance(pair.prompt, str):
        if not pair.prompt.strip():
            raise BadRow("empty_prompt", "the prompt is empty")
    else:
        check_prompt(pair.prompt, "prompt")
    for side in ("chosen", "rejected"):
        value = getattr(pair, side)
        if not isinstance(value, str):
            raise BadRow("not_a_string", f"{side} response must be a string, got {type(value).__name__}")
        if not value.strip():
            raise BadRow("empty_response", f"{side} response is empty")
    if pair.chosen == pair.rejected:
        raise BadRow("identical_responses", "chosen and rejected responses are identical")
    if not isinstance(pair.prompt_id, str) or not pair.prompt_id:
        raise BadRow("bad_prompt_id", f"prompt_id must be a non-empty string, got {pair.prompt_id!r}")
    if pair.gold is not None and not isinstance(pair.gold, str):
        raise BadRow("not_a_string", f"gold must be a string, got {type(pair.gold).__name__}")
