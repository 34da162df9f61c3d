"""The `eval:` block of a suite (and of `harness eval --config`): frozen, validated dataclasses.

    eval:
      prompts: {data: "arith", options: {split: test}}   # absent: the runs' held-out pairs
      generation: {backend: vllm, n_prompts: 64, samples: 1, max_new_tokens: 32, temperature: 0.0, seed: 0}
      reward_model: results/rm-hh        # a directory or hub id; null: no reward scores, no win-rate
      verifier: true                     # needs PreferencePair.gold (arith, gsm8k-pairs)
      kl: true
      winrate: true
      lmeval: {tasks: [harness_arith], backend: hf, limit: 50}

`EvalConfig.from_mapping(d)` builds one from plain data (a suite's dict) with the errors of
`harness.config` (file + dotted key).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from harness.config import at_least_one, check, from_dict, in_range, nonnegative, positive

F = dataclasses.field


def _backend(v: str) -> str | None:
    from harness.generation import BACKENDS

    return None if v in BACKENDS else BACKENDS.unknown_message(v)


@dataclasses.dataclass(frozen=True)
class GenerationConfig:
    backend: str = F(default="vllm", metadata=check(_backend))  # `harness ls backends`
    n_prompts: int = F(default=64, metadata=at_least_one)  # the first N prompts of the prompt set
    samples: int = F(default=1, metadata=at_least_one)  # completions per prompt
    max_new_tokens: int = F(default=64, metadata=at_least_one)
    max_prompt_len: int = F(default=128, metadata=at_least_one)  # prompts keep their end, as in training
    temperature: float = F(default=0.0, metadata=nonnegative)  # 0: greedy
    top_p: float = F(default=1.0, metadata=in_range(0, 1))
    seed: int = 0  # per-prompt sampling seeds derive from it (and the prompt id)
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"  # auto: fp32 on CPU, bf16 on CUDA
    max_model_len: int = F(default=1024, metadata=at_least_one)  # vLLM context (prompt + completion)
    batch_size: int = F(default=32, metadata=at_least_one)  # hf backend batch
    enforce_eager: bool = True  # vLLM: no torch.compile / CUDA graphs (start-up 3x faster on CPU)

    def validate(self):
        if self.samples > 1 and self.temperature == 0.0:
            return "samples", f"greedy decoding (temperature 0) gives {self.samples} identical samples; set temperature > 0"
        if self.max_prompt_len + self.max_new_tokens > self.max_model_len:
            return "max_model_len", (f"must hold max_prompt_len + max_new_tokens = "
                                     f"{self.max_prompt_len + self.max_new_tokens}, got {self.max_model_len}")
        return None


@dataclasses.dataclass(frozen=True)
class PromptsConfig:
    data: str  # dataset spec, e.g. "arith", "hh-rlhf", "gsm8k-pairs" (harness.data.load_pairs)
    options: dict[str, Any] = F(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class RewardConfig:
    path: str  # reward-model directory or hub id
    batch_size: int = F(default=16, metadata=at_least_one)
    max_length: int = F(default=512, metadata=at_least_one)


@dataclasses.dataclass(frozen=True)
class LMEvalConfig:
    tasks: list[str] = F(default_factory=list)  # lm-eval task names; empty: no lm-eval
    backend: Literal["hf", "vllm"] = "hf"
    limit: int | None = F(default=None, metadata=at_least_one)  # documents per task
    num_fewshot: int | None = F(default=None, metadata=nonnegative)
    batch_size: int = F(default=8, metadata=at_least_one)
    include_paths: list[str] = F(default_factory=list)  # more task folders (suites/tasks is always on)
    # vLLM on CUDA: lm-eval's engine lives beside the generation engine, so the two shares must fit
    gpu_memory_utilization: float = F(default=0.35, metadata=in_range(0.05, 0.95))


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    generation: GenerationConfig = F(default_factory=GenerationConfig)
    prompts: PromptsConfig | None = None
    reward_model: str | RewardConfig | None = None  # a path is shorthand for {path: ...}
    verifier: bool = True  # scores only prompts with a gold answer; no-op otherwise
    kl: bool = True
    winrate: bool = True  # needs reward_model
    bootstrap_iters: int = F(default=2000, metadata=at_least_one)
    kl_batch_size: int = F(default=16, metadata=at_least_one)
    ci_level: float = F(default=0.95, metadata=in_range(0.5, 1, hi_open=True))
    lmeval: LMEvalConfig = F(default_factory=LMEvalConfig)
    device: str = "auto"  # scoring models (RM, KL): auto | cpu | cuda
    threads: int = F(default=0, metadata=nonnegative)  # torch threads for scoring; 0: leave as is
    gpu_memory_utilization: float = F(default=0.5, metadata=positive)  # vLLM on CUDA

    @property
    def reward(self) -> RewardConfig | None:
        return RewardConfig(self.reward_model) if isinstance(self.reward_model, str) else self.reward_model

    @classmethod
    def from_mapping(cls, data: Any, *, source: str = "eval") -> "EvalConfig":
        if isinstance(data, EvalConfig):
            return data
        return from_dict(cls, data or {}, source=source)
