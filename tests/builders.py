"""Builders several test modules share (one home, imported as `from builders import ...`).

    root = make_results(tmp_path / "synthetic")      # a synthetic results folder: real store, real
                                                     # suite expansion, seeded trajectories, one diverged run
    model = model_copy(tmp_path)                     # a writable copy of the pinned tiny-arith-sft
    model, mark = evil_model(tmp_path)               # a model folder whose auto_map code would create `mark`

The folder is what harness run would write for a 3-variant x 2-beta x 2-lr x 3-seed grid (plus
one diverged run), without training anything: the read side (report, verdict, regress, export,
the explorer) is tested on it in milliseconds.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from harness.config import to_dict
from harness.evaluation.metrics import sample_metrics
from harness.results.store import ResultStore
from harness.suite.grid import expand, resolve, suite_column
from harness.suite.spec import suite_from_dict

SUITE = {
    "name": "synthetic",
    "base": {"model": {"name": "tiny"}, "data": {"train": "arith"}, "train": {"steps": 40}},
    "sft": {"train": {"steps": 100}},
    "variants": [{"name": "dpo", "set": {"loss.name": "dpo"}},
                 {"name": "minor_dpo", "set": {"loss.name": "minor_dpo"}},
                 {"name": "sft", "set": {"loss.name": "sft", "loss.beta": 0.1}}],
    "grid": {"loss.beta": [0.1, 0.5], "train.learning_rate": [2e-4, 1e-3], "train.seed": [0, 1, 2]},
}
DIVERGED = ("dpo", 0.1, 1e-3, 2)  # (variant, beta, lr, seed) of the one run that diverges


def _trajectory(name: str, beta: float, lr: float, t: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray]:
    """Chosen/rejected log-ratios shaped like the real thing: DPO drags the chosen answer down at
    the high learning rate, MinorDPO keeps it up, SFT raises both."""
    speed = lr / 2e-4
    if name == "dpo":
        chosen = (0.2 - 0.6 * speed) * t / (1 + beta)
        rejected = -2.0 * speed * t
    elif name == "minor_dpo":
        chosen, rejected = 0.5 * speed * t, -0.4 * t
    else:
        chosen, rejected = 0.8 * speed * t, 0.3 * t
    return chosen + rng.normal(0, 0.05, t.shape), rejected + rng.normal(0, 0.05, t.shape)


def make_results(root: Path, *, shift: dict | None = None, variants=("dpo", "minor_dpo", "sft"),
                 suite_name: str = "synthetic", dtype: str | None = None) -> Path:
    """Write a results folder for SUITE; `shift` adds {metric: delta} to the runs of `variants`
    (a regression); `suite_name` renames the suite; `dtype` is what `runs.dtype` says (default:
    the pinned config's, float32 here)."""
    suite = suite_from_dict({**SUITE, "name": suite_name}, source="synthetic.yaml")
    plan = expand(suite)
    store = ResultStore(root)
    sft = plan.sft[0]
    ckpt = str(root / "checkpoints" / sft.run_id)
    store.write("runs", sft.run_id, [_run_row(sft.config, sft.run_id, suite_column(suite_name, "sft"), "completed", 100)])
    for i, r in enumerate(plan.runs):
        cfg = resolve(r.config, {sft.run_id: ckpt})
        delta = (shift or {}) if cfg.name in variants else {}
        rng = np.random.default_rng(i)
        key = (cfg.name, cfg.loss.beta, cfg.train.learning_rate, cfg.train.seed)
        diverged = key == DIVERGED
        n_steps = 30 if diverged else 40
        t = np.arange(1, n_steps + 1) / 40
        chosen, rejected = _trajectory(cfg.name, cfg.loss.beta, cfg.train.learning_rate, t, rng)
        chosen = chosen + delta.get("final_logratio_chosen", 0.0)
        rows = [_step_row(r.run_id, s + 1, "train", chosen[s], rejected[s], cfg.loss.beta) for s in range(n_steps)]
        rows += [_step_row(r.run_id, s, "eval", chosen[s - 1] + 0.01, rejected[s - 1], cfg.loss.beta)
                 for s in (20, 40) if s <= n_steps]
        store.write("steps", r.run_id, rows)
        status = "diverged" if diverged else "completed"
        store.write("runs", r.run_id, [_run_row(cfg, r.run_id, suite_name, status, n_steps, 30 if diverged else None,
                                                dtype=dtype)])
        if diverged:
            continue
        quality = {"dpo": 0.4, "minor_dpo": 0.6, "sft": 0.55}[cfg.name] + delta.get("verifier_accuracy", 0.0)
        n = 32
        scores = [{"run_id": r.run_id, "prompt_id": f"p{j}", "sample": 0,
                   "reward": float(rng.normal(quality * 2 / (1 + cfg.loss.beta), 0.3)),
                   "correct": float(rng.random() < quality), "kl": float(rng.gamma(2.0, 1.0 / cfg.loss.beta))}
                  for j in range(n)]
        store.write("scores", r.run_id, scores)
        wr = float(np.clip(quality + rng.normal(0, 0.03), 0, 1))
        # as harness.evaluation writes them: the per-sample means (with bootstrap CIs), then whole rows
        means = sample_metrics(r.run_id, [x["prompt_id"] for x in scores],
                               {c: [x[c] for x in scores] for c in ("reward", "correct", "kl")}, iters=200)
        store.write("evals", r.run_id, means + [{"run_id": r.run_id, "metric": "winrate_vs_ref", "value": wr,
                                                 "ci_low": wr - 0.1, "ci_high": wr + 0.1, "n": n},
                                                {"run_id": r.run_id, "metric": "generation_s", "value": 10.0 + i}])
        store.write("lmeval", r.run_id, [{"run_id": r.run_id, "task": "harness_arith", "metric": "exact_match,final-answer",
                                          "value": quality - delta.get("verifier_accuracy", 0.0),
                                          "stderr": 0.05, "n": 100}])
    # harness.evaluation evaluates the reference (the SFT stage) like any run
    store.write("evals", sft.run_id, [{"run_id": sft.run_id, "metric": m, "value": v, "is_reference": True}
                                      for m, v in (("verifier_accuracy", 0.5), ("kl_mean", 0.0), ("reward_mean", 0.9))])
    return root


def _run_row(cfg, run_id, suite, status, steps, diverged_step=None, dtype=None) -> dict:
    return {"run_id": run_id, "suite": suite, "name": cfg.name, "loss_name": cfg.loss.name, "beta": cfg.loss.beta,
            "lr_peak": cfg.train.learning_rate, "seed": cfg.train.seed, "model": cfg.model.name,
            "dataset": cfg.data.train, "status": status, "diverged_step": diverged_step, "steps": steps,
            "wall_s": 1.0, "ref_cache_hit": True, "config_json": json.dumps(to_dict(cfg)),
            "env_json": "{}", "git_sha": "test", "error": None, "dtype": dtype or cfg.model.dtype}


def _step_row(run_id, step, split, chosen, rejected, beta) -> dict:
    margin = beta * (chosen - rejected)
    return {"run_id": run_id, "step": step, "split": split, "loss": float(np.log1p(np.exp(-margin))),
            "grad_norm": 1.0, "learning_rate": 1e-3, "logratio_chosen": float(chosen),
            "logratio_rejected": float(rejected), "reward_margin": float(margin),
            "reward_accuracy": float(1 / (1 + np.exp(-4 * (chosen - rejected)))),
            "frac_rejected_above_ref": float(1 / (1 + np.exp(-4 * rejected))),
            "frac_chosen_below_ref": float(1 / (1 + np.exp(4 * chosen))), "logps_chosen": -5.0,
            "logps_rejected": -6.0, "nonfinite": 0, "tokens": 256, "elapsed_s": 0.05}


def model_copy(tmp_path: Path) -> Path:
    from harness.models.pinned import pinned_dir

    model = tmp_path / "model"
    shutil.copytree(pinned_dir("tiny-arith-sft"), model)
    return model


def evil_model(tmp_path: Path) -> tuple[Path, Path]:
    """A model folder whose config.json `auto_map` points at a Python file that, once imported,
    creates MARK: the proof that a model folder's code ran."""
    import json

    model = model_copy(tmp_path)
    mark = tmp_path / "MARK"
    config = json.loads((model / "config.json").read_text())
    config.update(model_type="harness_evil", auto_map={"AutoConfig": "evil.EvilConfig",
                                                       "AutoModelForCausalLM": "evil.EvilModel"})
    (model / "config.json").write_text(json.dumps(config))
    (model / "evil.py").write_text(
        f"import pathlib\npathlib.Path({str(mark)!r}).write_text('ran')\n"
        "from transformers import LlamaConfig, LlamaForCausalLM\n\n\n"
        "class EvilConfig(LlamaConfig):\n    model_type = 'harness_evil'\n\n\n"
        "class EvilModel(LlamaForCausalLM):\n    config_class = EvilConfig\n")
    return model, mark


def first_part(folder: Path, table: str) -> Path:
    """The first Parquet part of `table` in a results folder (what a damage case breaks)."""
    return sorted((folder / table).glob("*.parquet"))[0]
