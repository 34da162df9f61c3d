"""One row per pair: [prompt | chosen | rejected], the prompt computed once for both responses.

    batch = collate_shared(pairs, pad_id)        # instead of tokenize.collate(pairs, pad_id)
    out = sequence_logps(model, batch)           # same [2B] output: chosen rows, then rejected

Why: the two-row layout (`tokenize.collate`) runs the prompt through the model twice, once
before each response. Here the rejected tokens sit after the chosen ones but are masked from
them, and their position ids restart where the prompt ends, so every token sees exactly what it
would see in its own row: the logits (and hence log-probs) are the two-row ones up to float
rounding. The forward shrinks from 2P + C + R to P + C + R tokens a pair; on multi-turn chat
data (long prompts, e.g. hh-rlhf) that is most of the compute.

Batch tensors (B pairs, L = longest P + C + R in the batch, right-padded):
  input_ids     [B, L]   token ids, pad_id after the row's end
  segments      [B, L]   0 prompt, 1 chosen, 2 rejected, -1 padding (the mask is built from it)
  position_ids  [B, L]   0..P+C-1 over prompt + chosen, then P..P+R-1 again over rejected
  score_pos     [N]      flat index (b * L + t) of the position whose logits predict each scored token
  targets       [N]      the scored tokens (every chosen and rejected token)
  score_rows    [N]      output row of each scored token: b (chosen) or B + b (rejected)
  response_lengths [2B]  tokens scored per output row
  pair_tokens   []       2P + C + R summed: the tokens the two-row layout would hold (throughput
                         is reported in these units under both layouts, so figures compare)
"""

from __future__ import annotations

from collections.abc import Sequence

PROMPT, CHOSEN, REJECTED, PAD = 0, 1, 2, -1


def collate_shared(pairs: Sequence, pad_id: int) -> dict:
    import torch

    width = max(len(p.prompt_ids) + len(p.chosen_ids) + len(p.rejected_ids) for p in pairs)
    n = len(pairs)
    ids, segs, pos = [], [], []
    score_pos, targets, rows = [], [], []
    for b, p in enumerate(pairs):
        n_p, n_c, n_r = len(p.prompt_ids), len(p.chosen_ids), len(p.rejected_ids)
        if not (n_p and n_c and n_r):  # tokenize_pairs drops such rows; a hand-made pair may not
            raise ValueError(f"pair {p.index}: empty prompt or response ({n_p}, {n_c}, {n_r} tokens)")
        pad = width - n_p - n_c - n_r
        ids += [*p.prompt_ids, *p.chosen_ids, *p.rejected_ids] + [pad_id] * pad
        segs += [PROMPT] * n_p + [CHOSEN] * n_c + [REJECTED] * n_r + [PAD] * pad
        pos += [*range(n_p + n_c), *range(n_p, n_p + n_r)] + [0] * pad
        base = b * width
        # token j of a response is predicted at the position before it: the prompt's last
        # position for j = 0 (for both responses), else the response's own previous token
        score_pos += [base + n_p - 1 + j for j in range(n_c)]
        score_pos += [base + n_p - 1] + [base + n_p + n_c + j - 1 for j in range(1, n_r)]
        targets += [*p.chosen_ids, *p.rejected_ids]
        rows += [b] * n_c + [n + b] * n_r
    lengths = [len(p.chosen_ids) for p in pairs] + [len(p.rejected_ids) for p in pairs]
    pair_tokens = sum(2 * len(p.prompt_ids) + len(p.chosen_ids) + len(p.rejected_ids) for p in pairs)
    long = torch.long
    return {
        "input_ids": torch.tensor(ids, dtype=long).view(n, width),
        "segments": torch.tensor(segs, dtype=torch.int8).view(n, width),
        "position_ids": torch.tensor(pos, dtype=long).view(n, width),
        "score_pos": torch.tensor(score_pos, dtype=long),
        "targets": torch.tensor(targets, dtype=long),
        "score_rows": torch.tensor(rows, dtype=long),
        "response_lengths": torch.tensor(lengths, dtype=long),
        "pair_tokens": torch.tensor(pair_tokens, dtype=long),
    }


def attention_mask(segments, *, additive_dtype=None):
    """[B, 1, L, L] mask from `segments`: causal, no padding keys, rejected never sees chosen.

    Boolean (True = attend) for SDPA; with `additive_dtype`, 0 / dtype-min for eager attention.
    A padding query still sees the real tokens before it, so no softmax row is empty (NaN-free).
    """
    import torch

    length = segments.shape[1]
    pos = torch.arange(length, device=segments.device)
    causal = pos[:, None] >= pos[None, :]
    q, k = segments[:, :, None], segments[:, None, :]
    allowed = causal & (k != PAD) & ~((q == REJECTED) & (k == CHOSEN))
    allowed = allowed.unsqueeze(1)
    if additive_dtype is None:
        return allowed
    zero = torch.zeros((), dtype=additive_dtype, device=segments.device)
    return torch.where(allowed, zero, torch.finfo(additive_dtype).min)
