"""What every generation backend shares: the sampling spec, the result type, prompt encoding.

    ids = encode_prompts(tokenizer, prompts, max_prompt_len=128)   # same ids as training
    spec = SamplingSpec(max_new_tokens=64, temperature=0.7, samples=4, seed=0)
    out = gen.generate(ids, spec, seeds=[prompt_seed(0, pid) for pid in prompt_ids])
    out[i][k]  # Completion of prompt i, sample k

Prompts are tokenised here, once, with the training code's own rendering
(`harness.data.tokenize.render_prompt`: a string keeps the tokenizer's special tokens, a message
list goes through the chat template with the generation prompt) and the training truncation (the
prompt keeps its end). Backends receive token ids, never text, so vLLM, HF and the trainer cannot
disagree about BOS tokens or templates.

Seeds are per prompt (a hash of the run seed and the prompt id), so a prompt's samples do not
depend on which other prompts share its batch, nor on the order of the prompt set.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from harness.errors import HarnessError
from harness.hashing import content_hash


@dataclasses.dataclass(frozen=True)
class SamplingSpec:
    max_new_tokens: int = 64
    temperature: float = 0.0  # 0: greedy
    top_p: float = 1.0
    samples: int = 1  # completions per prompt
    seed: int = 0

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0


@dataclasses.dataclass(frozen=True)
class Completion:
    text: str
    token_ids: tuple[int, ...]  # generated ids, EOS included when generation stopped on it
    finish_reason: str  # "stop" (EOS) | "length" (max_new_tokens)


class Generator(Protocol):
    """A generation engine bound to one base architecture.

    name: backend name recorded in every row; version: engine version string.
    tokenizer: the HF tokenizer of the base model (used to encode prompts).
    """

    name: str
    version: str
    tokenizer: object

    def load(self, checkpoint_dir: str | Path) -> None:
        """Serve `checkpoint_dir` next (weights of the same architecture and tokenizer)."""

    def generate(self, prompt_ids: Sequence[Sequence[int]], spec: SamplingSpec,
                 seeds: Sequence[int]) -> list[list[Completion]]:
        """`spec.samples` completions for each prompt, in order."""

    def close(self) -> None:
        """Free the engine."""


def prompt_seed(seed: int, prompt_id: str) -> int:
    """A stable 31-bit seed for one prompt (vLLM gives sample k the seed + k)."""
    return int(content_hash(["prompt-seed", seed, prompt_id], 8), 16) & 0x3FFF_FFFF


def encode_prompts(tokenizer, prompts: Sequence, *, max_prompt_len: int) -> list[list[int]]:
    """Token ids of each prompt, rendered and truncated exactly as in training."""
    from harness.data.tokenize import render_prompt

    out = []
    for i, prompt in enumerate(prompts):
        text, special = render_prompt(prompt, tokenizer)
        ids = list(tokenizer(text, add_special_tokens=special)["input_ids"])
        if not ids:
            raise HarnessError(f"prompt {i} is empty after tokenisation")
        out.append(ids[-max_prompt_len:])
    return out


def check_model_dir(path: str | Path, what: str = "model") -> Path:
    """`path` as a Path if it holds a readable model; else a HarnessError naming it (and the file)."""
    from harness.models.load import check_model_files

    p = Path(path).expanduser()
    if not p.is_dir():
        raise HarnessError(f"{what} {str(path)!r}: no such directory")
    if not (p / "config.json").is_file():
        raise HarnessError(f"{what} {str(path)!r}: not a model directory (no config.json)")
    check_model_files(p, what)
    from harness.models.custom_code import EVAL_ADVICE, check_custom_code

    check_custom_code(p, trust=False, what=what, advice=EVAL_ADVICE)  # evaluation loads: never trusted
    return p


# config.json keys that may differ between checkpoints of one base without changing the shapes
_VOLATILE = {"_name_or_path", "transformers_version", "torch_dtype", "dtype", "use_cache", "architectures",
             "pad_token_id", "bos_token_id", "eos_token_id"}


def architecture_key(path: str | Path) -> str:
    """Hash of what fixes the weight shapes and the tokenizer: equal keys ⇒ weights can be swapped."""
    p = Path(path)
    cfg = json.loads((p / "config.json").read_text())
    shape = {k: v for k, v in cfg.items() if k not in _VOLATILE}
    tok = p / "tokenizer.json"
    tok_key = content_hash(json.loads(tok.read_text())["model"]) if tok.is_file() else None
    return content_hash({"config": shape, "tokenizer": tok_key, "arch": cfg.get("architectures")})
