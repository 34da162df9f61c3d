"""The training loop: steps, accumulation, schedule, clipping, divergence stop, eval, checkpoints.

    outcome = Loop(session, cfg, folder=run_dir(out, run_id), run_id=run_id, on_checkpoint=fn).fit()
    outcome.status        # "completed" | "diverged"
    loop.rows             # steps-table rows (train and eval), also after an exception

One step = `grad_accum` micro-batches of `batch_size` pairs, each a single forward over chosen and
rejected rows together. Metrics are summed on the device and read back once per step. A step
whose loss or gradient norm is not finite, or whose loss exceeds `blowup_factor` x the run's
first loss, is recorded and stops the run before the optimizer applies it.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from harness.accel import autocast
from harness.data.shared_prompt import collate_shared
from harness.data.tokenize import batches, collate
from harness.logprobs.logps import sequence_logps, split_pairs
from harness.results.schema import renames
from harness.trainer.checkpoint import load_state, save_state
from harness.trainer.distributed import LogpsModule, gather_train_state, restore_train_state, wrap
from harness.trainer.metrics import MetricSums
from harness.trainer.optim import build_optimizer, lr_at


@dataclasses.dataclass
class FitResult:
    status: str  # "completed" | "diverged"
    steps: int  # optimizer steps applied
    diverged_step: int | None
    wall_s: float
    resumed_from: int  # step restored from a checkpoint (0: fresh start)


class Loop:
    def __init__(self, session, cfg, *, folder: Path, run_id: str, on_checkpoint: Callable[[list], None] | None = None,
                 on_row: Callable[[dict], None] | None = None):
        self.s, self.cfg, self.t = session, cfg, cfg.train
        self.folder, self.run_id, self.on_checkpoint, self.on_row = folder, run_id, on_checkpoint, on_row
        self.model = session.model
        self.dist = session.dist
        self.fwd = wrap(LogpsModule(self.model), self.dist, session.device, session.dtype)  # DDP / FSDP when several ranks
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = build_optimizer(self.model, self.t)
        self.pad_id = session.tokenizer.pad_token_id
        self.collate = collate_shared if session.share_prompt else collate
        self.lengths = [p.length for p in session.data.train]
        self.per_epoch = len(batches(self.lengths, self.t.batch_size, seed=self.t.seed, epoch=0))
        self._epoch, self._order = -1, []
        self.rows: list[dict] = []  # steps-table rows so far (kept on failure too)
        self.pair_logratios: list | None = None  # during an eval: (indices, r_w, r_l) per batch (the `pairs` table)
        self.final_pairs: tuple | None = None  # (r_w [N], r_l [N]) of the held-out pairs at the last eval
        self.ref_train, self.ref_eval = self._ref_tensors(session.ref_train), self._ref_tensors(session.ref_eval)

    def _ref_tensors(self, ref):
        if ref is None:
            return None
        return ref.chosen.to(self.s.device, torch.float32), ref.rejected.to(self.s.device, torch.float32)

    # ------------------------------------------------------------------ data order
    def micro_batch(self, k: int) -> list[int]:
        """Indices of global micro-batch `k`: a pure function of (seed, k), hence resumable."""
        epoch, pos = divmod(k, self.per_epoch)
        if epoch != self._epoch:
            self._order, self._epoch = batches(self.lengths, self.t.batch_size, seed=self.t.seed, epoch=epoch), epoch
        return self._order[pos]

    # ------------------------------------------------------------------ one forward
    def forward(self, pairs, ref, idx: list[int], sums: MetricSums) -> torch.Tensor:
        """This rank's shard of global micro-batch `idx`; its loss scaled so that the mean over ranks
        (DDP) is the one-process mean over the whole micro-batch."""
        device, size = self.s.device, len(idx)
        idx = self.dist.shard(idx)
        batch = {k: v.to(device, non_blocking=True) for k, v in self.collate([pairs[i] for i in idx], self.pad_id).items()}
        with autocast(device, self.s.dtype):
            logps, tokens = self.fwd(batch) if torch.is_grad_enabled() else self._plain(batch)
        pc, pr = split_pairs(logps)
        lc, lr = (t.to(pc.dtype) for t in split_pairs(tokens))
        rc, rr = (None, None) if ref is None else (r[torch.as_tensor(idx, device=device)] for r in ref)
        loss = self.s.loss(pc, pr, rc, rr, beta=self.cfg.loss.beta, chosen_lengths=lc, rejected_lengths=lr,
                           **self.cfg.loss.params)
        sums.add(loss, pc, pr, rc, rr, lc, lr, tokens=batch["pair_tokens"])
        if self.pair_logratios is not None and rc is not None and not torch.is_grad_enabled():
            self.pair_logratios.append((idx, (pc - rc).detach().double().cpu(), (pr - rr).detach().double().cpu()))
        if not self.dist.active:
            return loss.losses.mean()
        return loss.losses.sum() * (self.dist.world / size)

    def _plain(self, batch):
        """Evaluation forward: no gradients to synchronise, so not through DDP (FSDP must unshard)."""
        if self.dist.strategy == "fsdp" and self.dist.active:
            return self.fwd(batch)
        out = sequence_logps(self.model, batch)
        return out.logps, out.tokens

    # ------------------------------------------------------------------ steps
    def train_step(self, step: int) -> dict:
        """Run 0-based step `step`; returns its metrics (the update is applied by `fit`)."""
        lr = lr_at(step, self.t)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        sums = MetricSums(self.s.device)
        for micro in range(self.t.grad_accum):
            idx = self.micro_batch(step * self.t.grad_accum + micro)
            (self.forward(self.s.data.train, self.ref_train, idx, sums) / self.t.grad_accum).backward()
        norm = torch.nn.utils.clip_grad_norm_(self.params, self.t.max_grad_norm or math.inf)
        if hasattr(norm, "full_tensor"):  # FSDP: sharded parameters give a sharded (DTensor) norm
            norm = norm.full_tensor()
        return {**sums.reduce(norm, self.dist), "learning_rate": lr}

    @torch.no_grad()
    def evaluate(self) -> dict:
        pairs = self.s.data.eval
        self.model.eval()
        sums = MetricSums(self.s.device)
        self.pair_logratios = None if self.dist.active else []  # one process: every pair's r_w, r_l too
        for idx in batches([p.length for p in pairs], 2 * self.t.batch_size):
            if self.dist.shard(idx):
                self.forward(pairs, self.ref_eval, idx, sums)
            elif self.dist.strategy == "fsdp":  # FSDP's collectives need every rank in every forward
                self.forward(pairs, self.ref_eval, idx[:1], MetricSums(self.s.device))
        self.final_pairs = _per_pair(self.pair_logratios, len(pairs)) if self.pair_logratios else None
        self.pair_logratios = None
        self.model.train()
        return {**sums.reduce(None, self.dist), "learning_rate": math.nan}

    def diverged(self, row: dict, first_loss: float) -> bool:
        loss = row["loss"]
        if not math.isfinite(loss) or not math.isfinite(row["grad_norm"]):
            return True
        return first_loss != 0 and loss > self.t.blowup_factor * abs(first_loss)

    # ------------------------------------------------------------------ the run
    def fit(self) -> FitResult:
        from tqdm.auto import tqdm

        sharded = self.dist.active and self.dist.strategy == "fsdp"
        restore = (lambda w, o: restore_train_state(self.fwd, self.optimizer, w, o)) if sharded else None
        state = load_state(self.folder, model=self.model, optimizer=self.optimizer, run_id=self.run_id,
                           restore=restore) or {}
        start = state.get("step", 0)
        old = renames("steps", 1)  # rows saved by an older version carry that schema's names
        self.rows = [{old.get(k, k): v for k, v in r.items()} for r in state.get("rows", [])]
        first_loss, elapsed, t0 = state.get("first_loss"), state.get("elapsed", 0.0), time.perf_counter()
        clock = lambda: elapsed + time.perf_counter() - t0  # noqa: E731  (training time across resumes)
        # rank 0 alone reports progress: the other ranks' rows are the same reduced numbers
        bar = tqdm(total=self.t.steps, initial=start, desc=self.cfg.name, disable=None if self.dist.main else True,
                   dynamic_ncols=True)
        status, diverged_step, done = "completed", None, start
        try:
            for step in range(start, self.t.steps):
                t_step = time.perf_counter()
                row = self.train_step(step)
                first_loss = row["loss"] if first_loss is None else first_loss
                stop = self.diverged(row, first_loss)
                if not stop:
                    self.optimizer.step()
                self.optimizer.zero_grad(set_to_none=True)
                self._add(self._row(step + 1, "train", row, clock(), time.perf_counter() - t_step))
                self._progress(bar, step + 1, row, clock())
                if stop:
                    status, diverged_step = "diverged", step + 1
                    break
                done = step + 1
                self._after_step(done, first_loss, clock)
        finally:
            bar.close()
        return FitResult(status, done, diverged_step, clock(), start)

    def _after_step(self, done: int, first_loss: float, clock) -> None:
        """Periodic (and final) eval; periodic resumable checkpoint with the rows so far."""
        t = self.t
        if self.s.data.eval and ((t.eval_every and done % t.eval_every == 0) or done == t.steps):
            self._add(self._row(done, "eval", self.evaluate(), clock(), math.nan))
        if t.checkpoint_every and done % t.checkpoint_every == 0 and done < t.steps:
            gathered = gather_train_state(self.fwd, self.optimizer, self.dist)  # FSDP: every rank takes part
            if self.dist.main:  # rank 0 alone writes
                save_state(self.folder, model=self.model, optimizer=self.optimizer, gathered=gathered,
                           state={"run_id": self.run_id, "step": done, "first_loss": first_loss,
                                  "elapsed": clock(), "rows": self.rows})
                if self.on_checkpoint:
                    self.on_checkpoint(self.rows)

    def _progress(self, bar, step: int, row: dict, now: float) -> None:
        bar.update(1)
        bar.set_postfix(loss=f"{row['loss']:.4f}", acc=f"{row['reward_accuracy']:.2f}", refresh=False)
        if bar.disable and self.dist.main and step % max(1, self.t.steps // 10) == 0:  # no terminal: a line per 10%
            print(f"{self.cfg.name}: step {step}/{self.t.steps} loss {row['loss']:.4f} "
                  f"reward_acc {row['reward_accuracy']:.2f} ({now:.0f}s)", file=sys.stderr, flush=True)

    def _add(self, row: dict) -> None:
        self.rows.append(row)
        if self.on_row is not None:  # experiment trackers (harness.tracking): rows as they are made
            self.on_row(row)

    def _row(self, step: int, split: str, metrics: dict, wall: float, step_s: float) -> dict:
        return {"run_id": self.run_id, "step": step, "split": split, **metrics, "elapsed_s": wall, "step_s": step_s}


def _per_pair(parts: list, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(r_w [n], r_l [n]) in pair order from an eval's (indices, r_w, r_l) batches."""
    r_w, r_l = torch.full((n,), math.nan, dtype=torch.float64), torch.full((n,), math.nan, dtype=torch.float64)
    for idx, w, lo in parts:
        r_w[idx], r_l[idx] = w, lo
    return r_w, r_l
