"""transformers `generate` behind the generation protocol: the fallback and the parity oracle.

    gen = HFGenerator(model_dir)            # loads the model (fast for small models)
    gen.load(checkpoint_dir)                # reloads from disk (cheap compared with generating)
    out = gen.generate(prompt_ids, SamplingSpec(max_new_tokens=32), seeds)

Batches hold prompts of equal length only, so no padding ever enters a forward pass: a prompt's
greedy output is the same whatever else is in the set (batch invariance), and equals vLLM's on
the same weights. Sampling draws from torch's global generator seeded with the first prompt seed
of each batch: reproducible for the same prompt set, but not the same random numbers as vLLM.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from harness.generation.base import Completion, SamplingSpec, check_model_dir


class HFGenerator:
    name = "hf"

    def __init__(self, model_dir: str | Path, *, dtype: str = "auto", batch_size: int = 32, device: str = "auto",
                 **_ignored):
        from harness.accel import resolve_device

        self.version = f"transformers=={metadata.version('transformers')}"
        self.device = resolve_device(device, key="eval.device")
        self.dtype = dtype
        self.batch_size = batch_size
        self.model = None
        self.current = None
        self.load(model_dir)

    def load(self, checkpoint_dir: str | Path) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = check_model_dir(checkpoint_dir)
        if self.current is not None and path.resolve() == self.current.resolve():
            return
        from harness.accel import generation_dtype

        dtype = getattr(torch, generation_dtype(self.dtype, self.device))  # auto: bf16 on CUDA, fp32 on CPU
        # trust_remote_code explicit: unset, transformers would ask on a terminal (harness.models.custom_code)
        model = AutoModelForCausalLM.from_pretrained(str(path), trust_remote_code=False, dtype=dtype)
        self.model = model.to(self.device).eval()
        self.tokenizer = AutoTokenizer.from_pretrained(str(path), trust_remote_code=False)
        self.current = path
        stop = self.model.generation_config.eos_token_id
        if stop is None:
            stop = self.tokenizer.eos_token_id
        self._stop = set(stop if isinstance(stop, (list, tuple)) else [stop]) - {None}

    def close(self) -> None:
        self.model = None

    def generate(self, prompt_ids: Sequence[Sequence[int]], spec: SamplingSpec,
                 seeds: Sequence[int]) -> list[list[Completion]]:
        import torch

        by_len: dict[int, list[int]] = {}
        for i, ids in enumerate(prompt_ids):
            by_len.setdefault(len(ids), []).append(i)
        result: list[list[Completion] | None] = [None] * len(prompt_ids)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else next(iter(self._stop), 0)
        for idx in by_len.values():
            for start in range(0, len(idx), self.batch_size):
                chunk = idx[start:start + self.batch_size]
                inputs = torch.tensor([list(prompt_ids[i]) for i in chunk], device=self.device)
                kwargs = {"do_sample": False} if spec.greedy else {
                    "do_sample": True, "temperature": spec.temperature, "top_p": spec.top_p, "top_k": 0}
                if not spec.greedy:
                    torch.manual_seed(int(seeds[chunk[0]]))
                with torch.no_grad():
                    out = self.model.generate(inputs, attention_mask=torch.ones_like(inputs),
                                              max_new_tokens=spec.max_new_tokens, num_return_sequences=spec.samples,
                                              eos_token_id=sorted(self._stop) or None, pad_token_id=pad, **kwargs)
                new = out[:, inputs.shape[1]:].tolist()
                for j, i in enumerate(chunk):
                    result[i] = [self._completion(new[j * spec.samples + k]) for k in range(spec.samples)]
        return result  # type: ignore[return-value]

    def _completion(self, ids: list[int]) -> Completion:
        for n, t in enumerate(ids):
            if t in self._stop:  # cut after the first stop token (the rest is padding)
                ids = ids[: n + 1]
                return Completion(self.tokenizer.decode(ids, skip_special_tokens=True), tuple(ids), "stop")
        return Completion(self.tokenizer.decode(ids, skip_special_tokens=True), tuple(ids), "length")
