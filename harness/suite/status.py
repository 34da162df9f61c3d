"""What is already done in a results folder: the state of each planned run, read from the store.

    want = eval_hash(resolved_eval(plan))                 # None when the suite does not evaluate
    state = run_state(store, run_id, eval_hash=want)      # a RunState, from the recorded tables alone
    print(describe(rs, store))                            # the --dry-run table (rs: a ResolvedSuite)

A run is *done* when its `runs` part says completed or diverged and, if the suite evaluates,
its `evals` part exists and was made with the suite's current `eval:` block (the `eval_hash`
column harness.evaluation writes: change the block and the runs are evaluated again, so one
table never mixes two evaluation setups). A diverged run is not evaluated: its weights are not
a policy anyone would ship, and its failure is already counted. *trained* means evaluation is still owed;
*failed* runs are retried on the next invocation (failures are often the machine's, not the
config's); *pending* runs have no `runs` part; *damaged* runs have a `runs` part that cannot be
read (the runner moves it aside and redoes the run). Parts are written atomically, so a run killed at
any moment is in exactly one of these states.
"""

from __future__ import annotations

from harness.config import to_dict
from harness.results.catalogue import shown_keys
from harness.results.records import FINISHED, RunState
from harness.results.store import DamagedPart, ResultStore
from harness.suite.grid import PlannedRun, get_dotted

EVAL_TABLE = "evals"  # evaluate_runs writes one part per run id; its presence marks eval done


def recorded_status(store: ResultStore, run_id: str) -> str | None:
    if not store.has("runs", run_id):
        return None
    try:
        df = store.read("runs", run_id)
    except DamagedPart:
        return "damaged"  # `harness run` moves it aside and redoes the run (runner.set_aside_damaged)
    return str(df["status"].iloc[0]) if len(df) else None


def eval_hash(eval_cfg) -> str | None:
    """The id harness.evaluation stamps on its rows (`config_hash` of the resolved EvalConfig:
    harness.suite.reward_stage.resolved_eval)."""
    from harness.evaluation.config import config_hash

    return None if eval_cfg is None else config_hash(eval_cfg)


def evaluated(store: ResultStore, run_id: str, want: str) -> bool:
    if not store.has(EVAL_TABLE, run_id):
        return False
    try:
        part = store.read(EVAL_TABLE, run_id)
    except DamagedPart:
        return False
    return "eval_hash" not in part or bool((part["eval_hash"] == want).all())


def run_state(store: ResultStore, run_id: str, *, eval_hash: str | None) -> RunState:
    """The state the tables record, before the checkpoint rule (ResolvedSuite.states applies it)."""
    status = recorded_status(store, run_id)
    if status is None:
        return RunState.PENDING
    if status == "damaged":
        return RunState.DAMAGED
    if status not in FINISHED:
        return RunState.FAILED
    if eval_hash is not None and status == "completed" and not evaluated(store, run_id, eval_hash):
        return RunState.TRAINED
    return RunState.DONE


def describe(rs, store: ResultStore) -> str:
    """Plain-text table of every planned run with its state (what `--dry-run` prints): the states
    the runner acts on (`rs.states`, a harness.suite.resolved.ResolvedSuite), so the dry run is
    exactly what runs."""
    plan, states = rs.plan, rs.states(store)
    rows = [_row("sft", r, states[r.run_id], plan.axes) for r in plan.sft]
    rows += [_row(f"{i}", r, states[r.run_id], plan.axes) for i, r in enumerate(plan.runs, 1)]
    headers = ["#", "run_id", "state"] + [k.short for k in shown_keys()] + [a for a in plan.axes if a not in SHOWN]
    table = [headers] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in table]
    counts: dict[str, int] = {}
    for row in rows[len(plan.sft):]:
        counts[row[2]] = counts.get(row[2], 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    sft = f" + {len(plan.sft)} SFT stage(s)" if plan.sft else ""
    return "\n".join(lines + [f"{len(plan.runs)} runs{sft} in {store.root}: {summary}"])


SHOWN = {k.key for k in shown_keys()}  # the catalogue's always-shown grid keys


def _row(idx: str, r: PlannedRun, state: str, axes: list[str]) -> list:
    d = to_dict(r.config)
    extra = [get_dotted(d, a) for a in axes if a not in SHOWN]
    return [idx, r.run_id, state] + [get_dotted(d, k.key) for k in shown_keys()] + extra
