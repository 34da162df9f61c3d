"""`harness eval`: evaluate checkpoints against a reference (generation, scores, win-rate, lm-eval).

    harness eval results/x/checkpoints/<run>/final --reference results/x/checkpoints/<sft>/final \\
        --out results/x --prompts arith --set prompts.options.split=test --rm results/rm-hh
    harness eval dpo=ckpt/a minor=ckpt/b --reference ref=ckpt/sft --out results/y --config eval.yaml \\
        --set generation.backend=hf --set lmeval.tasks=[harness_arith]

Targets are `[RUN_ID=]DIR` (default id: the directory name, or its parent's for `.../final`).
`--config` is a YAML with the `eval:` block of a suite (or that block at the top level);
`--set key=value` overrides it (dotted keys, YAML values). Rows land in OUT/generations,
OUT/scores, OUT/evals and OUT/lmeval. Exit status: 0 all evaluated, 1 some failed, 2 bad input.
"""

from __future__ import annotations

from pathlib import Path

from harness.generation import BACKENDS


def add_arguments(p):
    p.add_argument("targets", nargs="+", metavar="[ID=]DIR", help="checkpoint directories to evaluate")
    p.add_argument("--reference", required=True, metavar="[ID=]DIR_OR_MODEL", help="the reference policy (baseline)")
    p.add_argument("--out", required=True, help="results directory (Parquet tables)")
    p.add_argument("--config", default=None, help="YAML with the eval block (see harness/evaluation/config.py)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="key=value",
                   help="override an eval config key, e.g. generation.n_prompts=16 (repeatable)")
    p.add_argument("--prompts", default=None, metavar="SPEC", help="prompt dataset spec (sets prompts.data)")
    p.add_argument("--rm", default=None, metavar="DIR", help="reward model directory or hub id (sets reward_model)")
    p.add_argument("--backend", default=None, choices=BACKENDS.names(), help="generation backend (sets generation.backend)")


def split_target(spec: str) -> tuple[str, str]:
    """'id=dir' -> (id, dir); 'a/b/<run>/final' -> ('<run>', dir)."""
    name, sep, path = spec.partition("=")
    if sep and name and "/" not in name:
        return name, path
    p = Path(spec)
    return (p.parent.name if p.name == "final" and p.parent.name else p.name or spec), spec


def load_eval_config(path: str | None, overrides: list[str]):
    from harness.config import apply_overrides, load_yaml
    from harness.evaluation import EvalConfig

    data = load_yaml(path) if path else {}
    if "eval" in data and isinstance(data["eval"], dict):
        data = data["eval"]
    source = path or "eval"
    return EvalConfig.from_mapping(apply_overrides(data, overrides, source=source), source=source)


def run(args) -> int:
    from harness.evaluation import evaluate_runs
    from harness.results.store import ResultStore

    extra = list(args.overrides)
    if args.prompts:
        extra.insert(0, f"prompts.data={args.prompts}")
    if args.rm:
        extra.insert(0, f"reward_model={args.rm}")
    if args.backend:
        extra.insert(0, f"generation.backend={args.backend}")
    cfg = load_eval_config(args.config, extra)
    store = ResultStore(args.out)
    status = evaluate_runs(cfg, targets=[split_target(t) for t in args.targets],
                           reference=split_target(args.reference), store=store)
    print(summary(store, status))
    return 0 if all(s == "ok" for s in status.values()) else 1


def summary(store, status: dict[str, str]) -> str:
    """One line per run: status and the catalogue's brief metrics with their CIs."""
    from harness.catalogue import METRICS

    brief = [n for n in METRICS.names() if METRICS.get(n).brief]
    evals = store.read("evals")
    lines = []
    for run_id, st in status.items():
        parts = [f"{run_id}: {st}"]
        df = evals[evals["run_id"] == run_id] if len(evals) else evals
        for metric in brief:
            hit = df[df["metric"] == metric] if len(df) else df
            if len(hit):
                r = hit.iloc[0]
                ci = f" [{r['ci_low']:.3f}, {r['ci_high']:.3f}]" if r["ci_low"] == r["ci_low"] else ""
                parts.append(f"{metric}={r['value']:.3f}{ci}")
        lines.append("  ".join(parts))
    return "\n".join(lines)
