"""Per-pair features of preference pairs under the reference: lengths, overlap and CHES, cached.

    feats = pair_features(model, pairs, cache_dir=out / "cache" / "features", fingerprint=fp,
                          pad_id=tok.pad_token_id, batch_size=32, device="cpu")
    feats.columns["ches"]        # list[float], aligned with `pairs`
    feats.hit                    # True when read from the cache

CHES (centered hidden embedding similarity; Razin et al., "Unintentional Unalignment: Likelihood
Displacement in Direct Preference Optimization", ICLR 2025). For a pair (x, y+, y-), h+ are the
reference's last-layer hidden states (the decoder's output, after its final norm: the vectors the
LM head maps to logits) that predict each token of y+, teacher-forced on x followed by y+: the
positions from the last prompt token to the one before the last response token, one per response
token. h- likewise for y-. Then

    ches      = <sum h+, sum h->  - ||sum h+||^2          (sum form; scales with length squared)
    ches_mean = <mean h+, mean h-> - ||mean h+||^2        (length-normalised form)

Sign convention: larger (less negative) means the two responses' hidden embeddings are more
alike, which the paper finds predicts likelihood displacement of y+: 0 when the two sums coincide,
-||sum h+||^2 when they are orthogonal, positive when sum h- reaches further along sum h+ than itself.

The other features: prompt/chosen/rejected token lengths (after truncation, EOS included), the
shared-prefix tokens of the two responses and their token edit distance (Levenshtein, unit costs).

Why a separate pass from harness.logprobs.refcache: the reference log-prob files keep their format
and keys (no cache in use is invalidated), and hidden states are read only where features are
wanted (held-out pairs, and training pairs when `data.filter` asks). The key holds what the
values depend on, as the reference cache's does: weights, token ids, precision, device type.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import torch

from harness.data.tokenize import IGNORE, TokenizedPair, batches, collate
from harness.hashing import content_hash
from harness.logprobs.refcache import _exclusive, as_reference, pairs_hash

COLUMNS = ("prompt_tokens", "chosen_tokens", "rejected_tokens", "shared_prefix_tokens", "edit_distance",
           "ches", "ches_mean")


@dataclasses.dataclass
class PairFeatures:
    columns: dict[str, list]  # COLUMNS -> values aligned with the pairs
    hit: bool


def ches(h_plus: torch.Tensor, h_minus: torch.Tensor) -> tuple[float, float]:
    """(sum form, mean form) of CHES from the [L+, H] and [L-, H] hidden states, in float64."""
    hp, hm = h_plus.double(), h_minus.double()
    sp, sm = hp.sum(0), hm.sum(0)
    mp, mm = hp.mean(0), hm.mean(0)
    return float(sp @ sm - sp @ sp), float(mp @ mm - mp @ mp)


def shared_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def edit_distance(a: Sequence[int], b: Sequence[int]) -> int:
    """Levenshtein distance over tokens (insert, delete, substitute: cost 1), one row at a time."""
    k = shared_prefix(a, b)  # a common prefix (and suffix) costs nothing
    a, b = list(a[k:]), list(b[k:])
    while a and b and a[-1] == b[-1]:
        a.pop(), b.pop()
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


def _decoder_hidden(model, batch: dict) -> torch.Tensor:
    """Last-layer hidden states [R, T, H] (after the final norm)."""
    from harness.logprobs.logps import _split_head

    split = _split_head(model)
    if split is not None:
        return split[0](input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                        use_cache=False).last_hidden_state
    out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], use_cache=False,
                output_hidden_states=True)
    return out.hidden_states[-1]


@torch.no_grad()
def compute_ches(model, pairs: Sequence[TokenizedPair], *, pad_id: int, batch_size: int, device: str,
                 dtype=None) -> tuple[list[float], list[float]]:
    """CHES (sum, mean) per pair; batched two-row layout (chosen rows, then rejected rows)."""
    out_sum, out_mean = [0.0] * len(pairs), [0.0] * len(pairs)
    with as_reference(model, device, dtype):
        for idx in batches([p.length for p in pairs], batch_size):
            batch = {k: v.to(device) for k, v in collate([pairs[i] for i in idx], pad_id).items()}
            hidden = _decoder_hidden(model, batch)[:, :-1].double().cpu()  # position t predicts token t+1
            scored = (batch["labels"][:, 1:] != IGNORE).cpu()
            half = len(idx)
            for j, i in enumerate(idx):
                out_sum[i], out_mean[i] = ches(hidden[j][scored[j]], hidden[half + j][scored[half + j]])
    return out_sum, out_mean


def token_features(pairs: Sequence[TokenizedPair]) -> dict[str, list[int]]:
    return {"prompt_tokens": [len(p.prompt_ids) for p in pairs],
            "chosen_tokens": [len(p.chosen_ids) for p in pairs],
            "rejected_tokens": [len(p.rejected_ids) for p in pairs],
            "shared_prefix_tokens": [shared_prefix(p.chosen_ids, p.rejected_ids) for p in pairs],
            "edit_distance": [edit_distance(p.chosen_ids, p.rejected_ids) for p in pairs]}


def drop_top(pairs: Sequence[TokenizedPair], values: Sequence[float], fraction: float) -> tuple[list, int]:
    """(`pairs` without the floor(fraction x N) with the highest `values`, in their order; how many went).
    Ties at the cut go by pair order (the later pair is dropped first), so the result is deterministic."""
    n = int(fraction * len(pairs))
    order = sorted(range(len(pairs)), key=lambda i: (values[i], i), reverse=True)
    gone = set(order[:n])
    return [p for i, p in enumerate(pairs) if i not in gone], n


def cache_key(fingerprint: str, pairs: Sequence[TokenizedPair], *, dtype, device: str) -> str:
    return content_hash({"reference": fingerprint, "pairs": pairs_hash(pairs), "dtype": str(dtype),
                         "device": torch.device(device).type, "what": "pair_features", "v": 1}, 24)


def pair_features(model, pairs: Sequence[TokenizedPair], *, cache_dir: str | Path | None, fingerprint: str,
                  pad_id: int, batch_size: int = 32, device: str = "cpu", dtype=None) -> PairFeatures:
    """COLUMNS for `pairs` under the reference `model` (or a zero-argument callable returning it,
    called only on a cache miss), read from or written to `<cache_dir>/<key>.parquet`."""
    if not pairs:
        return PairFeatures({c: [] for c in COLUMNS}, hit=False)
    path = Path(cache_dir) / f"{cache_key(fingerprint, pairs, dtype=dtype, device=device)}.parquet" if cache_dir else None
    if path is None:
        return PairFeatures(_compute(model, pairs, pad_id, batch_size, device, dtype), hit=False)
    with _exclusive(path.with_name(f".{path.stem}.lock")):  # concurrent workers: one computes, the others read
        cached = _read(path, pairs)
        if cached is not None:
            return PairFeatures(cached, hit=True)
        cols = _compute(model, pairs, pad_id, batch_size, device, dtype)
        _write(path, pairs, cols)
    return PairFeatures(cols, hit=False)


def _compute(model, pairs, pad_id, batch_size, device, dtype) -> dict[str, list]:
    if not isinstance(model, torch.nn.Module):
        model = model()
    s, m = compute_ches(model, pairs, pad_id=pad_id, batch_size=batch_size, device=device, dtype=dtype)
    return {**token_features(pairs), "ches": s, "ches_mean": m}


def _read(path: Path, pairs: Sequence[TokenizedPair]) -> dict[str, list] | None:
    import pyarrow.parquet as pq

    if not path.is_file():
        return None
    try:
        table = pq.read_table(path).to_pydict()
    except Exception:  # a damaged file is recomputed, not trusted
        return None
    if table.get("index") != [p.index for p in pairs] or any(c not in table for c in COLUMNS):
        return None
    return {c: table[c] for c in COLUMNS}


def _write(path: Path, pairs: Sequence[TokenizedPair], cols: dict[str, list]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from harness.atomic import write_atomic

    table = pa.table({"index": [p.index for p in pairs], "prompt_id": [p.prompt_id for p in pairs], **cols})
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, lambda tmp: pq.write_table(table, tmp, compression="zstd"))
