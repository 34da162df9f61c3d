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

from harness.config import at_least_one, check, field, from_dict, in_range, nonnegative, positive, to_dict
from harness.hashing import content_hash


def _backend(v: str) -> str | None:
    from harness.generation import BACKENDS

    return None if v in BACKENDS else BACKENDS.unknown_message(v)


def _lmeval_backend(v: str) -> str | None:
    from harness.evaluation.lmeval import LMEVAL_BACKENDS

    return None if v in LMEVAL_BACKENDS else LMEVAL_BACKENDS.unknown_message(v)


@dataclasses.dataclass(frozen=True)
class GenerationConfig:
    backend: str = field("vllm", meta=check(_backend), help="`harness ls backends`")
    n_prompts: int = field(64, meta=at_least_one, help="the first N prompts of the prompt set")
    samples: int = field(1, meta=at_least_one, help="completions per prompt")
    max_new_tokens: int = field(64, meta=at_least_one, help="tokens generated per completion at most")
    max_prompt_len: int = field(128, meta=at_least_one, help="prompts keep their end, as in training")
    temperature: float = field(0.0, meta=nonnegative, help="0: greedy")
    top_p: float = field(1.0, meta=in_range(0, 1), help="nucleus sampling mass (1: off)")
    seed: int = field(0, help="per-prompt sampling seeds derive from it (and the prompt id)")
    dtype: Literal["auto", "fastest", "float32", "bfloat16", "float16"] = field("auto",
        help="auto: fp32 on CPU, bf16 on CUDA; fastest: bf16 where the measured probe shows it faster (harness.accel)")
    max_model_len: int = field(1024, meta=at_least_one, help="vLLM context (prompt + completion)")
    batch_size: int = field(32, meta=at_least_one, help="hf backend batch")
    enforce_eager: bool | None = field(None, help="vLLM: true = no torch.compile / CUDA graphs; none (default): "
                                       "CUDA graphs on a GPU, eager on CPU (start-up 3x faster there); harness.accel")

    def validate(self):
        if self.samples > 1 and self.temperature == 0.0:
            return "samples", f"greedy decoding (temperature 0) gives {self.samples} identical samples; set temperature > 0"
        if self.max_prompt_len + self.max_new_tokens > self.max_model_len:
            return "max_model_len", (f"must hold max_prompt_len + max_new_tokens = "
                                     f"{self.max_prompt_len + self.max_new_tokens}, got {self.max_model_len}")
        return None


@dataclasses.dataclass(frozen=True)
class PromptsConfig:
    data: str = field(help='dataset spec, e.g. "arith", "hh-rlhf", "gsm8k-pairs" (harness.data.load_pairs)')
    options: dict[str, Any] = field(factory=dict, help="adapter options of the prompt set, e.g. {split: test, n_pairs: 128}")


SFT_BACKBONE = "@sft"  # the suite's SFT-stage checkpoint (resolved by the runner to "@sft:<run id>")


@dataclasses.dataclass(frozen=True)
class RewardTrainConfig:
    """A reward model to train (Bradley-Terry, `harness.reward.classifier_train`) rather than one to load."""

    data: str = field(help="preference pairs: a dataset spec (harness.data.load_pairs), e.g. arith, hh-rlhf")
    options: dict[str, Any] = field(factory=dict, help="adapter options")
    kind: Literal["classifier", "implicit"] = field("classifier",
        help="classifier: a Bradley-Terry head on the backbone (harness.reward.classifier_train); implicit: a policy trained from the backbone with `loss`, scoring with that loss's reward (harness.reward.implicit)")
    loss: str = field("simpo", help="implicit: any registered loss (`harness ls losses`)")
    beta: float = field(2.0, meta=positive, help="implicit: the loss's beta (scales scores, not their order)")
    params: dict[str, Any] = field(factory=dict, help="implicit: the loss's parameters, e.g. {gamma: 0.5}")
    limit: int | None = field(None, meta=at_least_one, help="the first N pairs (train + held out)")
    backbone: str = field("minilm",
        help='"minilm" (all-MiniLM-L6-v2, packaged) | "@sft" (the suite\'s SFT checkpoint, a decoder RM) | a registered model (e.g. the pinned tiny-arith-sft) | DIR | hub id')
    heldout: float = field(0.2, meta=in_range(0, 1, hi_open=True), help="by prompt: rm_heldout_accuracy")
    epochs: int = field(2, meta=at_least_one, help="passes over the training pairs")
    lr: float = field(5e-5, meta=positive, help="the backbone's")
    head_lr: float = field(1e-3, meta=positive, help="the new head's (it starts random)")
    batch_size: int = field(8, meta=at_least_one, help="pairs per step")
    max_length: int = field(128, meta=at_least_one, help="tokens per (prompt, response)")
    seed: int = field(0, help="seeds the held-out split, the head's initialisation and the data order")
    threads: int = field(0, meta=nonnegative, help="torch threads while training; 0: leave as is")
    device: str = field("auto", help="auto | cpu | cuda")

    def validate(self):
        if self.backbone.startswith("@") and self.backbone != SFT_BACKBONE:
            return "backbone", f"unknown stage {self.backbone!r}; {SFT_BACKBONE!r} is the suite's SFT checkpoint"
        return None


@dataclasses.dataclass(frozen=True)
class RewardConfig:
    path: str | None = field(None, help="reward-model directory or hub id (`reward_model: DIR` is shorthand)")
    train: RewardTrainConfig | None = field(None,
        help="or a recipe, trained once into OUT/rm/<hash>/ (harness.reward.recipe)")
    batch_size: int = field(16, meta=at_least_one, help="scoring")
    max_length: int = field(512, meta=at_least_one, help="scoring")

    def validate(self):
        if (self.path is None) == (self.train is None):
            return "path", "give either path (an existing reward model) or train (a recipe to train one), not both"
        return None


@dataclasses.dataclass(frozen=True)
class LMEvalConfig:
    tasks: list[str] = field(factory=list, help="lm-eval task names; empty: no lm-eval")
    backend: str = field("hf", meta=check(_lmeval_backend), help="`harness ls lmeval-backends`")
    limit: int | None = field(None, meta=at_least_one, help="documents per task")
    num_fewshot: int | None = field(None, meta=nonnegative, help="few-shot examples per task (lm-eval's default when absent)")
    batch_size: int = field(8, meta=at_least_one, help="lm-eval's batch size")
    include_paths: list[str] = field(factory=list, help="more task folders (harness/assets/lmeval_tasks is always on)")
    gpu_memory_utilization: float = field(0.35, meta=in_range(0.05, 0.95),
        help="vLLM on CUDA: lm-eval's engine lives beside the generation engine, so the two shares must fit")


def _scorer_names(value) -> str | None:
    from harness.scoring import SCORERS

    unknown = [n for n in (value or {}) if n not in SCORERS]
    return SCORERS.unknown_message(unknown[0]) if unknown else None


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    generation: GenerationConfig = field(factory=GenerationConfig, help="how completions are generated")
    prompts: PromptsConfig | None = field(None, help="the prompt set; absent: the runs' held-out pairs")
    reward_model: RewardConfig | None = field(None, help="`reward_model: DIR` is shorthand for {path: DIR}")
    verifier: bool = field(True, help="scores only prompts with a gold answer; no-op otherwise")
    kl: bool = field(True, help="score KL to the reference on the generations (and the held-out pairs' log-ratios)")
    winrate: bool = field(True, help="needs reward_model")
    bootstrap_iters: int = field(2000, meta=at_least_one, help="bootstrap resamples of prompts for every 95% interval")
    kl_batch_size: int = field(16, meta=at_least_one, help="sequences per forward when scoring KL")
    ci_level: float = field(0.95, meta=in_range(0.5, 1, hi_open=True), help="confidence level of the intervals")
    lmeval: LMEvalConfig = field(factory=LMEvalConfig, help="lm-eval tasks run on every checkpoint")
    device: str = field("auto", help="scoring models (RM, KL): auto | cpu | cuda")
    threads: int = field(0, meta=nonnegative, help="torch threads for scoring; 0: leave as is")
    gpu_memory_utilization: float = field(0.5, meta=positive, help="vLLM on CUDA")
    scorers: dict[str, dict[str, Any]] | None = field(None, meta=check(_scorer_names),
        help="the scorers on, keyed by `harness ls scorers`, each with its options, e.g. {verifier: {}, kl: "
             "{batch_size: 16}, reward: {}} (reward still needs reward_model); absent: verifier, kl and "
             "reward_model switch them")

    @property
    def reward(self) -> RewardConfig | None:
        return self.reward_model

    def scorer_options(self, name: str, switch: bool = True) -> dict | None:
        """The options of scorer `name` when it is on for this evaluation, else None: the
        `scorers` block decides when given; otherwise the older switch (`verifier`, `kl`)."""
        if self.scorers is None:
            return {} if switch else None
        return dict(self.scorers[name] or {}) if name in self.scorers else None

    def validate(self):
        for name, options in (self.scorers or {}).items():
            from harness.scoring import SCORERS

            takes = getattr(SCORERS.get(name), "options", ())
            extra = sorted(set(options or {}) - set(takes))
            if extra:
                return f"scorers.{name}.{extra[0]}", f"unknown option of scorer {name!r} (it takes: {', '.join(takes) or 'none'})"
            from harness.accel import DTYPES

            if "dtype" in (options or {}) and options["dtype"] not in DTYPES:
                return f"scorers.{name}.dtype", f"{options['dtype']!r} is not one of {', '.join(DTYPES)}"
        return None

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
