"""The normalised preference pair every adapter produces and every consumer reads."""

from __future__ import annotations

import dataclasses
from typing import Any

Message = dict  # {"role": "user" | "assistant" | "system", "content": str}
Prompt = str | list  # a plain string, or a list of Messages (conversational form)


@dataclasses.dataclass(frozen=True)
class PreferencePair:
    """One (prompt, chosen, rejected) triple.

    prompt:    a string ("standard" form) or a list of {role, content} messages ending with a
               user turn ("conversational" form; rendered with the tokenizer's chat template).
    chosen / rejected: the two responses, as strings (assistant content only).
    index:     the row's 0-based position in its source file, for error messages and export.
    prompt_id: stable id of the prompt (dataset-provided or a content hash).
    gold:      the gold final answer when the task is verifiable (math), else None.
    """

    prompt: Prompt
    chosen: str
    rejected: str
    index: int
    prompt_id: str
    gold: str | None = None
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict:
        return {"prompt": self.prompt, "chosen": self.chosen, "rejected": self.rejected,
                "index": self.index, "prompt_id": self.prompt_id, "gold": self.gold, **({"meta": self.meta} if self.meta else {})}
