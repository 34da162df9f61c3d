"""Prompt forms shared by the adapters: a plain string ("standard") or chat messages ("conversational").

    as_prompt("What is 2+2?", "conversational")      # [{"role": "user", "content": "What is 2+2?"}]
    prompt, response = split_conversation(row["chosen"], "chosen", prompt=row["prompt"])

Datasets store a response either as a string, as a one-message list ``[{"role": "assistant", ...}]``
(TRL's explicit-prompt form) or as the whole conversation ending with the assistant turn
(UltraFeedback, TRL's implicit-prompt form). `split_conversation` accepts all three and checks that
the conversation really starts with the prompt, so a pair can never mix two different prompts.
"""

from __future__ import annotations

from typing import Any

from harness.data.validate import BadRow, check_messages, check_prompt

FORMS = ("standard", "conversational")


def as_prompt(text: str, form: str) -> str | list[dict]:
    """`text` as a standard prompt, or as a one-turn user conversation."""
    return [{"role": "user", "content": text}] if form == "conversational" else text


def same_prompt(prefix: list[dict], prompt: str | list[dict]) -> bool:
    """Does the conversation prefix equal `prompt` (a string prompt equals one user turn)?"""
    if isinstance(prompt, str):
        return len(prefix) == 1 and prefix[0]["role"] == "user" and prefix[0]["content"] == prompt
    return prefix == prompt


def split_conversation(value: Any, field: str, prompt: str | list[dict] | None = None) -> tuple[list[dict], str]:
    """(prompt messages before the response, response text) from a conversation ending in an
    assistant turn. With `prompt`, a non-empty prefix must equal it (reason ``prompt_mismatch``)."""
    msgs = check_messages(value, field)
    if not msgs or msgs[-1]["role"] != "assistant":
        last = msgs[-1]["role"] if msgs else "nothing"
        raise BadRow("bad_role", f"{field} must end with an assistant turn, ends with {last!r}")
    prefix = msgs[:-1]
    if prompt is not None and prefix and not same_prompt(prefix, prompt):
        raise BadRow("prompt_mismatch", f"{field} does not start with the row's prompt")
    return prefix, msgs[-1]["content"]


def response(value: Any, field: str, prompt: str | list[dict] | None) -> str:
    """A response given as a string or as messages (see `split_conversation`)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return split_conversation(value, field, prompt)[1]
    raise BadRow("not_a_string", f"field {field!r} must be a string or a list of messages, got {type(value).__name__}")


def implicit_prompt(chosen: Any, rejected: Any) -> tuple[list[dict], str, str]:
    """Prompt = the shared conversation before the last turn of two full conversations."""
    p_chosen, chosen_text = split_conversation(chosen, "chosen")
    p_rejected, rejected_text = split_conversation(rejected, "rejected")
    if p_chosen != p_rejected:
        raise BadRow("prompt_mismatch", "chosen and rejected conversations differ before their last turn")
    return check_prompt(p_chosen, "prompt (the turns before the response)"), chosen_text, rejected_text


def prompt_text(prompt: str | list[dict]) -> str:
    """A flat string for length statistics and previews (not a chat template)."""
    if isinstance(prompt, str):
        return prompt
    return "\n".join(f"{m['role']}: {m['content']}" for m in prompt)
