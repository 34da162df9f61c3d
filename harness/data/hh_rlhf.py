"""Anthropic/hh-rlhf (all subsets): full ``"\\n\\nHuman: … \\n\\nAssistant: …"`` transcripts in
``chosen`` and ``rejected``.

    load_pairs("hh-rlhf")                                    # shipped harmless-base test (2,312 rows)
    load_pairs("hh-rlhf:helpful-base@train", options={"revision": "<sha>"})   # hub subset
    load_pairs("hh-rlhf:x.jsonl.gz", options={"form": "standard", "quirks": "error"})

Prompt = the transcript up to and including the last ``"\\n\\nAssistant:"`` of ``chosen``; the
responses are what follows it in each transcript. The DPO reference code slices ``rejected`` at
that same offset without checking; here ``rejected`` must start with the very same prompt text,
otherwise the row is a *quirk* and is never cut at a wrong offset.

Options:
- ``form``: ``conversational`` (default) turns the prompt into chat messages and strips the space
  that follows ``Assistant:`` from the responses; ``standard`` keeps the raw prompt string and the
  responses exactly as they follow it.
- ``quirks``: ``drop`` (default: counted in `LoadedPairs.dropped`) or ``error``. Known quirks of
  the data: ``prompt_mismatch`` (the transcripts differ before the last Assistant turn: 4 of 2,312
  harmless-base test rows), ``empty_response`` (an empty final Assistant turn: 4 rows there, all
  chosen), ``identical_responses`` (the same final turn on both sides) and, in conversational
  form, ``malformed_transcript`` (the prompt does not start with a Human turn or does not end
  with one) and ``repeated_speaker`` (two turns of one speaker in a row: 4 harmless-base test
  rows, 667, 763, 1319 and 1849, hold an inline ``Human:`` without its blank line, so two
  Assistant turns follow each other; strict chat templates need alternation, and merging the two
  would drop an ``Assistant:`` tag and rewrite the text, so such rows are dropped, never rewritten).

Exact reconstruction: ``reconstruct(pair)`` returns the original (chosen, rejected) strings from
``pair.meta`` (``raw_prompt`` and the stripped leading whitespace of each response).
"""

from __future__ import annotations

import re

from harness.data.io import Record
from harness.data.messages import FORMS
from harness.data.schema import PreferencePair
from harness.data.validate import BadRow, Drop, require_str
from harness.errors import DataError
from harness.hashing import content_hash

HUMAN, ASSISTANT = "\n\nHuman:", "\n\nAssistant:"
_TURN = re.compile(r"(\n\nHuman:|\n\nAssistant:)")
_ROLE = {HUMAN: "user", ASSISTANT: "assistant"}
QUIRK_POLICIES = ("drop", "error")


def load(req):
    form = req.option("form", "conversational", str, FORMS)
    quirks = req.option("quirks", "drop", str, QUIRK_POLICIES)
    return req.map_rows(lambda rec: convert(rec, form, quirks))


def convert(rec: Record, form: str, quirks: str) -> PreferencePair | Drop:
    chosen = require_str(rec.data, "chosen")
    rejected = require_str(rec.data, "rejected")
    cut = chosen.rfind(ASSISTANT)
    if cut < 0:
        raise BadRow("no_assistant_turn", "chosen has no '\\n\\nAssistant:' turn")
    raw_prompt = chosen[: cut + len(ASSISTANT)]
    if not rejected.startswith(raw_prompt):
        return _quirk(rec, quirks, "prompt_mismatch", "chosen and rejected differ before the last Assistant turn "
                      f"of chosen (they agree on {_common_prefix(chosen, rejected)} of {len(raw_prompt)} prompt characters)")
    responses = chosen[len(raw_prompt):], rejected[len(raw_prompt):]
    for side, text in zip(("chosen", "rejected"), responses, strict=True):
        if not text.strip():
            return _quirk(rec, quirks, "empty_response", f"the {side} transcript's last Assistant turn is empty")
    if responses[0].strip() == responses[1].strip():
        return _quirk(rec, quirks, "identical_responses", "chosen and rejected give the same final answer")
    prompt_id = content_hash(raw_prompt)
    if form == "standard":
        return PreferencePair(raw_prompt, responses[0], responses[1], rec.index, prompt_id)
    messages = to_messages(raw_prompt)
    if messages is None:
        return _quirk(rec, quirks, "malformed_transcript",
                      "the prompt does not start with '\\n\\nHuman:' or does not end with a Human turn")
    if isinstance(messages, str):
        return _quirk(rec, quirks, "repeated_speaker", f"two {messages} turns in a row (an inline 'Human:' without "
                      "its blank line?); merging them would rewrite the transcript [form: standard keeps it]")
    stripped = [r.lstrip() for r in responses]
    leads = [r[: len(r) - len(s)] for r, s in zip(responses, stripped, strict=True)]
    meta = {"raw_prompt": raw_prompt, "chosen_lead": leads[0], "rejected_lead": leads[1]}
    return PreferencePair(messages, stripped[0], stripped[1], rec.index, prompt_id, meta=meta)


def to_messages(raw_prompt: str) -> list[dict] | str | None:
    """Chat messages of a prompt ending in ``"\\n\\nAssistant:"``; None when it is not a clean
    Human-first transcript whose last turn before the final marker is the Human's; the role's
    name ("Assistant", "Human") when one speaker has two turns in a row."""
    parts = _TURN.split(raw_prompt)  # ["", marker, text, marker, text, ..., "\n\nAssistant:", ""]
    if parts[0] != "" or len(parts) < 5 or parts[1] != HUMAN:
        return None
    messages: list[dict] = []
    for marker, text in zip(parts[1:-2:2], parts[2:-2:2], strict=True):
        role, content = _ROLE[marker], text.strip()
        if messages and messages[-1]["role"] == role:
            return marker.strip().rstrip(":")
        messages.append({"role": role, "content": content})
    return messages if messages[-1]["role"] == "user" else None


def reconstruct(pair: PreferencePair) -> tuple[str, str]:
    """The original (chosen, rejected) transcripts of a pair this adapter produced."""
    if isinstance(pair.prompt, str):
        return pair.prompt + pair.chosen, pair.prompt + pair.rejected
    raw = pair.meta["raw_prompt"]
    return raw + pair.meta["chosen_lead"] + pair.chosen, raw + pair.meta["rejected_lead"] + pair.rejected


def _quirk(rec: Record, policy: str, reason: str, detail: str) -> Drop:
    if policy == "error":
        raise DataError(f"{rec.where}: {detail} ({reason}) [option quirks: drop skips and counts such rows]")
    return Drop(reason, rec.index)


def _common_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n
