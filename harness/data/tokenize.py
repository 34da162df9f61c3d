"""Preference pairs → token ids → padded batches for one chosen+rejected forward.

    pairs, dropped = tokenize_pairs(pairs, tok, max_prompt_len=128, max_response_len=128, on_bad_row="skip")
    for idx in batches([p.length for p in pairs], batch_size=16, seed=0, epoch=0):
        batch = collate([pairs[i] for i in idx], pad_id=tok.pad_token_id)

Tokenisation (done once per pair, not per epoch or per loss):
- prompt: a string is tokenised with the tokenizer's special tokens (a BOS if it adds one); a
  message list is rendered with the chat template (add_generation_prompt) when the tokenizer has
  one, else as "User: ...\n\nAssistant:" text.
- responses: tokenised without special tokens, then EOS appended, so the model learns to stop.

Truncation policy:
- the prompt keeps its END (the last `max_prompt_len` tokens: the question nearest the answer);
- each response keeps its START (the first `max_response_len` tokens, EOS included in the count,
  so a cut response has no EOS);
- a pair whose prompt or a response is empty (nothing to condition on / nothing to score) is a
  bad row: `on_bad_row="error"` raises a DataError naming the row, "skip" drops it;
- a pair whose chosen and rejected ids are identical after truncation carries no preference
  signal (h = 0 for every policy): it is always dropped and counted under "identical".
`dropped` maps each reason to its count (reasons with no drop are absent). A cut is not a drop:
each pair records whether its prompt or a response was cut (`truncated(pairs)` counts them; a run
stores the counts in `runs.truncated_json` and warns when many are cut).
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterable, Sequence

from harness.data.schema import PreferencePair
from harness.errors import DataError

IGNORE = -100  # label of positions that are not scored (prompt, padding)


@dataclasses.dataclass(frozen=True)
class TokenizedPair:
    index: int
    prompt_id: str
    prompt_ids: tuple[int, ...]
    chosen_ids: tuple[int, ...]
    rejected_ids: tuple[int, ...]
    # what the length limits cut (counted per run: runs.truncated_json), not part of the pair's identity
    prompt_cut: bool = dataclasses.field(default=False, compare=False)
    response_cut: bool = dataclasses.field(default=False, compare=False)  # chosen or rejected

    @property
    def length(self) -> int:
        """Longest row this pair contributes to a batch (prompt + longer response)."""
        return len(self.prompt_ids) + max(len(self.chosen_ids), len(self.rejected_ids))


def render_prompt(prompt, tokenizer) -> tuple[str, bool]:
    """(text, add_special_tokens) for a string or message-list prompt."""
    if isinstance(prompt, str):
        return prompt, True
    if getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=False)
        return text, False  # the template already holds any BOS
    turns = [f"{m['role'].capitalize()}: {m['content']}" for m in prompt]
    return "\n\n".join(turns) + "\n\nAssistant:", True


def tokenize_pairs(pairs: Iterable[PreferencePair], tokenizer, *, max_prompt_len: int, max_response_len: int,
                   on_bad_row: str = "error") -> tuple[list[TokenizedPair], dict[str, int]]:
    """Tokenise `pairs` (see the module docstring for the truncation policy)."""
    pairs = list(pairs)
    eos = tokenizer.eos_token_id
    if eos is None:
        raise DataError("tokenizer has no EOS token; responses need one to learn to stop")
    rendered = [render_prompt(p.prompt, tokenizer) for p in pairs]
    prompt_ids = _encode_grouped(tokenizer, rendered)
    chosen = _encode(tokenizer, [p.chosen for p in pairs], special=False)
    rejected = _encode(tokenizer, [p.rejected for p in pairs], special=False)

    out: list[TokenizedPair] = []
    dropped: dict[str, int] = {}
    for pair, p_ids, c_ids, r_ids in zip(pairs, prompt_ids, chosen, rejected, strict=True):
        reason = ("empty_prompt" if not p_ids else
                  "empty_response" if not c_ids or not r_ids else None)
        if reason:
            if on_bad_row == "error":
                raise DataError(f"row {pair.index} (prompt_id {pair.prompt_id}): {reason.replace('_', ' ')} "
                                "after tokenisation (set data.on_bad_row=skip to drop such rows)")
            dropped[reason] = dropped.get(reason, 0) + 1
            continue
        tp = TokenizedPair(pair.index, pair.prompt_id, tuple(p_ids[-max_prompt_len:]),
                           tuple((c_ids + [eos])[:max_response_len]), tuple((r_ids + [eos])[:max_response_len]),
                           prompt_cut=len(p_ids) > max_prompt_len,
                           response_cut=max(len(c_ids), len(r_ids)) + 1 > max_response_len)
        if tp.chosen_ids == tp.rejected_ids:
            dropped["identical"] = dropped.get("identical", 0) + 1
            continue
        out.append(tp)
    return out, dropped


def truncated(pairs: Sequence[TokenizedPair]) -> dict[str, int]:
    """How many of `pairs` the limits cut: {"prompt": n, "response": n} (a response: chosen or rejected)."""
    return {"prompt": sum(p.prompt_cut for p in pairs), "response": sum(p.response_cut for p in pairs)}


def _encode(tokenizer, texts: list[str], *, special: bool) -> list[list[int]]:
    if not texts:
        return []
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None and backend.truncation is None and backend.padding is None:
        # A fast tokenizer's own batch encode gives the same ids: transformers' __call__ wraps
        # this very call, then spends ~8x its time converting every encoding to Python objects.
        return [e.ids for e in backend.encode_batch(texts, add_special_tokens=special)]
    return [list(ids) for ids in tokenizer(texts, add_special_tokens=special)["input_ids"]]


def _encode_grouped(tokenizer, rendered: list[tuple[str, bool]]) -> list[list[int]]:
    # One batched call per add_special_tokens value (fast tokenizers parallelise a batch).
    out: list[list[int]] = [[] for _ in rendered]
    for special in (True, False):
        idx = [i for i, (_, s) in enumerate(rendered) if s is special]
        for i, ids in zip(idx, _encode(tokenizer, [rendered[i][0] for i in idx], special=special), strict=True):
            out[i] = ids
    return out


def collate(pairs: Sequence[TokenizedPair], pad_id: int) -> dict:
    """Pack chosen rows then rejected rows into one right-padded batch.

    Returns tensors: input_ids [2B, T], attention_mask [2B, T], labels [2B, T] (IGNORE on prompt
    and padding; unshifted, HF convention), response_lengths [2B], pair_tokens [] (real tokens);
    T is this batch's longest row. `shared_prompt.collate_shared` is the one-row-per-pair layout.
    """
    import torch

    rows = [(p.prompt_ids, p.chosen_ids) for p in pairs] + [(p.prompt_ids, p.rejected_ids) for p in pairs]
    width = max(len(a) + len(b) for a, b in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (prompt, response) in enumerate(rows):
        n_p, n = len(prompt), len(prompt) + len(response)
        input_ids[i, :n] = torch.tensor(prompt + response)
        labels[i, n_p:n] = torch.tensor(response)
        mask[i, :n] = 1
    lengths = torch.tensor([len(r) for _, r in rows], dtype=torch.long)
    return {"input_ids": input_ids, "attention_mask": mask, "labels": labels, "response_lengths": lengths,
            "pair_tokens": mask.sum()}


def batches(lengths: Sequence[int], batch_size: int, *, seed: int | None = None, epoch: int = 0,
            group: int = 50, max_waste: float = 0.15) -> list[list[int]]:
    """Index batches for one epoch, keeping similar lengths together when padding would cost.

    seed None: sorted by length, longest first (inference; a too-long batch fails at once).
    seed given: shuffle with (seed, epoch). If random batches would waste more than `max_waste`
    of their token slots on padding, sort within groups of `group` batches and shuffle the
    batches instead: little padding, still random order. Sorting is not free: it makes each
    batch homogeneous in length (on arith, length tracks the number of digits, i.e. carries),
    which measurably slowed SFT of the tiny model, so near-uniform lengths stay unsorted.
    Identical for the same (seed, epoch).
    """
    order = list(range(len(lengths)))
    if seed is None:
        order.sort(key=lambda i: -lengths[i])
        return _chunks(order, batch_size)
    rng = random.Random(f"batches:{seed}:{epoch}")
    rng.shuffle(order)
    plain = _chunks(order, batch_size)
    if padding_fraction(plain, lengths) <= max_waste:
        return plain
    span = batch_size * group
    out = []
    for start in range(0, len(order), span):
        out += _chunks(sorted(order[start:start + span], key=lambda i: lengths[i]), batch_size)
    rng.shuffle(out)
    return out


def padding_fraction(index_batches: list[list[int]], lengths: Sequence[int]) -> float:
    """Share of the padded token slots that are padding."""
    slots = sum(len(b) * max(lengths[i] for i in b) for b in index_batches)
    return 1.0 - sum(lengths) / slots if slots else 0.0


def _chunks(order: list[int], size: int) -> list[list[int]]:
    return [order[i:i + size] for i in range(0, len(order), size)]
