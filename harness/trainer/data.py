"""A run's data: train / held-out pairs from the config, then token ids.

    raw = load_run_pairs(cfg.data)          # RawData(train, eval, dropped, source)
    texts = raw.texts()                     # for a tokenizer trained on the data (tiny model)
    data = tokenize_run(raw, cfg.data, tokenizer)

Held-out pairs come from `data.eval` when given (loaded with `data.eval_options`, default
`data.options`; the first `eval_size` of them), else they are the last `eval_size` pairs of
`data.train` (removed from training). `data.limit` then caps the training pairs. Pairs whose
prompt also appears in the held-out set are removed from training, so the two never share a
question (the arith adapter also splits its questions by hash).
"""

from __future__ import annotations

import dataclasses

from harness.data import load_pairs
from harness.data.schema import PreferencePair
from harness.data.tokenize import TokenizedPair, tokenize_pairs, truncated
from harness.errors import DataError


@dataclasses.dataclass
class RawData:
    train: list[PreferencePair]
    eval: list[PreferencePair]
    dropped: dict[str, int]
    source: str

    def texts(self) -> list[str]:
        out = []
        for p in self.train:
            out += [p.prompt if isinstance(p.prompt, str) else "\n".join(m["content"] for m in p.prompt),
                    p.chosen, p.rejected]
        return out


@dataclasses.dataclass
class RunData:
    train: list[TokenizedPair]
    eval: list[TokenizedPair]
    dropped: dict[str, int]  # loader + tokenisation drops, by reason ("eval:" prefix for held-out)
    truncated: dict[str, int] = dataclasses.field(default_factory=dict)  # pairs cut: prompt, response, eval:...


def load_run_pairs(data) -> RawData:
    """Load and split the pairs of a `DataConfig`."""
    train = load_pairs(data.train, options=dict(data.options), on_bad_row=data.on_bad_row)
    dropped = dict(train.dropped)
    pairs = list(train.pairs)
    if data.eval:
        eval_options = data.options if data.eval_options is None else data.eval_options
        held = load_pairs(data.eval, options=dict(eval_options), on_bad_row=data.on_bad_row)
        eval_pairs = list(held.pairs)[: data.eval_size] if data.eval_size else []
        dropped.update({f"eval:{k}": v for k, v in held.dropped.items()})
    else:
        n_eval = min(data.eval_size, len(pairs) // 2)  # never hold out most of the training data
        eval_pairs = pairs[len(pairs) - n_eval:] if n_eval else []
        pairs = pairs[: len(pairs) - n_eval]
    held_prompts = {_prompt_key(p) for p in eval_pairs}
    before = len(pairs)
    pairs = [p for p in pairs if _prompt_key(p) not in held_prompts]
    if before - len(pairs):
        dropped["prompt_in_eval"] = before - len(pairs)
    if data.limit is not None:
        pairs = pairs[: data.limit]
    if not pairs:
        raise DataError(f"{train.source}: no training pairs left after holding out {len(eval_pairs)} for eval")
    return RawData(pairs, eval_pairs, dropped, train.source)


def tokenize_run(raw: RawData, data, tokenizer) -> RunData:
    kw = dict(max_prompt_len=data.max_prompt_len, max_response_len=data.max_response_len, on_bad_row=data.on_bad_row)
    train, dropped = tokenize_pairs(raw.train, tokenizer, **kw)
    held, held_dropped = tokenize_pairs(raw.eval, tokenizer, **kw)
    if not train:
        raise DataError(f"{raw.source}: every training pair was dropped in tokenisation ({dropped}) with "
                        f"data.max_prompt_len={data.max_prompt_len}, data.max_response_len={data.max_response_len}: "
                        "responses cut to max_response_len tokens that become identical carry no preference "
                        "('identical'); raise data.max_response_len")
    merged = dict(raw.dropped)
    for k, v in dropped.items():
        merged[k] = merged.get(k, 0) + v
    merged.update({f"eval:{k}": v for k, v in held_dropped.items()})
    cut = {**truncated(train), **{f"eval:{k}": v for k, v in truncated(held).items()}}
    return RunData(train, held, merged, cut)


TRUNCATION_WARN = 0.10  # a larger share of training pairs cut is said on the console


def truncation_warnings(data: RunData, cfg) -> list[str]:
    """One line per limit that cuts more than TRUNCATION_WARN of the training pairs, naming the key.
    A cut prompt loses its start (the limit keeps the question nearest the answer), a cut response
    its end and its EOS; either changes what is trained, and `dropped_json` never showed it."""
    n, out = len(data.train), []
    for part, key, what in (("prompt", "max_prompt_len", "prompts, each to its last"),
                            ("response", "max_response_len", "pairs' responses, each to its first")):
        k, limit = data.truncated.get(part, 0), getattr(cfg, key)
        if n and k / n > TRUNCATION_WARN:
            out.append(f"warning: data.{key}={limit} cuts {k} of the {n} training {what} {limit} tokens "
                       f"({k / n:.0%}); raise data.{key} if that is not meant (counts: runs.truncated_json)")
    return out


def _prompt_key(pair: PreferencePair) -> str:
    return pair.prompt if isinstance(pair.prompt, str) else repr(pair.prompt)

