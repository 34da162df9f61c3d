"""The `tiny` model: a small Llama built from a config, with a tokenizer made locally.

    from harness.models.tiny import build
    path = build(texts=["61-48+71=?", ...], seed=0, options={"hidden_size": 128})
    # -> $HARNESS_CACHE/models/tiny-<hash>/  (config.json, model.safetensors, tokenizer.json, ...)

Why these choices:
- Tokenizer: byte-level BPE. With the default `vocab_size: 0` it learns no merges, so every
  character is one token (ASCII) and digits stay separate: what a from-scratch model needs to
  learn arithmetic. Any text still tokenises (256 bytes, no unknown token). `vocab_size: N > 258`
  trains merges on `texts` (digits are always split individually). It is a
  `PreTrainedTokenizerFast` saved with the model, so vLLM and lm-eval load the directory as is.
- Model: Llama architecture, head size 32 by default (hidden 128, 4 heads). vLLM-CPU serves only
  head sizes in `VLLM_HEAD_SIZES`, so other sizes are rejected.
- Deterministic: the same (seed, options, texts when merges are trained, library versions) give
  the same files; the directory is named by the hash of those inputs and built once (atomically).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from harness.errors import ConfigError
from harness.hashing import content_hash

VLLM_HEAD_SIZES = (32, 64, 80, 96, 112, 128, 160, 192, 224, 256, 512)
SPECIAL = ["<|endoftext|>", "<|pad|>"]
DEFAULTS = {
    "hidden_size": 128,
    "intermediate_size": 512,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": None,  # None: = num_attention_heads
    "max_position_embeddings": 512,
    "tie_word_embeddings": False,  # Llama's default; tied embeddings halved SFT accuracy on arith
    "rope_theta": 10000.0,
    "vocab_size": 0,  # 0: bytes only (character level); > 258: train BPE merges on the texts
    "seed": None,  # None: the run's seed
}


def build(*, texts=(), seed: int = 0, options: dict | None = None, cache_dir: str | Path | None = None) -> Path:
    """Build (or reuse) a tiny model directory; returns its path."""
    from harness.env import library_versions
    from harness.models.load import cache_root

    opts = _options(options or {})
    seed = opts.pop("seed") if opts["seed"] is not None else seed
    opts.pop("seed", None)
    texts = list(texts) if opts["vocab_size"] else []  # byte-only vocab: texts change nothing
    versions = {k: v for k, v in library_versions().items() if k in ("torch", "transformers", "tokenizers")}
    key = content_hash({"tiny": 1, "seed": seed, "options": opts, "texts": content_hash(texts, 32),
                        "versions": versions})
    root = Path(cache_dir) if cache_dir else cache_root() / "models"
    target = root / f"tiny-{key}"
    if (target / "harness-model.json").is_file():
        return target
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tiny-{key}.", dir=root))
    tmp.chmod(0o755)  # mkdtemp makes it private; the cache is shared by the users of a machine
    try:
        tokenizer = _tokenizer(texts, opts["vocab_size"], opts["max_position_embeddings"])
        model = _model(opts, len(tokenizer), tokenizer, seed)
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        info = {"builder": "tiny", "seed": seed, "options": opts, "key": key, "versions": versions,
                "parameters": sum(p.numel() for p in model.parameters())}
        (tmp / "harness-model.json").write_text(json.dumps(info, indent=1, sort_keys=True))
        try:
            os.rename(tmp, target)  # atomic; a concurrent builder may have won the race
        except OSError:
            if not (target / "harness-model.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _options(options: dict) -> dict:
    unknown = sorted(set(options) - set(DEFAULTS))
    if unknown:
        raise ConfigError(f"model.tiny: unknown option(s) {unknown} (known: {', '.join(DEFAULTS)})")
    opts = {**DEFAULTS, **options}
    if opts["num_key_value_heads"] is None:
        opts["num_key_value_heads"] = opts["num_attention_heads"]
    head = opts["hidden_size"] // opts["num_attention_heads"]
    if head * opts["num_attention_heads"] != opts["hidden_size"] or head not in VLLM_HEAD_SIZES:
        raise ConfigError(f"model.tiny: hidden_size / num_attention_heads = {opts['hidden_size']} / "
                          f"{opts['num_attention_heads']} must be a head size vLLM-CPU serves {VLLM_HEAD_SIZES}")
    if opts["vocab_size"] and opts["vocab_size"] <= 256 + len(SPECIAL):
        raise ConfigError(f"model.tiny.vocab_size: must be 0 (bytes only) or > {256 + len(SPECIAL)}, "
                          f"got {opts['vocab_size']}")
    return opts


def _tokenizer(texts: list[str], vocab_size: int, max_len: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                 pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=SPECIAL[0], eos_token=SPECIAL[0],
                                   pad_token=SPECIAL[1], model_max_length=max_len)


def _model(opts: dict, vocab: int, tokenizer, seed: int):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    arch = {k: v for k, v in opts.items() if k != "vocab_size"}
    config = LlamaConfig(vocab_size=vocab, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id, attention_dropout=0.0, **arch)
    with torch.random.fork_rng(devices=[]):  # leave the caller's RNG untouched
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model
