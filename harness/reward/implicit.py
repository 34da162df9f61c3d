"""An implicit reward model: a policy trained with a preference loss, scoring with that loss's reward.

    eval:
      reward_model:
        train: {kind: implicit, loss: simpo, beta: 2.0, params: {gamma: 0.5}, data: arith,
                options: {split: train, n_pairs: 2000, seed: 2}, backbone: tiny-arith-sft, lr: 1.0e-3}

    rm = ImplicitRewardModel("results/x/rm/<hash>")        # the policy dir, with rm.json naming loss and reference
    rm.score(["61-48+71=?"], ["61-48=13.13+71=84.#84"])    # the loss's reward of each response

Why: a preference loss defines a reward, the quantity it pushes apart for chosen and rejected
responses: beta * log pi(y|x) / pi_ref(y|x) for DPO (Rafailov et al. 2023, "Your language model
is secretly a reward model"; RewardBench scores DPO models this way), beta * mean log pi(y|x)
per token for SimPO (Meng et al. 2024), and so on for every registered loss (its
`chosen_rewards`, computed here by the loss function itself on the response alone).
On arithmetic a classifier head on the tiny model could not learn to judge at all: its held-out
pairwise accuracy stayed at 0.47-0.51 and its training loss at log 2, from 512 to 4,000 pairs,
with 2 extra layers, last-token or mean pooling (measured while sizing the main suite). A correct
answer differs from a corrupted one in a few digits, and judging it takes a comparison of each
digit with the one the model would have written: a per-token log-likelihood is exactly that,
and a single pooled vector is not.
Which loss: held-out pairwise accuracy alone does not make a judge. DPO's implicit reward
reached 0.895 on held-out pairs, yet ranked the suite's generations *against* the verifier (AUC
0.34: the DPO policies that had collapsed to wrong answers scored highest), because DPO moves
probability mass from both responses to sequences it never saw, and the log-ratio rewards
exactly those. A reference-free reward (SimPO's mean log-likelihood) cannot reward mass that is
not there. The evaluation therefore also reports how well the reward model agrees with the
verifier on the generations it scores (harness.analysis.frame.RMSignal), where a verifier exists.
It is trained on pairs disjoint from the evaluation prompts (another split and seed), and its
held-out pairwise accuracy is stored next to every score it gives (`rm_heldout_accuracy`).

Inputs are tokenised as the trainer tokenises pairs (harness.data.tokenize: the prompt with its
special tokens, the response without, then EOS), the same code for the held-out accuracy and for
scoring generations, so a score means what the accuracy was measured on.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from harness.errors import HarnessError
from harness.reward.classifier import INFO_FILE, load_info

KIND = "implicit"


class ImplicitRewardModel:
    def __init__(self, path: str | Path, *, batch_size: int = 16, max_length: int = 512, device: str = "auto", **_):
        from harness.accel import resolve_device
        from harness.models.load import load_causal_lm, load_tokenizer

        self.path = str(path)
        self.info = load_info(path)
        if self.info.get("kind") != KIND:
            raise HarnessError(f"reward model {self.path!r}: not an implicit reward model (rm.json kind)")
        from harness.losses import get_loss

        self.device = resolve_device(device, key="eval.device")
        self.loss = get_loss(self.info.get("loss", "dpo"))
        self.beta, self.params = float(self.info["beta"]), dict(self.info.get("params") or {})
        self.batch_size, self.max_length = batch_size, max_length
        self.tokenizer = load_tokenizer(path)
        self.policy = load_causal_lm(path, device=self.device)
        self.reference = (load_causal_lm(reference_dir(self.info["reference"]), device=self.device)
                          if self.loss.requires_reference else None)

    @property
    def heldout_accuracy(self) -> float:
        acc = self.info.get("heldout_accuracy")
        return float(acc) if acc is not None else math.nan

    def score(self, prompts: Sequence, responses: Sequence[str]) -> list[float]:
        """The loss's reward of each response, `chosen_rewards` with the response on both sides."""
        import torch

        from harness.scoring.kl import completion_logps

        prompt_ids, response_ids = encode(self.tokenizer, prompts, responses, self.max_length)
        kw = {"batch_size": self.batch_size, "device": self.device}
        pol = torch.tensor(completion_logps(self.policy, prompt_ids, response_ids, **kw), dtype=torch.float64)
        ref = (torch.tensor(completion_logps(self.reference, prompt_ids, response_ids, **kw), dtype=torch.float64)
               if self.reference is not None else None)
        lengths = torch.tensor([len(r) for r in response_ids], dtype=torch.float64)
        out = self.loss(pol, pol, ref, ref, beta=self.beta, chosen_lengths=lengths, rejected_lengths=lengths,
                        chosen_nll=-pol / lengths, **self.params)
        return [float(v) for v in out.chosen_rewards]

    def close(self) -> None:
        self.policy = self.reference = None


def encode(tokenizer, prompts: Sequence, responses: Sequence[str], max_length: int):
    """(prompt ids, response ids + EOS) as harness.data.tokenize builds a training pair."""
    from harness.data.tokenize import render_prompt

    prompt_ids, response_ids = [], []
    for prompt, response in zip(prompts, responses, strict=True):
        text, special = render_prompt(prompt, tokenizer)
        prompt_ids.append(tokenizer(text, add_special_tokens=special)["input_ids"][-max_length:])
        ids = tokenizer(response, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        response_ids.append(ids[:max_length])
    return prompt_ids, response_ids


def reference_dir(reference: str) -> Path:
    """rm.json's reference: a registered model name (pinned: the same file on every machine) or a dir."""
    from harness.models import MODELS

    if reference in MODELS:
        return Path(MODELS.get(reference)(texts=(), seed=0, options={}))
    path = Path(reference)
    if not (path / "config.json").is_file():
        raise HarnessError(f"implicit reward model: its reference {reference!r} is not a model directory")
    return path


def train_implicit(train, pairs_source: str, out: str | Path, *, backbone: str,
                   log: Callable[[str], None] = print) -> dict:
    """Train the policy of recipe `train` (a RewardTrainConfig) with its loss from `backbone` (a registered
    model name or a directory), measure held-out pairwise accuracy, save to `out` atomically."""
    from harness.config import from_dict
    from harness.trainer import train_run
    from harness.trainer.config import RunConfig
    from harness.trainer.data import load_run_pairs

    out = Path(out)
    work = out.with_name(out.name + ".work")  # the RM's own training rows, apart from the suite's tables
    model = {"name": backbone} if not Path(backbone).is_dir() else {"name": "rm-backbone", "init_from": backbone}
    probe = from_dict(RunConfig, _run(train, model, 1), source="eval.reward_model.train")
    raw = load_run_pairs(probe.data)
    steps = max(1, train.epochs * math.ceil(len(raw.train) / train.batch_size))
    cfg = from_dict(RunConfig, _run(train, model, steps), source="eval.reward_model.train")
    t0 = time.perf_counter()
    result = train_run(cfg, work, suite="reward-model")
    if result.status != "completed" or result.checkpoint is None:
        raise HarnessError(f"implicit reward model: its {train.loss} training {result.status}: "
                           f"{result.error or ''}".strip())
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(result.checkpoint, tmp)
    info = {"kind": KIND, "reference": backbone, "beta": train.beta, "loss": train.loss, "params": dict(train.params),
            "train_pairs": len(raw.train),
            "heldout_pairs": len(raw.eval), "steps": steps, "learning_rate": train.lr, "batch_size": train.batch_size,
            "seed": train.seed, "source": pairs_source, "run_id": result.run_id}
    (tmp / INFO_FILE).write_text(json.dumps(info))  # what the scorer loads by; the accuracy is added below
    rm = ImplicitRewardModel(tmp, max_length=train.max_length, device=train.device)
    prompts = [p.prompt for p in raw.eval]
    chosen = rm.score(prompts, [p.chosen for p in raw.eval])
    rejected = rm.score(prompts, [p.rejected for p in raw.eval])
    wins = sum(1.0 if c > r else 0.5 if c == r else 0.0 for c, r in zip(chosen, rejected, strict=True))
    info.update(heldout_accuracy=wins / len(raw.eval) if raw.eval else math.nan,
                train_s=round(time.perf_counter() - t0, 2))
    (tmp / INFO_FILE).write_text(json.dumps(info, indent=1, sort_keys=True))
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    shutil.rmtree(work, ignore_errors=True)
    log(f"implicit reward model: {steps} {train.loss} steps on {len(raw.train)} pairs, held-out accuracy "
        f"{info['heldout_accuracy']:.3f} on {len(raw.eval)} pairs")
    return info


def _run(train, model: dict, steps: int) -> dict:
    """The RM's run config: the recipe's loss from the backbone; the last `heldout` share of the pairs held out."""
    if train.limit is not None:
        raise HarnessError("eval.reward_model.train.limit: not supported for kind implicit; size the data with "
                           "its options (e.g. n_pairs)")
    return {"name": "reward-model", "model": model,
            "data": {"train": train.data, "options": dict(train.options),
                     "eval_size": max(1, round(train.heldout * _n(train))),
                     "max_prompt_len": train.max_length, "max_response_len": train.max_length},
            "loss": {"name": train.loss, "beta": train.beta, "params": dict(train.params)},
            "train": {"steps": steps, "batch_size": train.batch_size, "learning_rate": train.lr,
                      "warmup_steps": min(10, steps), "seed": train.seed, "threads": train.threads,
                      "device": train.device, "eval_every": 0}}


def _n(train) -> int:
    """Pairs the recipe's data spec yields (its held-out share is taken from them)."""
    from harness.data import load_pairs

    return len(load_pairs(train.data, options=dict(train.options) or None).pairs)
