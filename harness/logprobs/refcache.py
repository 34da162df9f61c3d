"""Reference log-probs, computed once per (reference weights, token ids, precision) and cached.

    ref = reference_logps(model, pairs, cache_dir=out / "cache" / "refs", fingerprint=model_fingerprint(path),
                          pad_id=tok.pad_token_id, batch_size=32, device="cpu")
    ref.chosen, ref.rejected     # float64 tensors [N], aligned with `pairs`
    ref.hit                      # True when read from the cache

Why a cache: every run of a sweep (each beta, loss and learning rate) starts from the same
reference and the same data, so its log-probs are the same numbers; computing them once turns a
sweep's reference cost from N forwards into one. The key hashes what determines the values:
the reference weights (file hashes), the exact token ids of every pair (which captures the
tokenizer, the dataset, its processing and the max lengths) and the compute precision and
device type. Files are Parquet (`<cache_dir>/<key>.parquet`: index, prompt_id, chosen,
rejected), written atomically, so concurrent runs may race but never read half a file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path

import torch

from harness.accel import autocast
from harness.data.shared_prompt import collate_shared
from harness.data.tokenize import TokenizedPair, batches, collate
from harness.hashing import content_hash, file_hash
from harness.logprobs.logps import sequence_logps, split_pairs, supports_shared_prompt

WEIGHT_FILES = ("*.safetensors", "*.bin", "config.json")


@dataclasses.dataclass
class RefLogps:
    chosen: torch.Tensor  # [N] float64
    rejected: torch.Tensor  # [N] float64
    hit: bool
    path: Path | None = None


def model_fingerprint(path: str | Path) -> str:
    """Hash of a model directory's weights and config (cached per process by size + mtime)."""
    files = sorted(f for pattern in WEIGHT_FILES for f in Path(path).glob(pattern))
    stamp = tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files)
    return _fingerprint(stamp)


@functools.lru_cache(maxsize=64)
def _fingerprint(stamp: tuple) -> str:
    return content_hash([(Path(name).name, file_hash(name, n=32)) for name, _, _ in stamp], 32)


def pairs_hash(pairs: Sequence[TokenizedPair]) -> str:
    h = hashlib.sha256()
    for p in pairs:
        for ids in (p.prompt_ids, p.chosen_ids, p.rejected_ids):
            h.update(len(ids).to_bytes(4, "little"))
            h.update(b"".join(i.to_bytes(4, "little") for i in ids))
    return h.hexdigest()[:32]


def cache_key(fingerprint: str, pairs: Sequence[TokenizedPair], *, dtype, device: str, share_prompt: bool = False) -> str:
    # the layout changes float rounding (~1e-6), so it is part of the key: a run's reference
    # and policy log-probs then come from the same computation and agree exactly at step 0.
    # "v" moves when the forward's kernels change (v2: short rows' attention as products,
    # harness.models.fused), so a folder resumed after an upgrade does not mix the two
    return content_hash({"reference": fingerprint, "pairs": pairs_hash(pairs), "dtype": str(dtype),
                         "device": torch.device(device).type, "v": 2,
                         **({"layout": "shared_prefix"} if share_prompt else {})}, 24)


def reference_logps(model, pairs: Sequence[TokenizedPair], *, cache_dir: str | Path | None, fingerprint: str,
                    pad_id: int, batch_size: int = 32, device: str = "cpu", dtype=None,
                    share_prompt: bool = False, dist=None) -> RefLogps:
    """Cached summed log-probs of chosen and rejected responses under `model` (no grad).

    `model` may be a PEFT model: its adapters are disabled, so the reference is the base weights.
    It may also be a zero-argument callable returning the model, called only on a cache miss
    (a separate reference model is then never loaded when the cache hits).
    `dtype`: autocast dtype the training forward uses (None: float32); part of the key.
    `share_prompt`: one [shared prefix | chosen rest | rejected rest] row per pair (as the training forward), when
    the model supports it; part of the key.
    `dist` (harness.trainer.distributed.Dist): in a ddp/fsdp run every rank calls this; on a miss
    each computes its shard of the pairs, the shards are summed into every rank's copy (all_reduce
    of zero-filled tensors: exact), and rank 0 alone writes the cache.
    """
    key = cache_key(fingerprint, pairs, dtype=dtype, device=device, share_prompt=share_prompt)
    path = Path(cache_dir) / f"{key}.parquet" if cache_dir else None
    active = dist is not None and dist.active
    args = (model, pairs, path, pad_id, batch_size, device, dtype, share_prompt, dist, active)
    if path is None or active:  # ranks of one run share the work instead (and must not wait on each other)
        return _lookup_or_compute(*args)
    # the workers of a pool or Ray suite start their first runs at once and want the same cache:
    # one computes it while the others wait, then they read it (a lock per cache key)
    with _exclusive(path.with_name(f".{path.stem}.lock")):
        return _lookup_or_compute(*args)


@contextlib.contextmanager
def _exclusive(lock: Path):
    import fcntl

    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # released when the file closes, or its holder dies
        yield


def _lookup_or_compute(model, pairs, path, pad_id, batch_size, device, dtype, share_prompt, dist, active) -> RefLogps:
    cached = _read(path, pairs) if path is not None and path.is_file() else None
    if active:  # every rank takes the same branch, even if a file appeared between their reads
        hits = dist.all_reduce(torch.tensor([int(cached is not None)], device=device))
        cached = cached if int(hits.item()) == dist.world else None
    if cached is not None:
        return RefLogps(*cached, hit=True, path=path)
    if not isinstance(model, torch.nn.Module):
        model = model()
    idx = dist.shard(list(range(len(pairs)))) if active else range(len(pairs))
    chosen, rejected = compute_logps(model, [pairs[i] for i in idx], pad_id=pad_id, batch_size=batch_size,
                                     device=device, dtype=dtype, share_prompt=share_prompt)
    if active:
        both = torch.zeros(2, len(pairs), dtype=torch.float64)
        both[0, list(idx)], both[1, list(idx)] = chosen, rejected
        chosen, rejected = dist.all_reduce(both.to(device)).cpu()  # NCCL reduces CUDA tensors only
    if path is not None and (not active or dist.main):
        _write(path, pairs, chosen, rejected)
    return RefLogps(chosen, rejected, hit=False, path=path)


@contextlib.contextmanager
def as_reference(model, device: str, dtype):
    """The model as the reference: eval mode (no dropout), LoRA adapters off (PEFT: the reference is
    the base model), the training precision's autocast; its training mode comes back afterwards."""
    disable = getattr(model, "disable_adapter", None)
    was_training = model.training
    model.eval()
    try:
        with (disable() if callable(disable) else nullcontext()), autocast(device, dtype):
            yield model
    finally:
        model.train(was_training)


@torch.no_grad()
def compute_logps(model, pairs: Sequence[TokenizedPair], *, pad_id: int, batch_size: int, device: str,
                  dtype=None, share_prompt: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    pack = collate_shared if share_prompt and supports_shared_prompt(model) else collate
    chosen = torch.empty(len(pairs), dtype=torch.float64)
    rejected = torch.empty(len(pairs), dtype=torch.float64)
    with as_reference(model, device, dtype):
        for idx in batches([p.length for p in pairs], batch_size):
            batch = {k: v.to(device) for k, v in pack([pairs[i] for i in idx], pad_id).items()}
            c, r = split_pairs(sequence_logps(model, batch).logps.double().cpu())
            chosen[idx], rejected[idx] = c, r
    return chosen, rejected


def _read(path: Path, pairs: Sequence[TokenizedPair]):
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path).to_pydict()
    except Exception:  # a damaged file is recomputed, not trusted
        return None
    if table.get("prompt_id") != [p.prompt_id for p in pairs] or table.get("index") != [p.index for p in pairs]:
        return None
    return (torch.tensor(table["chosen"], dtype=torch.float64), torch.tensor(table["rejected"], dtype=torch.float64))


def _write(path: Path, pairs: Sequence[TokenizedPair], chosen: torch.Tensor, rejected: torch.Tensor) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"index": [p.index for p in pairs], "prompt_id": [p.prompt_id for p in pairs],
                      "chosen": chosen.tolist(), "rejected": rejected.tolist()})
    from harness.atomic import write_atomic

    write_atomic(path, lambda tmp: pq.write_table(table, tmp, compression="zstd"))
