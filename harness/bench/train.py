"""`harness bench train`: the harness trainer vs TRL's DPOTrainer, same model/data/settings.

    harness bench train                           # tiny model on arithmetic pairs
    harness bench train --model smollm2 --lora    # SmolLM2-135M + LoRA on hh-rlhf pairs
    harness bench train --json                    # one JSON object with medians and the ratio
    harness bench train --model smollm2 --lora --data gsm8k-pairs   # another dataset
    harness bench train --dtype bfloat16          # both sides in bf16 autocast

Both sides: loss DPO (TRL `loss_type="sigmoid"`, `precompute_ref_log_probs=True`), the same
pairs in the same tokenisation, batch size, max lengths, steps, lr schedule, the same precision
(`--dtype`; default fp32 on CPU, bf16 on CUDA; TRL's `bf16=True` is autocast over fp32 weights as
the harness's), no gradient checkpointing, dropout off. Each side loads the model its own way: the
harness with its CPU kernel choices (harness.models.cpu_linear, harness.models.fused), TRL as its
users do (transformers' model, torch's default kernels). Same tokenisation: the two tools truncate
differently (TRL cuts prompt + completion at `max_length` keeping the start; the harness keeps
the prompt's end and each response's start) and TRL renders a conversational completion through
the chat template, so the bench keeps only pairs that neither side truncates, writes them to one
JSONL file both sides read, and gives TRL the prompt already rendered by the chat template (the
text the harness tokenises) with the plain response, to which TRL appends EOS as the harness does.
The metric is training throughput: real (non-padding) tokens per second over steps 2..N (step 1 is warm-up),
each step timed over its whole cycle on both sides (end of the step before to end of this one:
batch collation, forward, backward, optimizer, per-step metrics and logging), plus wall time (`wall_s`:
after importing torch + transformers, on both sides; `process_wall_s`: the whole process) and
peak memory. Before timing anything the two sides' reference log-probs of the first pairs
are compared, so the comparison is of equals.
"""

from __future__ import annotations

import os
import time

from harness.threads import set_threads

# model preset -> (model name, dataset spec, max_prompt_len, max_response_len, default batch size)
PRESETS = {
    "tiny": ("tiny", "arith", 32, 32, 16),
    "smollm2": ("smollm2-135m-instruct", "hh-rlhf", 128, 128, 4),
}
CHECK_PAIRS = 8  # reference log-probs compared between the sides


def add_arguments(p) -> None:
    p.add_argument("--model", choices=sorted(PRESETS), default="tiny")
    p.add_argument("--lora", action="store_true", help="LoRA r=16 on q,k,v,o instead of full fine-tuning")
    p.add_argument("--steps", type=int, default=None, help="optimizer steps per run (default 30 tiny, 4 smollm2)")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--pairs", type=int, default=None, help="training pairs (default: steps x batch size)")
    p.add_argument("--data", default=None, help="dataset spec instead of the preset's (e.g. gsm8k-pairs)")
    p.add_argument("--threads", type=int, default=0, help="torch threads, the same on both sides (0: all cores)")
    p.add_argument("--dtype", choices=("float32", "bfloat16"), default=None,
                   help="compute dtype on both sides (autocast over fp32 weights; TRL: bf16=True). Default: fp32 on "
                        "CPU, bf16 on CUDA")
    p.add_argument("--compile", action="store_true",
                   help="the harness side with train.compile (each decoder layer compiled; inductor's on-disk caches)")


def configs(args) -> dict:
    name, spec, max_p, max_r, batch = PRESETS[args.model]
    spec = getattr(args, "data", None) or spec
    steps = args.steps or (30 if args.model == "tiny" else 4)
    # Both sides get the same explicit thread count: the harness trainer would otherwise pick 1
    # thread for small models while TRL keeps torch's default.
    threads = args.threads or os.cpu_count() or 1
    batch = args.batch_size or batch
    base = {"model": name, "data": spec, "max_prompt_len": max_p, "max_response_len": max_r, "steps": steps,
            "batch_size": batch, "pairs": args.pairs or steps * batch, "lora": args.lora, "threads": threads,
            "learning_rate": 1e-4 if args.lora else 1e-5, "beta": 0.1, "seed": 0,
            "dtype": getattr(args, "dtype", None) or "auto", "compile": bool(getattr(args, "compile", False))}
    base["model_dir"] = str(_model_dir(base))  # built once here, so both sides load the same files
    base["data"] = "jsonl:" + _equal_pairs_file(base)
    return {"harness-train": base, "trl-train": base}


def _equal_pairs_file(c: dict) -> str:
    """The first `pairs` pairs that fit the max lengths untruncated, as JSONL (both sides read it)."""
    import tempfile

    from harness.data import load_pairs
    from harness.data.check import export_jsonl
    from harness.data.tokenize import tokenize_pairs
    from harness.models import load_tokenizer

    loaded = load_pairs(c["data"], options=_options(c), on_bad_row="skip")
    tok = load_tokenizer(c["model_dir"])
    toks, _ = tokenize_pairs(loaded.pairs, tok, max_prompt_len=10**6, max_response_len=10**6, on_bad_row="skip")
    fits = {t.index for t in toks if len(t.prompt_ids) <= c["max_prompt_len"]
            and max(len(t.chosen_ids), len(t.rejected_ids)) <= c["max_response_len"]}
    loaded.pairs = [p for p in loaded.pairs if p.index in fits][: c["pairs"]]
    out = f"{tempfile.mkdtemp(prefix='bench-pairs-')}/pairs.jsonl"
    export_jsonl(loaded, out)
    return out


def _model_dir(c: dict):
    from harness.data import load_pairs
    from harness.models import model_dir
    from harness.trainer.config import ModelConfig

    texts = []
    for p in load_pairs(c["data"], options=_options(c), limit=c["pairs"], on_bad_row="skip").pairs:
        texts += [p.prompt if isinstance(p.prompt, str) else " ".join(m["content"] for m in p.prompt), p.chosen, p.rejected]
    return model_dir(ModelConfig(name=c["model"]), texts=texts, seed=c["seed"])


def _options(c: dict) -> dict:
    return {"n_pairs": 2 * c["pairs"] + 16, "seed": c["seed"]} if c["data"] == "arith" else {}


def _setup_threads(c: dict) -> None:

    if c["threads"]:
        set_threads(c["threads"])  # a worker process of its own: for its whole life


# ---------------------------------------------------------------- the two sides (run in workers)
def run_config(c: dict, loss: str = "dpo", beta: float | None = None):
    from harness.config import from_dict
    from harness.trainer.config import RunConfig

    lora = {"r": 16, "alpha": 32.0} if c["lora"] else None
    return from_dict(RunConfig, {
        "name": "bench", "model": {"name": c["model_dir"], "lora": lora, "dtype": c.get("dtype", "auto")},
        "data": {"train": c["data"], "options": _options(c), "limit": c["pairs"], "eval_size": 0,
                 "max_prompt_len": c["max_prompt_len"], "max_response_len": c["max_response_len"], "on_bad_row": "skip"},
        "loss": {"name": loss, "beta": beta or c["beta"]},
        "train": {"steps": c["steps"], "batch_size": c["batch_size"], "learning_rate": c["learning_rate"],
                  "seed": c["seed"], "save_final": False, "threads": c["threads"], "max_grad_norm": 1.0,
                  "compile": c.get("compile", False)},
    })


def harness_worker(c: dict) -> dict:
    import tempfile

    # imported before the clock starts, as TRL's side imports trl (and with it these) first
    from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: F401

    from harness.results import ResultStore
    from harness.trainer import train_run

    _setup_threads(c)
    out = tempfile.mkdtemp(prefix="bench-harness-")
    t0 = time.perf_counter()
    result = train_run(run_config(c), out)
    wall = time.perf_counter() - t0
    if result.status != "completed":
        raise RuntimeError(f"harness run {result.status}: {result.error}")
    steps = ResultStore(out).read("steps")
    train = steps[steps.split == "train"].sort_values("step")
    # a step's whole cycle, as on TRL's side: from the end of the step before to the end of this one
    cycle = train.elapsed_s.diff().iloc[1:] if len(train) > 1 else train.step_s
    tokens = train.tokens.iloc[1:] if len(train) > 1 else train.tokens
    ref = _harness_refs(out)
    return {"tokens_per_s": float(tokens.sum() / cycle.sum()),
            "step_s": float(cycle.median()), "wall_s": wall, "first_loss": float(train.loss.iloc[0]),
            "last_loss": float(train.loss.iloc[-1]), "losses": [float(x) for x in train.loss],
            "chosen_logratios": [float(x) for x in train.logratio_chosen],
            "rejected_logratios": [float(x) for x in train.logratio_rejected],
            "ref_chosen_logps": ref[0], "ref_rejected_logps": ref[1], "threads": c["threads"]}


def _harness_refs(out: str) -> tuple[list, list]:
    """The first pairs' reference log-probs, in dataset order, from the run's reference cache."""
    import glob

    import pandas as pd

    files = glob.glob(f"{out}/cache/refs/*.parquet")
    if not files:
        return [], []
    df = pd.read_parquet(files[0]).sort_values("index").head(CHECK_PAIRS)
    return df.chosen.tolist(), df.rejected.tolist()


def trl_worker(c: dict) -> dict:
    import tempfile

    import torch
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import DPOConfig, DPOTrainer

    from harness.data import load_pairs
    from harness.data.tokenize import render_prompt
    from harness.models import load_tokenizer

    _setup_threads(c)
    t0 = time.perf_counter()
    pairs = load_pairs(c["data"], options=_options(c), limit=c["pairs"], on_bad_row="skip").pairs
    tok = load_tokenizer(c["model_dir"])
    # the prompt text the harness tokenises (chat template applied); TRL appends EOS to responses
    rows = [{"prompt": render_prompt(p.prompt, tok)[0], "chosen": p.chosen, "rejected": p.rejected} for p in pairs]
    # as a TRL user loads it: transformers' own model, torch's default kernels (the harness side's
    # oneDNN route for fp32 Linear layers, harness.models.cpu_linear, is the harness's, not TRL's)
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(c["model_dir"], dtype=torch.float32, trust_remote_code=False)
    model = model.to("cuda" if torch.cuda.is_available() else "cpu")
    peft_config = None
    if c["lora"]:
        from peft import LoraConfig

        peft_config = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
                                 task_type="CAUSAL_LM")
    args = DPOConfig(
        output_dir=tempfile.mkdtemp(prefix="bench-trl-"), per_device_train_batch_size=c["batch_size"],
        max_steps=c["steps"], learning_rate=c["learning_rate"], beta=c["beta"], loss_type="sigmoid",
        precompute_ref_log_probs=True, max_length=c["max_prompt_len"] + c["max_response_len"],
        gradient_checkpointing=False, bf16=_trl_bf16(c), use_cpu=not torch.cuda.is_available(),
        report_to="none", save_strategy="no", logging_steps=1, seed=c["seed"], lr_scheduler_type="linear",
        warmup_steps=0, max_grad_norm=1.0, weight_decay=0.0, dataloader_num_workers=0, disable_dropout=True)
    timer = _StepTimer(TrainerCallback)
    trainer = DPOTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tok,
                         peft_config=peft_config, callbacks=[timer])
    trainer.train()
    wall = time.perf_counter() - t0
    ds = trainer.train_dataset
    durations, tokens = timer.cycles(), timer.tokens[1:]
    return {"tokens_per_s": sum(tokens) / sum(durations), "step_s": sorted(durations)[len(durations) // 2],
            "wall_s": wall, "first_loss": timer.losses[0] if timer.losses else float("nan"),
            "last_loss": timer.losses[-1] if timer.losses else float("nan"), "losses": list(timer.losses),
            "ref_chosen_logps": list(ds["ref_chosen_logps"][:CHECK_PAIRS]),
            "ref_rejected_logps": list(ds["ref_rejected_logps"][:CHECK_PAIRS]), "threads": torch.get_num_threads()}


def _trl_bf16(c: dict) -> bool:
    """TRL's side in the harness side's precision: bf16 autocast over fp32 weights (its `bf16=True`)."""
    import torch

    from harness.accel import resolve_dtype

    return resolve_dtype(c.get("dtype", "auto"), "cuda" if torch.cuda.is_available() else "cpu") == "bfloat16"


def _StepTimer(base):
    """A TrainerCallback taking the time at the end of each optimizer step and reading its token
    count from the logs. A step's time is the interval between two step ends: its whole cycle,
    including the batch's loading and collation (which transformers' Trainer does before
    `on_step_begin`) and the previous step's logging, as the harness side's step rows are."""

    class StepTimer(base):
        def __init__(self):
            self.ends, self.tokens, self.losses = [], [], []
            self._seen = 0.0

        def on_step_end(self, args, state, control, **kw):
            self.ends.append(time.perf_counter())

        def cycles(self) -> list[float]:
            """Steps 2..N (step 1 is warm-up)."""
            return [b - a for a, b in zip(self.ends, self.ends[1:])]

        def on_log(self, args, state, control, logs=None, **kw):
            logs = logs or {}
            if "num_tokens" in logs:  # cumulative count of input tokens seen
                self.tokens.append(logs["num_tokens"] - self._seen)
                self._seen = logs["num_tokens"]
            if "loss" in logs:
                self.losses.append(logs["loss"])

    return StepTimer()


def check_equal_inputs(cmp) -> str:
    """Max |difference| between the sides' reference log-probs of the first pairs."""
    a, b = (cmp.runs[s][0] for s in cmp.sides)
    diffs = [abs(x - y) for k in ("ref_chosen_logps", "ref_rejected_logps") for x, y in zip(a[k], b[k])]
    if not diffs:
        return "reference log-probs: not compared (no data)"
    return f"reference log-probs of the first {len(diffs) // 2} pairs: max |harness - trl| = {max(diffs):.2e}"


def run(args) -> int:
    from harness.bench.common import alternate, finish

    name = "train-" + args.model + ("-lora" if args.lora else "") + (f"-{args.data.split(':')[0]}" if args.data else "")
    cmp = alternate(name, ("harness-train", "trl-train"),
                    configs(args), repeats=args.repeats, metric="tokens_per_s", higher_is_better=True,
                    goal=">= 2x TRL's tokens/s at equal precision and threads")
    print(check_equal_inputs(cmp))
    return finish(cmp, args)
