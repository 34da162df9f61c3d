"""Score (prompt, response) pairs with any Hugging Face sequence-classification reward model.

    rm = RewardModel("results/rm-hh")                   # a local dir or a hub id (offline cache)
    rm.score(["What is 2+2?"], ["4"])                   # [1.73]  (logit 0 of each pair)
    rm.heldout_accuracy                                 # from rm.json when `harness train-rm` made it

Input format (shared with `harness.reward.classifier_train`, so a trained RM is scored the way it learnt):
- an RM whose tokenizer has a chat template gets the conversation (prompt messages + the response
  as the assistant turn) rendered by that template, truncated from the left (the response stays);
- any other RM gets a text pair (prompt, response): a message-list prompt is flattened into the
  hh-rlhf transcript form ``\\n\\nHuman: …\\n\\nAssistant:``; the prompt keeps its end and the
  response its start when the pair exceeds `max_length`.
A tokenizer without a pad token borrows the model's `pad_token_id`; with neither, batching would
score padding, so it is an error.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

from harness.errors import HarnessError

INFO_FILE = "rm.json"  # written by classifier_train (or implicit) next to the weights: backbone, held-out accuracy, ...
_ROLES = {"user": "Human", "assistant": "Assistant", "system": "System"}


def flatten_prompt(prompt) -> str:
    """A message list as an hh-rlhf style transcript ending in ``Assistant:``; strings unchanged."""
    if isinstance(prompt, str):
        return prompt
    turns = "".join(f"\n\n{_ROLES.get(m['role'], m['role'].capitalize())}: {m['content']}" for m in prompt)
    return turns + "\n\nAssistant:"


def encode_pair(tokenizer, prompt, response: str, max_length: int) -> dict:
    """Token ids of one (prompt, response) for a reward model (see the module docstring)."""
    if getattr(tokenizer, "chat_template", None):
        msgs = ([{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt))
        text = tokenizer.apply_chat_template(msgs + [{"role": "assistant", "content": response}], tokenize=False)
        ids = tokenizer(text, add_special_tokens=False)["input_ids"][-max_length:]
        return {"input_ids": ids, "attention_mask": [1] * len(ids)}
    text = flatten_prompt(prompt)
    if tokenizer.is_fast:  # cut at token boundaries, by character offsets
        budget = max_length - tokenizer.num_special_tokens_to_add(pair=True)
        p = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)["offset_mapping"]
        r = tokenizer(response, add_special_tokens=False, return_offsets_mapping=True, verbose=False)["offset_mapping"]
        r_keep = min(len(r), max(budget - len(p), budget // 2))
        p_keep = min(len(p), budget - r_keep)
        if r_keep < len(r):
            response = response[: r[r_keep - 1][1]] if r_keep else ""
        if p_keep < len(p):
            text = text[p[len(p) - p_keep][0]:] if p_keep else ""
    enc = tokenizer(text, response, truncation="longest_first", max_length=max_length)
    return {k: list(v) for k, v in enc.items()}


def load_info(path: str | Path) -> dict:
    f = Path(path) / INFO_FILE
    return json.loads(f.read_text()) if f.is_file() else {}


class RewardModel:
    def __init__(self, path: str | Path, *, batch_size: int = 16, max_length: int = 512, device: str = "auto",
                 trust_remote_code: bool = False):
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        from harness.accel import resolve_device

        self.path = str(path)
        local = Path(path).expanduser()
        if not local.is_dir() and not _hub_like(str(path)):
            raise HarnessError(f"reward model {str(path)!r}: no such directory")
        from harness.models.custom_code import EVAL_ADVICE, check_custom_code

        check_custom_code(local, trust=trust_remote_code, what="reward model", advice=EVAL_ADVICE)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(path), trust_remote_code=trust_remote_code)
            load = AutoModelForSequenceClassification.from_pretrained
            self.model = load(str(path), trust_remote_code=trust_remote_code, dtype=torch.float32)
        except (OSError, ValueError) as e:
            raise HarnessError(f"reward model {str(path)!r}: cannot load it as a sequence-classification model "
                               f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
        # as in training (classifier_train): real tokens keep positions 0..n-1 whatever the model does
        # with position ids under padding; decoder RMs read the last non-pad token
        self.tokenizer.padding_side = "right"
        if self.tokenizer.pad_token_id is None:
            pad = self.model.config.pad_token_id
            if pad is None:
                raise HarnessError(f"reward model {str(path)!r}: its tokenizer has no pad token and its config no "
                                   "pad_token_id, so batched scoring cannot mask padding; set pad_token in "
                                   "tokenizer_config.json (or pad_token_id in config.json)")
            self.tokenizer.pad_token_id = pad
        if self.model.config.pad_token_id is None:  # decoder RMs find the last token through it
            self.model.config.pad_token_id = self.tokenizer.pad_token_id
        self.device = resolve_device(device, key="eval.device")
        self.model.to(self.device).eval()
        self.batch_size, self.max_length = batch_size, max_length
        self.info = load_info(path) if local.is_dir() else {}

    @property
    def heldout_accuracy(self) -> float:
        acc = self.info.get("heldout_accuracy")
        return float(acc) if acc is not None else math.nan

    def score(self, prompts: Sequence, responses: Sequence[str]) -> list[float]:
        """Reward of each (prompt, response): the model's logit 0."""
        import torch

        encoded = [encode_pair(self.tokenizer, p, r, self.max_length) for p, r in zip(prompts, responses)]
        order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i]["input_ids"]))  # little padding
        out = [math.nan] * len(encoded)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start:start + self.batch_size]
            batch = self.tokenizer.pad([encoded[i] for i in chunk], return_tensors="pt")
            with torch.no_grad():
                logits = self.model(**{k: v.to(self.device) for k, v in batch.items()}).logits
            for row, i in enumerate(chunk):
                out[i] = float(logits[row, 0])
        return out


def _hub_like(name: str) -> bool:
    """"org/name" (not a relative or absolute path): worth asking the hub cache for."""
    parts = name.split("/")
    return len(parts) == 2 and all(parts) and not name.startswith((".", "~"))

