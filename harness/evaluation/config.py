"""The `eval:` block of a suite (and of `harness eval --config`): frozen, validated dataclasses.

    eval:
      prompts: {data: "arith", options: {split: test}}   # absent: the runs' held-out pairs
      generation: {backend: vllm, n_prompts: 64, samples: 1, max_new_tokens: 32, temperature: 0.0, seed: 0}
      reward_model: results/rm-hh        # a directory or hub id; null: no reward scores, no win-rate
      # ... or a recipe: `harness run` trains it once into OUT/rm/<hash>/ and scores every run with it
      # reward_model: {train: {data: arith, options: {n_pairs: 512}, backbone: "@sft", epochs: 2}}
      verifier: true                     # needs PreferencePair.gold (arith, gsm8k-pairs)
      kl: true
      winrate: true
      lmeval: {tasks: [harness_arith], backend: hf, limit: 50}

`EvalConfig.from_mapping(d)` builds one from plain data (a suite's dict) with the errors of
`harness.config` (file + dotted key). `config_hash(cfg)` is the id stamped on every row it
produces (`eval_hash`) and the one the suite runner compares to decide what is evaluated.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from harness.config import at_least_one, check, from_dict, in_range, nonnegative, positive, to_dict
from harness.hashing import content_hash

F = dataclasses.field


def _backend(v: str) -> str | None:
    from harness.generation import BACKENDS

    return None if v in BACKENDS else BACKENDS.unknown_message(v)


def _lmeval_backend(v: str) -> str | None:
    from harness.lmeval import LMEVAL_BACKENDS

    return None if v in LMEVAL_BACKENDS else LMEVAL_BACKENDS.unknown_message(v)


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


SFT_BACKBONE = "@sft"  # the suite's SFT-stage checkpoint (resolved by the runner to "@sft:<run id>")


@dataclasses.dataclass(frozen=True)
class RewardTrainConfig:
    """A reward model to train (Bradley-Terry, `harness.reward.classifier_train`) rather than one to load."""

    data: str  # preference pairs: a dataset spec (harness.data.load_pairs), e.g. arith, hh-rlhf
    options: dict[str, Any] = F(default_factory=dict)  # adapter options
    # classifier: a Bradley-Terry head on the backbone (harness.reward.classifier_train); implicit: a policy
    # trained from the backbone with `loss`, scoring with that loss's reward (harness.reward.implicit)
    kind: Literal["classifier", "implicit"] = "classifier"
    loss: str = "simpo"  # implicit: any registered loss (`harness ls losses`)
    beta: float = F(default=2.0, metadata=positive)  # implicit: the loss's beta (scales scores, not their order)
    params: dict[str, Any] = F(default_factory=dict)  # implicit: the loss's parameters, e.g. {gamma: 0.5}
    limit: int | None = F(default=None, metadata=at_least_one)  # the first N pairs (train + held out)
    # "minilm" (all-MiniLM-L6-v2, packaged) | "@sft" (the suite's SFT checkpoint, a decoder RM) | a registered
    # model (e.g. the pinned tiny-arith-sft) | DIR | hub id
    backbone: str = "minilm"
    heldout: float = F(default=0.2, metadata=in_range(0, 1, hi_open=True))  # by prompt: rm_heldout_accuracy
    epochs: int = F(default=2, metadata=at_least_one)
    lr: float = F(default=5e-5, metadata=positive)  # the backbone's
    head_lr: float = F(default=1e-3, metadata=positive)  # the new head's (it starts random)
    batch_size: int = F(default=8, metadata=at_least_one)
    max_length: int = F(default=128, metadata=at_least_one)  # tokens per (prompt, response)
    seed: int = 0
    threads: int = F(default=0, metadata=nonnegative)  # torch threads while training; 0: leave as is
    device: str = "auto"  # auto | cpu | cuda

    def validate(self):
        if self.backbone.startswith("@") and self.backbone != SFT_BACKBONE:
            return "backbone", f"unknown stage {self.backbone!r}; {SFT_BACKBONE!r} is the suite's SFT checkpoint"
        return None


@dataclasses.dataclass(frozen=True)
class RewardConfig:
    path: str | None = None  # reward-model directory or hub id (`reward_model: DIR` is shorthand)
    train: RewardTrainConfig | None = None  # or a recipe, trained once into OUT/rm/<hash>/ (harness.reward.recipe)
    batch_size: int = F(default=16, metadata=at_least_one)  # scoring
    max_length: int = F(default=512, metadata=at_least_one)  # scoring

    def validate(self):
        if (self.path is None) == (self.train is None):
            return "path", "give either path (an existing reward model) or train (a recipe to train one), not both"
        return None


@dataclasses.dataclass(frozen=True)
class LMEvalConfig:
    tasks: list[str] = F(default_factory=list)  # lm-eval task names; empty: no lm-eval
    backend: str = F(default="hf", metadata=check(_lmeval_backend))  # `harness ls lmeval-backends`
    limit: int | None = F(default=None, metadata=at_least_one)  # documents per task
    num_fewshot: int | None = F(default=None, metadata=nonnegative)
    batch_size: int = F(default=8, metadata=at_least_one)
    include_paths: list[str] = F(default_factory=list)  # more task folders (harness/assets/lmeval_tasks is always on)
    # vLLM on CUDA: lm-eval's engine lives beside the generation engine, so the two shares must fit
    gpu_memory_utilization: float = F(default=0.35, metadata=in_range(0.05, 0.95))


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    generation: GenerationConfig = F(default_factory=GenerationConfig)
    prompts: PromptsConfig | None = None
    reward_model: RewardConfig | None = None  # `reward_model: DIR` is shorthand for {path: DIR}
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
        return self.reward_model

    @classmethod
    def from_mapping(cls, data: Any, *, source: str = "eval") -> "EvalConfig":
        if isinstance(data, EvalConfig):
            return data
        return from_dict(cls, normalize(data or {}), source=source)


def normalize(data: Any) -> Any:
    """Plain eval data with the `reward_model: DIR` shorthand spelt out as {path: DIR}.

    Why not a `str | RewardConfig` field: a union reports a mistyped key inside the mapping as
    "expected str | RewardConfig", and errors must name the key.
    """
    if isinstance(data, dict) and isinstance(data.get("reward_model"), str):
        return {**data, "reward_model": {"path": data["reward_model"]}}
    return data


def config_hash(cfg: EvalConfig) -> str:
    """Identity of an evaluation setup: what `eval_hash` holds on every row evaluate_runs writes,
    and what the suite runner compares to decide whether a run is evaluated. A trained reward
    model enters through its recipe (whose "@sft" the runner resolves to "@sft:<run id>")."""
    return content_hash(to_dict(cfg))
