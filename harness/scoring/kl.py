"""KL to the reference on the policy's own samples: log pi(y|x) - log pi_ref(y|x), per sample.

    kl = KLScorer(reference_dir="results/x/checkpoints/<sft>/final")
    kl.score(samples)   # {"kl": [...], "logp_policy": [...], "logp_ref": [...]}

The mean over samples y ~ pi is a Monte-Carlo estimate of KL(pi || pi_ref) for the sequence
distribution; it is unbiased only for samples drawn at temperature 1 (greedy or tempered samples
still give the per-sample log-ratio, a useful drift measure, but not the KL itself). The
completion's token ids are scored exactly as generated (EOS included when it stopped), under the
prompt ids the generator saw, with `harness.logprobs.logps.sequence_logps`: the trainer's code.

Precision: float32 by default; `scorers: {kl: {dtype: fastest}}` (or bfloat16) scores under bf16
autocast where the probe measures it faster (harness.accel). The log-softmax and the sums stay
float32 either way.

The reference model stays loaded across runs; the policy is loaded per run. The reference's
log-probs are memoised by (prompt ids, completion ids): the held-out pairs are the same for
every run, so their reference pass is paid once per evaluation call, not once per run.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from harness.generation.base import check_model_dir
from harness.scoring.base import Samples


class KLScorer:
    columns = ("kl", "logp_policy", "logp_ref")
    options = ("batch_size", "dtype")  # eval.scorers.kl

    @classmethod
    def for_eval(cls, cfg, ctx) -> "KLScorer | None":
        """On with `kl: true` (or `scorers: {kl: ...}`); scores against the evaluation's reference."""
        opts = cfg.scorer_options("kl", cfg.kl)
        if opts is None:
            return None
        return cls(ctx.ref_dir, batch_size=opts.get("batch_size", cfg.kl_batch_size), device=cfg.device,
                   dtype=opts.get("dtype", "float32"))

    def __init__(self, reference_dir: str | Path, *, batch_size: int = 16, device: str = "auto",
                 dtype: str = "float32", **_):
        from harness.accel import compute_dtype, resolve_device

        self.device = resolve_device(device, key="eval.device")
        self.dtype = compute_dtype(dtype, self.device)  # None: float32
        self.batch_size = batch_size
        self._ref_memo: dict[tuple, float] = {}
        self.reference_dir = check_model_dir(reference_dir, "reference model")
        self._ref = self._load(self.reference_dir)
        self._policy_dir: Path | None = None
        self._policy = None

    def _load(self, path: Path):
        from harness.models.load import load_causal_lm

        return load_causal_lm(path, device=self.device)

    def logps(self, policy_dir: str | Path, prompt_ids: Sequence[Sequence[int]],
              completion_ids: Sequence[Sequence[int]]) -> tuple[list[float], list[float]]:
        """(policy, reference) summed log-probs of each completion given its prompt."""
        path = check_model_dir(policy_dir, "policy model")
        if path.resolve() == self.reference_dir.resolve():
            policy = self._ref  # the reference scoring itself: one model, KL exactly 0
        else:
            if self._policy_dir is None or path.resolve() != self._policy_dir.resolve():
                self._policy, self._policy_dir = self._load(path), path
            policy = self._policy
        kw = {"batch_size": self.batch_size, "device": self.device, "dtype": self.dtype}
        pol = completion_logps(policy, prompt_ids, completion_ids, **kw)
        if policy is self._ref:
            ref = pol
        else:
            keys = [(tuple(p), tuple(c)) for p, c in zip(prompt_ids, completion_ids)]
            todo = [i for i, k in enumerate(keys) if k not in self._ref_memo]
            fresh = completion_logps(self._ref, [prompt_ids[i] for i in todo], [completion_ids[i] for i in todo], **kw)
            self._ref_memo.update({keys[i]: v for i, v in zip(todo, fresh)})
            ref = [self._ref_memo[k] for k in keys]
        return pol, ref

    def score(self, samples: Samples) -> dict[str, list[float]]:
        pol, ref = self.logps(samples.model_dir, samples.prompt_token_ids, samples.completion_token_ids)
        return {"kl": [a - b for a, b in zip(pol, ref)], "logp_policy": pol, "logp_ref": ref}

    def pair_columns(self, policy_dir, tokenizer, pairs, cfg) -> dict[str, list[float]]:
        """Held-out chosen/rejected log-probs under policy and reference (training tokenisation):
        the catalogue's `pairs` metrics (chosen_logratio, ...)."""
        from harness.data.tokenize import tokenize_pairs

        g = cfg.generation
        tokenized, _ = tokenize_pairs(pairs, tokenizer, max_prompt_len=g.max_prompt_len,
                                      max_response_len=g.max_model_len - g.max_prompt_len, on_bad_row="skip")
        if len(tokenized) != len(pairs):
            return {}  # some pairs dropped: the rows would no longer align with the prompt ids
        prompts = [t.prompt_ids for t in tokenized]
        out = {}
        for side in ("chosen", "rejected"):
            pol, ref = self.logps(policy_dir, prompts, [getattr(t, f"{side}_ids") for t in tokenized])
            out[f"{side}_logp"] = pol
            out[f"{side}_logratio"] = [a - b for a, b in zip(pol, ref)]
        return out

    def close(self) -> None:
        self._ref = self._policy = None


def completion_logps(model, prompt_ids: Sequence[Sequence[int]], completion_ids: Sequence[Sequence[int]], *,
                     batch_size: int = 16, device: str = "cpu", dtype=None) -> list[float]:
    """Summed log-prob of each completion given its prompt (0.0 for an empty completion);
    `dtype`: the autocast dtype (None: float32)."""
    import torch

    from harness.accel import autocast
    from harness.data.tokenize import IGNORE
    from harness.logprobs.logps import sequence_logps

    out = [0.0] * len(prompt_ids)
    todo = sorted((i for i in range(len(prompt_ids)) if len(completion_ids[i])),
                  key=lambda i: -(len(prompt_ids[i]) + len(completion_ids[i])))  # little padding
    pad = getattr(model.config, "pad_token_id", None) or 0
    for start in range(0, len(todo), batch_size):
        chunk = todo[start:start + batch_size]
        width = max(len(prompt_ids[i]) + len(completion_ids[i]) for i in chunk)
        ids = torch.full((len(chunk), width), pad, dtype=torch.long)
        labels = torch.full((len(chunk), width), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for row, i in enumerate(chunk):
            p, c = list(prompt_ids[i]), list(completion_ids[i])
            ids[row, :len(p) + len(c)] = torch.tensor(p + c)
            labels[row, len(p):len(p) + len(c)] = torch.tensor(c)
            mask[row, :len(p) + len(c)] = 1
        batch = {"input_ids": ids.to(device), "attention_mask": mask.to(device), "labels": labels.to(device)}
        with torch.no_grad(), autocast(device, dtype):
            logps = sequence_logps(model, batch).logps.float().tolist()
        for row, i in enumerate(chunk):
            out[i] = float(logps[row])
    return out
