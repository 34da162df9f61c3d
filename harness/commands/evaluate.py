"""`harness eval`: evaluate checkpoints against a reference (generation, scores, win-rate, lm-eval).

    harness eval results/x/checkpoints/<run>/final --reference results/x/checkpoints/<sft>/final \\
        --out results/x --prompts arith --set prompts.options.split=test --rm results/rm-hh
    harness eval dpo=ckpt/a minor=ckpt/b --reference ref=ckpt/sft --out results/y --config eval.yaml \\
        --set generation.backend=hf --set lmeval.tasks=[harness_arith]
    harness eval 02e976bbc7240f70 --reference 1dd5942d3dad44d7 --results results/x --out results/z

Targets are `[RUN_ID=]DIR` (default id: the directory name, or its parent's for `.../final`), or,
with `--results DIR`, run ids of that folder: their checkpoints are found from its `runs` table
(stored relative to the folder, so a moved or copied folder works).
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
    p.add_argument("--results", default=None, metavar="DIR",
                   help="a results folder whose run ids may be given as targets or reference")
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


def by_run_id(results: str, spec: str) -> tuple[str, str]:
    """A run id of the results folder -> (id, its checkpoint); anything else as split_target."""
    from harness.results.records import checkpoint_dir, located
    from harness.results.store import ResultStore

    store = ResultStore(results)
    store.check_versions()  # a folder of a newer schema is refused, whichever of its run ids is asked for
    if Path(spec).exists() or "=" in spec or not store.has("runs", spec):
        return split_target(spec)
    stored = store.read("runs", spec)["checkpoint"].iloc[0]
    return spec, str(located(results, stored) if isinstance(stored, str) and stored else checkpoint_dir(results, spec))


WEIGHTS = ("*.safetensors", "pytorch_model*.bin")  # what a checkpoint folder must hold to be loaded


def check_targets(specs: list[str], targets: list[tuple[str, str]], results: str | None) -> None:
    """Each target must be a folder with weights: an unknown run id, a folder without weights or a
    deleted checkpoint used to surface one at a time, after the reference model had loaded (exit 1)."""
    from harness.errors import HarnessError

    problems = []
    for spec, (rid, where) in zip(specs, targets, strict=True):
        path = Path(where)
        if path.is_dir():
            if not any(any(path.glob(w)) for w in WEIGHTS):
                problems.append(f"{spec}: {where} holds no model weights ({' or '.join(WEIGHTS)})")
        elif path.exists():
            problems.append(f"{spec}: {where} is a file, not a checkpoint folder")
        elif "=" in spec or not results:
            problems.append(f"{spec}: no such folder")
        elif where != spec:  # a run id of --results whose checkpoint is gone
            problems.append(f"{spec}: run {rid}'s checkpoint {where} does not exist (deleted, or never written)")
        else:
            problems.append(f"{spec}: not a run id of {results} and not a folder")
    if problems:
        raise HarnessError(f"harness eval: {len(problems)} of {len(specs)} target(s) cannot be evaluated, "
                           f"nothing was loaded: " + "; ".join(problems))


def check_target_names(targets: list[tuple[str, str]]) -> None:
    """Before any model loads: each id becomes a part file name under --out (harness.names), and
    a folder that needs its own code is refused here rather than one run at a time later."""
    from harness.models.custom_code import EVAL_ADVICE, check_custom_code
    from harness.names import check_name

    for rid, where in targets:
        check_name(rid, f"harness eval: target {where!r}: run id")
        check_custom_code(where, trust=False, what="harness eval", advice=EVAL_ADVICE)


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
    from harness.doctor.checks import preflight
    from harness.doctor.needs import eval_needs

    preflight(eval_needs(cfg, prefix=""), source=args.config or "harness eval")  # before any model loads
    store = ResultStore(args.out)
    store.check_versions()  # its rows are read back (reference reuse, the summary): a newer folder is refused now
    find = (lambda spec: by_run_id(args.results, spec)) if args.results else split_target
    targets, reference = [find(t) for t in args.targets], find(args.reference)
    check_targets(args.targets, targets, args.results)  # every missing one named, before any model loads
    check_target_names([*targets, reference])
    status = evaluate_runs(cfg, targets=targets, reference=reference, store=store)
    print(summary(store, status))
    return 0 if all(s == "ok" for s in status.values()) else 1


def summary(store, status: dict[str, str]) -> str:
    """One line per run: status and the catalogue's brief metrics with their CIs."""
    from harness.results.catalogue import METRICS

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
