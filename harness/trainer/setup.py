"""Everything a run needs before its first step: data, tokenizer, policy, reference log-probs.

    session = prepare(cfg, out_dir, reference_dir=None)

Every user error (config, data, missing model) surfaces here as a HarnessError, before any
training. Order matters: reference log-probs are computed from the *initial* policy weights,
before a resumed run loads its checkpoint into the model.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import torch

from harness.accel import compute_dtype, resolve_device
from harness.config import to_dict
from harness.errors import ConfigError
from harness.hashing import canonical_json
from harness.logprobs.logps import supports_shared_prompt
from harness.logprobs.refcache import RefLogps, model_fingerprint, reference_logps
from harness.losses import get_loss
from harness.models.custom_code import check_custom_code
from harness.models.load import load_causal_lm, load_tokenizer, model_dir
from harness.threads import set_threads
from harness.trainer.data import RunData, load_run_pairs, tokenize_run
from harness.trainer.distributed import Dist, launched_world
from harness.trainer.distributed import setup as setup_dist

# Reference-free losses (sft, simpo) still report log-ratios when the reference pass is cheap.
CHEAP_REFERENCE_PARAMS = 20_000_000
# train.threads = 0 (auto) means one thread below this size: matmuls this small gain nothing from
# a second thread, and oversubscribed threads stall on a busy machine.
SMALL_MODEL_PARAMS = 10_000_000


@dataclasses.dataclass
class Session:
    model: torch.nn.Module
    tokenizer: object
    data: RunData
    loss: object  # LossInfo
    ref_train: RefLogps | None
    ref_eval: RefLogps | None
    device: str
    dtype: torch.dtype | None  # autocast dtype; None = float32
    model_path: Path
    reference: str  # "initial policy" or the reference directory
    share_prompt: bool = False  # one [shared prefix | chosen rest | rejected rest] row per pair (data/shared_prompt.py)
    dist: Dist = dataclasses.field(default_factory=Dist)  # this process's rank in a ddp/fsdp run
    features_eval: object = None  # harness.logprobs.ches.PairFeatures of the held-out pairs (the `pairs` table)

    @property
    def ref_cache_hit(self) -> bool | None:
        refs = [r for r in (self.ref_train, self.ref_eval) if r is not None]
        return all(r.hit for r in refs) if refs else None


def check_loss(loss_cfg):
    """The registered loss, with its parameters checked against what it accepts."""
    from harness.losses import LOSSES

    if loss_cfg.name not in LOSSES:
        raise ConfigError(f"loss.name: {LOSSES.unknown_message(loss_cfg.name)}")
    info = get_loss(loss_cfg.name)
    unknown = sorted(set(loss_cfg.params) - set(info.params))
    if unknown:
        raise ConfigError(f"loss.params: {unknown} not accepted by loss {info.name!r} "
                          f"(it takes {sorted(info.params) or 'none'})")
    return info


_MEMO: dict[str, tuple] = {}  # prepared_data's per-process memo, most recent last
MEMO_SIZE = 4


def prepared_data(cfg) -> tuple[Path, object, RunData]:
    """(model dir, tokenizer, tokenised pairs) of a run config, memoised per process.

    Every run of a sweep (each beta, loss and learning rate of a grid) has the same data, model
    files and tokenisation; loading and tokenising them again cost as much as the training of a
    short tiny-model run. The key holds everything that determines them, with the size and
    mtime of local files, so an edited dataset or model directory is read again.
    """
    key = canonical_json({"data": to_dict(cfg.data), "model": to_dict(cfg.model), "seed": cfg.train.seed,
                          "files": [_stamp(x) for x in (cfg.data.train, cfg.data.eval, cfg.model.name, cfg.model.init_from)]})
    if key in _MEMO:
        _MEMO[key] = _MEMO.pop(key)  # most recently used
        return _MEMO[key]
    raw = load_run_pairs(cfg.data)
    path = model_dir(cfg.model, texts=raw.texts(), seed=cfg.train.seed)
    check_custom_code(path, trust=cfg.model.trust_remote_code, what="model.init_from" if cfg.model.init_from else "model.name")
    tokenizer = load_tokenizer(path, trust_remote_code=cfg.model.trust_remote_code)
    _MEMO[key] = (path, tokenizer, tokenize_run(raw, cfg.data, tokenizer))
    while len(_MEMO) > MEMO_SIZE:
        _MEMO.pop(next(iter(_MEMO)))
    return _MEMO[key]


def _stamp(spec: str | None) -> list:
    """(path, size, mtime) of the local file or directory a spec names, if any."""
    if not spec:
        return []
    candidates = {spec, spec.split(":", 1)[-1], spec.split(":", 1)[-1].rsplit("@", 1)[0]}
    out = []
    for c in sorted(candidates):
        p = Path(c).expanduser()
        for f in ([p] if p.is_file() else sorted(p.glob("*")) if p.is_dir() else []):
            st = f.stat()
            out.append([str(f), st.st_size, st.st_mtime_ns])
    return out


def prepare(cfg, out_dir: str | Path, *, reference_dir: str | None = None) -> Session:
    info = check_loss(cfg.loss)
    device = resolve_device(cfg.train.device)
    if device.startswith("cuda") and launched_world() > 1:  # one GPU per rank
        import os

        device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    dist = setup_dist(cfg.train, device)
    dtype = compute_dtype(cfg.model.dtype, device)
    path, tokenizer, data = prepared_data(cfg)

    torch.manual_seed(cfg.train.seed)  # LoRA initialisation draws from it
    model = load_causal_lm(path, device=device, trust_remote_code=cfg.model.trust_remote_code)
    if cfg.model.lora is not None:
        from harness.models.lora import apply_lora

        model = apply_lora(model, cfg.model.lora)
        if device == "cpu":  # the adapters' own Linear layers, as load_causal_lm did the base's
            from harness.models.cpu_linear import route_linears

            route_linears(model)
    if cfg.model.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.train()
    share_prompt = cfg.train.share_prompt and supports_shared_prompt(model)
    n_params = sum(p.numel() for p in model.parameters())
    if not cfg.train.threads and n_params < SMALL_MODEL_PARAMS:
        set_threads(1)  # inside train_run's torch_threads: the caller's setting comes back afterwards

    ref_dir = reference_dir or cfg.reference
    ref_train = ref_eval = features_eval = None
    flt = cfg.data.filter
    filtering = flt is not None and flt.ches_top_fraction > 0  # needs the reference's hidden states
    if info.requires_reference or n_params <= CHEAP_REFERENCE_PARAMS or filtering:
        if ref_dir:
            check_custom_code(ref_dir, trust=cfg.model.trust_remote_code, what="reference")
            fingerprint = model_fingerprint(ref_dir)
            source = functools.cache(lambda: load_causal_lm(ref_dir, device=device,
                                                            trust_remote_code=cfg.model.trust_remote_code))
        else:  # the initial policy (for LoRA: the base with adapters disabled)
            fingerprint, source = model_fingerprint(path), model
        # ddp/fsdp: each rank computes its shard, all get the whole, rank 0 writes the cache
        kw = dict(cache_dir=Path(out_dir) / "cache" / "refs", fingerprint=fingerprint, pad_id=tokenizer.pad_token_id,
                  batch_size=2 * cfg.train.batch_size, device=device, dtype=dtype, share_prompt=share_prompt,
                  dist=dist)
        if filtering:  # before the reference log-probs: they are those of the pairs trained on
            data = filter_by_ches(source, data, flt, kw)
        ref_train = reference_logps(source, data.train, **kw)
        ref_eval = reference_logps(source, data.eval, **kw) if data.eval else None
        features_eval = held_out_features(source, data.eval, kw) if data.eval and not dist.active else None
    if cfg.train.compile:  # after the one-off reference passes, which gain nothing from a compile
        from harness.trainer.compile import compile_layers

        compile_layers(model)
    return Session(model, tokenizer, data, info, ref_train, ref_eval, device, dtype, Path(path),
                   str(ref_dir) if ref_dir else "initial policy", share_prompt, dist,
                   features_eval if ref_train is not None else None)


def filter_by_ches(source, data: RunData, flt, kw: dict) -> RunData:
    """`data` without the `flt.ches_top_fraction` of training pairs with the highest reference CHES
    (features cached like the held-out ones); the count is `dropped["ches_top_fraction"]`."""
    from harness.logprobs.ches import drop_top

    feats = held_out_features(source, data.train, kw)
    kept, n = drop_top(data.train, feats.columns[flt.feature], flt.ches_top_fraction)
    return dataclasses.replace(data, train=kept, dropped={**data.dropped, "ches_top_fraction": n})


def held_out_features(source, pairs, kw: dict):
    """Per-pair features of the held-out pairs under the reference (harness.logprobs.ches), cached
    beside the reference log-probs; a ddp/fsdp run writes no `pairs` table."""
    from harness.logprobs.ches import pair_features

    return pair_features(source, pairs, cache_dir=Path(kw["cache_dir"]).parent / "features",
                         fingerprint=kw["fingerprint"], pad_id=kw["pad_id"], batch_size=kw["batch_size"],
                         device=kw["device"], dtype=kw["dtype"])
