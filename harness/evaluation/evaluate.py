"""Evaluate checkpoints against a reference: one engine, the same prompts, per-sample Parquet rows.

    status = evaluate_runs(cfg, targets=[(run_id, ckpt_dir), ...], reference=(ref_id, ref_dir),
                           store=ResultStore(out))          # {run_id: "ok" | "failed: ..."}

Order of work: check everything a user can get wrong (prompts, reference, reward model, lm-eval
tasks) before the engine starts; start the generation engine on the reference; evaluate the
reference, then each target (weights swapped into the same engine). A target that fails is
recorded (an `evals` part `<run_id>.failed` with metric `eval_failed` and the error) and the
next one goes on; its `evals` part proper is absent, so a suite retries it. Per run, the parts
are written generations → scores → lmeval → evals: `evals` last, because its presence means
"evaluated" to the suite runner.
"""

from __future__ import annotations

import math
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from harness.errors import HarnessError
from harness.evaluation.config import EvalConfig, config_hash
from harness.evaluation.metrics import row, sample_metrics
from harness.hashing import content_hash
from harness.results.store import ResultStore


def evaluate_runs(cfg, targets: Sequence[tuple[str, str]], reference: tuple[str, str], prompts: Sequence | None = None,
                  store: ResultStore | None = None, *, log: Callable[[str], None] = print) -> dict[str, str]:
    """Evaluate `reference` and every target; see `harness.evaluation` for the contract."""
    if store is None:
        raise TypeError("evaluate_runs: store is required")
    cfg = EvalConfig.from_mapping(cfg)
    from harness.threads import torch_threads

    with torch_threads(cfg.threads):
        return _evaluate(cfg, targets, reference, prompts, store, log)


def _evaluate(cfg: EvalConfig, targets, reference, prompts, store: ResultStore, log) -> dict[str, str]:
    pairs = select_prompts(cfg, prompts)
    ref_id, ref_dir = resolve_reference(reference)
    session = _Session(cfg, pairs, ref_dir, store, log)
    status: dict[str, str] = {}
    try:
        log(f"eval: reference {ref_id} ({len(pairs)} prompts, backend {cfg.generation.backend})")
        if not session.reuse_reference(ref_id):  # already evaluated under this config and prompt set
            session.evaluate(ref_id, ref_dir, is_reference=True)  # a failure here stops everything: no baseline
        status[ref_id] = "ok"
        for run_id, ckpt in targets:
            log(f"eval: {run_id}")
            try:
                session.evaluate(run_id, ckpt)
                status[run_id] = "ok"
            except Exception as e:  # one bad checkpoint must not cost the others their evaluation
                msg = f"{type(e).__name__}: {e}"
                detail = msg if isinstance(e, HarnessError) else traceback.format_exc()
                store.write("evals", f"{run_id}.failed", [row(run_id, "eval_failed", math.nan, error=detail[-4000:])])
                status[run_id] = f"failed: {msg}"
                log(f"eval: {run_id} failed: {msg}")
    finally:
        session.close()
    return status


def select_prompts(cfg: EvalConfig, prompts: Sequence | None) -> list:
    """The first `n_prompts` distinct prompts: given (a suite passes its runs' held-out pairs,
    harness.suite.resolved), or loaded from `cfg.prompts`."""
    if prompts is None:
        if cfg.prompts is None:
            raise HarnessError("eval: no prompts: give eval.prompts (a dataset spec), or evaluate through a suite "
                               "whose runs have held-out data")
        from harness.data import load_pairs

        prompts = load_pairs(cfg.prompts.data, options=dict(cfg.prompts.options)).pairs
    seen, out = set(), []
    for p in prompts:
        if p.prompt_id not in seen:  # one prompt, one set of samples: (prompt_id, sample) is a key
            seen.add(p.prompt_id)
            out.append(p)
    out = out[: cfg.generation.n_prompts]
    if not out:
        raise HarnessError("eval: the prompt set is empty (check eval.prompts or the runs' held-out data: "
                           "data.eval / data.eval_size)")
    return out


def resolve_reference(reference: tuple[str, str]) -> tuple[str, Path]:
    """(id, directory): a directory as is; a model name (registered, hub id) is resolved to its directory."""
    ref_id, where = reference
    path = Path(str(where)).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise HarnessError(f"reference model {str(where)!r}: not a model directory (no config.json)")
        return ref_id, path
    from harness.models.load import resolve_model

    try:
        return ref_id, resolve_model(str(where))
    except HarnessError as e:
        raise HarnessError(f"reference model {str(where)!r}: {e}") from None


class _Session:
    """Engine, scorers and lm-eval for one evaluate_runs call; evaluates one run at a time."""

    def __init__(self, cfg: EvalConfig, pairs: list, ref_dir: Path, store: ResultStore, log):
        from harness.generation import BACKENDS, SamplingSpec
        from harness.scoring import SCORERS
        from harness.scoring.base import ScoringContext

        self.cfg, self.pairs, self.store, self.log = cfg, pairs, store, log
        g = cfg.generation
        self.spec = SamplingSpec(g.max_new_tokens, g.temperature, g.top_p, g.samples, g.seed)
        self.scorers, self.lmeval, self.generator = [], None, None
        try:  # cheap checks and loads first: a bad RM path or task name fails before the engine starts
            # every registered scorer decides from the eval block whether (and how) it takes part
            ctx = ScoringContext(ref_dir=ref_dir, root=store.root, pairs=pairs, log=log)
            on = [SCORERS.get(name).for_eval(cfg, ctx) for name in SCORERS]
            self.scorers = [s for s in on if s is not None]
            if cfg.lmeval.tasks:
                from harness.evaluation.lmeval import LMEvalSession

                le = cfg.lmeval
                self.lmeval = LMEvalSession(le.tasks, backend=le.backend, batch_size=le.batch_size,
                                            include_paths=le.include_paths, max_model_len=g.max_model_len, seed=g.seed,
                                            gpu_memory_utilization=le.gpu_memory_utilization, dtype=g.dtype)
            self.generator = BACKENDS.get(g.backend)(ref_dir, dtype=g.dtype, max_model_len=g.max_model_len,
                                                     enforce_eager=g.enforce_eager, seed=g.seed,
                                                     batch_size=g.batch_size,
                                                     gpu_memory_utilization=cfg.gpu_memory_utilization)
        except BaseException:
            self.close()
            raise
        # eval_hash: the setup (what the suite runner compares); prompts_hash: the prompt set, which
        # may come from the runs' held-out data (the reference's rows are reused only if both match)
        self.eval_hash = config_hash(cfg)
        self.prompts_hash = content_hash([p.prompt_id for p in pairs])
        self.common = {"backend": g.backend, "engine_version": self.generator.version, "temperature": g.temperature,
                       "top_p": g.top_p, "max_new_tokens": g.max_new_tokens, "seed": g.seed, "eval_hash": self.eval_hash,
                       "prompts_hash": self.prompts_hash}

    def reuse_reference(self, ref_id: str) -> bool:
        """Take the reference's rewards from the store when a previous call evaluated it identically.

        A suite evaluates in groups (and again after an interruption); the reference's rows do not
        change between calls with the same config and prompts (same `eval_hash`).
        """
        if not (self.store.has("evals", ref_id) and self.store.has("scores", ref_id)):
            return False
        evals = self.store.read("evals", ref_id)
        for col, want in (("eval_hash", self.eval_hash), ("prompts_hash", self.prompts_hash)):
            if col not in evals or set(evals[col]) != {want}:
                return False
        scores = self.store.read("scores", ref_id)
        for hook in self._hooks("reuse_reference"):
            hook(scores)
        self.log(f"eval: reference {ref_id} already evaluated with this config; reusing its rows")
        return True

    def _hooks(self, name: str) -> list:
        """The scorers' optional hook `name` (harness.scoring.base.Scorer), in registry order."""
        return [getattr(s, name) for s in self.scorers if hasattr(s, name)]

    def evaluate(self, run_id: str, ckpt, *, is_reference: bool = False) -> None:
        """Generate -> score -> rows -> persist, for one checkpoint."""
        from harness.data.messages import prompt_text
        from harness.generation import encode_prompts, prompt_seed
        from harness.generation.base import check_model_dir
        from harness.scoring.base import Samples

        path = check_model_dir(ckpt, f"checkpoint of run {run_id}")
        t0 = time.perf_counter()
        self.generator.load(path)
        tok = self.generator.tokenizer
        prompt_ids = encode_prompts(tok, [p.prompt for p in self.pairs], max_prompt_len=self.cfg.generation.max_prompt_len)
        seeds = [prompt_seed(self.spec.seed, p.prompt_id) for p in self.pairs]
        outputs = self.generator.generate(prompt_ids, self.spec, seeds)
        gen_s = time.perf_counter() - t0
        flat = [(i, k, c) for i, comps in enumerate(outputs) for k, c in enumerate(comps)]
        samples = Samples(run_id, path, [self.pairs[i].prompt_id for i, _, _ in flat], [self.pairs[i].prompt for i, _, _ in flat],
                          [prompt_ids[i] for i, _, _ in flat], [c.text for _, _, c in flat],
                          [c.token_ids for _, _, c in flat], [self.pairs[i].gold for i, _, _ in flat],
                          [k for _, k, _ in flat])
        # score: every scorer's per-sample columns, then its per-pair columns (held-out pairs)
        t1 = time.perf_counter()
        columns: dict[str, list] = {}
        for scorer in self.scorers:
            columns.update(scorer.score(samples))
        columns.update({"completion_tokens": [len(c.token_ids) for _, _, c in flat],
                        "stopped": [float(c.finish_reason == "stop") for _, _, c in flat]})
        pair_cols: dict[str, list] = {}
        for hook in self._hooks("pair_columns"):
            pair_cols.update(hook(path, tok, self.pairs, self.cfg))
        score_s = time.perf_counter() - t1

        gens = [{"run_id": run_id, "prompt_id": self.pairs[i].prompt_id, "sample": k,
                 "prompt": prompt_text(self.pairs[i].prompt), "completion": c.text,
                 "completion_tokens": len(c.token_ids), "finish_reason": c.finish_reason, "gold": self.pairs[i].gold,
                 "seed_prompt": seeds[i], **self.common} for i, k, c in flat]
        scores = [{"run_id": run_id, "prompt_id": pid, "sample": k,
                   **{col: _num(columns[col][j]) for col in columns if col not in ("completion_tokens", "stopped")}}
                  for j, (pid, (_, k, _)) in enumerate(zip(samples.prompt_ids, flat))]
        extras = {k: v for hook in self._hooks("sample_extras") for k, v in hook().items()}
        for r in scores:  # contract columns exist even when their scorer is off
            for col in ("reward", "correct", "kl"):
                r.setdefault(col, math.nan)
            r.update(extras)
        # rows: means with intervals over prompts, then each scorer's own rows, then timings
        evals = self._metrics(run_id, samples.prompt_ids, columns, pair_cols)
        for hook in self._hooks("eval_rows"):
            evals += hook(run_id, samples, columns, is_reference=is_reference, cfg=self.cfg)
        evals += [row(run_id, "generation_s", gen_s), row(run_id, "scoring_s", score_s)]
        # persist: evals last, its presence means "evaluated" to the suite runner
        self.store.write("generations", run_id, gens)
        self.store.write("scores", run_id, scores)
        if self.lmeval is not None:
            le = self.cfg.lmeval
            lm_rows = self.lmeval.evaluate(path, limit=le.limit, num_fewshot=le.num_fewshot)
            self.store.write("lmeval", run_id, [{"run_id": run_id, "backend": le.backend, **r} for r in lm_rows])
        self.store.write("evals", run_id, [{**r, "eval_hash": self.eval_hash, "prompts_hash": self.prompts_hash,
                                            "is_reference": is_reference} for r in evals])
        self.store.delete("evals", f"{run_id}.failed")

    def _metrics(self, run_id, prompt_ids, columns, pair_cols) -> list[dict]:
        c = self.cfg
        evals = sample_metrics(run_id, prompt_ids, columns, iters=c.bootstrap_iters, seed=c.generation.seed, level=c.ci_level)
        if pair_cols:
            pair_ids = [p.prompt_id for p in self.pairs][: len(next(iter(pair_cols.values())))]
            evals += sample_metrics(run_id, pair_ids, pair_cols, iters=c.bootstrap_iters, seed=c.generation.seed,
                                    level=c.ci_level)
        return evals

    def close(self) -> None:
        for part in [self.generator, self.lmeval, *self.scorers]:
            if part is not None:
                try:
                    part.close()
                except Exception:  # closing must never hide the error that got us here
                    pass


def _num(v) -> float:
    return math.nan if v is None else float(v)
