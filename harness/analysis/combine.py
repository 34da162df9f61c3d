"""Several results folders as one `Results`: tables that span suites (two models, two datasets,
a rerun), with the same catalogue, intervals and verdict rules as a single suite.

    res, notes = load_many(["results/a", "results/b"], by=["suite", "model"], out="results/a+b")
    harness report results/a results/b --by suite,model --out results/a+b

`by` keys lead every cell (`suite`, `model` = model.name, `data` = data.train, or any dotted run
key); the other keys are those that vary across all the runs. It refuses, naming the folders,
what cannot be put side by side:
- the same run id in two folders (a copy, or one folder given twice): its seeds would count twice;
- a folder written by a newer schema than this harness reads;
- a `by` key that no run has;
- folders with no result metric in common.
Reward-model metrics (reward, win-rate) are kept only when one reward model scored every folder
(the same `evals.reward_model`, the same held-out accuracy): rewards from different judges are
not on one scale. What was left out, and why, is returned as notes for the report.
"""

from __future__ import annotations

from pathlib import Path

from harness.errors import HarnessError
from harness.results.catalogue import by_source, key_aliases

BY_ALIASES = key_aliases()  # --by model, data, lr, ... (the catalogue's grid keys)
STATUS_METRICS = {m.name for m in by_source("runs")}  # counts every folder has, so never "common"


def load_many(roots, by: list[str], out: str | Path):
    import pandas as pd

    from harness.analysis import cells, signal
    from harness.analysis import frame as sm
    from harness.results import catalogue

    roots = [Path(r) for r in roots]
    if len(set(map(str, (r.resolve() for r in roots)))) < len(roots):
        raise HarnessError(f"harness report: a folder is given twice ({', '.join(map(str, roots))})")
    parts, seen = [], {}
    for root in roots:
        store, runs, config = sm.grid_runs(root)  # a part of a newer schema, in any table: NewerPart
        for rid in runs["run_id"]:
            if rid in seen:
                raise HarnessError(f"run {rid} is in both {seen[rid]} and {root}: the same run twice "
                                   "(a copied folder?) would count its seed twice; give each run once")
            seen[rid] = root
        config = config.assign(suite=runs["suite"].values)
        parts.append((root, store, runs, config))
    config = pd.concat([p[3] for p in parts], ignore_index=True)
    by_keys = check_by(by, config)
    keys = by_keys + [k for k in cells.cell_keys(config.drop(columns=["suite"])) if k not in by_keys]
    runs = sm.cell_runs(pd.concat([p[2] for p in parts], ignore_index=True), config, keys)
    steps, metrics, refs = [], [], {}
    for root, store, r, _ in parts:
        s = store.read("steps")
        s = s[s["run_id"].isin(r["run_id"])]
        steps.append(s)
        metrics.append(sm.run_metrics(store, r, s).assign(folder=str(root)))
        refs.update(sm.reference_metrics(store))
    metrics = pd.concat(metrics, ignore_index=True)
    notes = []
    common = set.intersection(*(set(m["metric"]) for _, m in metrics.groupby("folder"))) - STATUS_METRICS \
        if metrics["folder"].nunique() == len(parts) else set()
    if not common:
        raise HarnessError("harness report: the folders have no result metric in common "
                           f"({', '.join(map(str, roots))}): nothing to compare")
    only = sorted(set(metrics["metric"]) - common - STATUS_METRICS)
    if only:
        notes.append(f"Only in some folders (empty elsewhere): {', '.join(only)}.")
    signals = [signal.rm_signal(store) for _, store, _, _ in parts]
    judges = {_judge(store) for _, store, _, _ in parts}
    rm = signals[0]
    if len(judges) > 1 or len({_sig(s) for s in signals}) > 1:
        dropped = sorted(m for m in set(metrics["metric"]) if catalogue.metric(m).needs_rm)
        metrics = metrics[~metrics["metric"].isin(dropped)]
        rm = None
        notes.append("Reward-model metrics are left out (" + ", ".join(dropped) + "): the folders were scored by "
                     "different reward models, whose rewards are not on one scale.")
    # roots: where the per-sample scores are (the verdict's paired intervals read them)
    res = sm.Results(Path(out), runs, keys, metrics.drop(columns="folder"), pd.concat(steps, ignore_index=True), refs,
                     rm, roots=tuple(roots))
    return res, notes


def check_by(by: list[str], config) -> list[str]:
    """The run keys `by` names (aliases resolved); a key no run has is an error, naming it."""
    by_keys = [BY_ALIASES.get(k, k) for k in by]
    missing = [k for k, bk in zip(by, by_keys, strict=True) if bk not in config]
    if missing:
        raise HarnessError(f"harness report --by {','.join(by)}: no run has {missing} "
                           f"(known: suite, model, data, or a dotted run key such as loss.beta)")
    return by_keys


def check_by_folder(root: str | Path, by: list[str]) -> None:
    """`--by` with one folder leads no comparison, but a key no run has is still a mistake to name."""
    from harness.analysis import frame as sm

    _, runs, config = sm.grid_runs(Path(root))
    check_by(by, config.assign(suite=runs["suite"].values))


def _judge(store) -> str:
    evals = store.read("evals")
    col = evals["reward_model"].dropna().astype(str) if "reward_model" in evals else []
    return ",".join(sorted(set(col)))


def _sig(s) -> tuple:
    return (None,) if s is None else (round(s.accuracy, 6), s.n)
