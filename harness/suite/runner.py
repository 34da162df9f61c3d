"""Run a suite: expand, skip what is done, train (SFT stages first), evaluate, report.

    suite = load_suite("suites/smoke.yaml")
    summary = run_suite(suite, "results/smoke")            # resumable: run it again after a kill
    run_suite(suite, out, train_fn=fake_train)              # tests inject the trainer/evaluator

Resumability comes from the store, not from bookkeeping here: every durable effect of a task is
an atomic part file keyed by run id (`runs`, `steps`, `evals`, ...), so a suite killed at any
moment (SIGKILL included) and run again recomputes the state of each run from the files
(`status.run_state`), redoes only the unfinished ones and replaces, never appends, their parts.

Sharing: an SFT stage is trained once per model x dataset and its checkpoint is the start (and
the reference) of every run; reference log-probs are shared through the trainer's cache; a
reward model recipe in the eval block is trained once into OUT/rm/<hash>/ (`harness.suite.reward_stage`)
and scores every evaluation; the evaluation of a group of runs is one `evaluate_runs` call, so
one generation engine serves every checkpoint of the group.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.atomic import write_text_atomic
from harness.config import to_dict
from harness.errors import HarnessError
from harness.names import check_name
from harness.results import records
from harness.results.lock import check_out, out_lock
from harness.results.records import TO_TRAIN, RunState, Status, checkpoint_dir, runs_row
from harness.results.store import ResultStore
from harness.suite import reward_stage as rm
from harness.suite.executors import EXECUTORS, Outcome, Task
from harness.suite.grid import Plan, PlannedRun, resolve, suite_column
from harness.suite.progress import Progress
from harness.suite.resolved import ResolvedSuite, resolve_suite
from harness.suite.spec import Suite


@dataclasses.dataclass
class SuiteSummary:
    out: Path
    total: int
    skipped: int  # already done before this invocation
    states: dict[str, str]  # run_id -> final state

    @property
    def failed(self) -> list[str]:
        return [rid for rid, s in self.states.items() if s == RunState.FAILED]

    @property
    def incomplete(self) -> list[str]:
        """Runs not done: failed, or trained with their evaluation still owed."""
        return [rid for rid, s in self.states.items() if s != RunState.DONE]


def default_out(suite: Suite) -> Path:
    return Path("results") / check_name(suite.name, f"{suite.source}: name")


def check_run_args(suite: Suite, workers: int | None) -> None:
    """What a run is given, before any work: the suite name becomes folder names (results/<name>,
    OUT/tensorboard/<name>), and a negative --workers means nothing, whatever the executor."""
    check_name(suite.name, f"{suite.source}: name")
    if workers is not None and workers < 0:
        raise HarnessError(f"--workers {workers}: must be >= 0 (0: one per physical core)")


def run_suite(suite: Suite, out: str | Path | None = None, *, executor: str | None = None,
              workers: int | None = None, address: str | None = None, train_fn: Callable | None = None,
              eval_fn: Callable | None = None, report: bool | None = None, log: Callable[[str], None] = print,
              console=None) -> SuiteSummary:
    """`executor`, `workers`, `address`: the command line's choices over the suite's `executor:` block.
    `console` (harness.console.SuiteConsole): a live bar and one line per finished task, instead
    of a line per task start; its `line` is then the log."""
    check_run_args(suite, workers)
    out = Path(out) if out is not None else default_out(suite)
    log = console.line if console is not None else log
    rs = resolve_suite(suite)
    check_names(rs.plan, evaluates=rs.eval is not None)
    check_out(out)
    ResultStore(out).check_versions()  # a newer schema's folder is refused before the lock file is made
    with out_lock(out, f"harness run {suite.source}", log):  # one writer per results folder
        runner = make_executor(suite, executor, workers, address)
        return _run_locked(rs, out, runner, train_fn, eval_fn, report, log, console)


def _run_locked(rs: ResolvedSuite, out, runner, train_fn, eval_fn, report, log, console) -> SuiteSummary:
    suite, plan = rs.suite, rs.plan
    store = ResultStore(out)
    store.sweep_temporaries()  # a killed writer's half-written parts (we hold the lock: nobody else writes)
    set_aside_damaged(store, log)
    write_suite_file(plan, out)
    before = rs.states(store)
    tasks = build_tasks(rs, out, before, train_fn=train_fn, eval_fn=eval_fn, shards=runner.slots)
    skipped = sum(before[r.run_id] == RunState.DONE for r in plan.runs)
    where = f"{type(runner).__name__.removesuffix('Executor').lower()} executor, {runner.slots} at a time"
    log(f"suite {suite.name}: {len(plan.runs)} runs ({skipped} already done), {len(tasks)} task(s) -> {out} ({where})")
    if getattr(runner, "note", ""):  # e.g. the pool capped to one worker per GPU
        log(runner.note)
    progress = Progress(log, console, store)
    progress.start(len(tasks))
    runner.run(tasks, on_start=progress.task_started, on_done=lambda i, n, t, o: _done(store, progress, i, n, t, o))
    now = rs.states(store)
    after = {r.run_id: now[r.run_id] for r in plan.runs}  # the grid runs (SFT stages are means, not results)
    if report if report is not None else suite.spec.report.enabled:
        from harness.report import write_report

        try:
            for path in write_report(out):
                log(f"wrote {path}")
        except HarnessError as e:  # results are safe on disk; a report problem must not hide them
            log(f"report not written: {e}")
    counts = {s: sum(v == s for v in after.values()) for s in sorted(set(after.values()))}
    log(f"suite {suite.name}: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    return SuiteSummary(out, len(plan.runs), skipped, after)


def set_aside_damaged(store: ResultStore, log) -> None:
    """A part that cannot be read means its run is not done: move every part of that run aside
    (into `<table>/.damaged/`, never deleted) so that the run is trained and evaluated again."""
    from harness.results.schema import TABLES

    for table, key, problem in store.damaged():
        run_id = key.split(".", 1)[0]  # evals failures are "<run_id>.failed"
        log(f"warning: {store.path(table, key)}: {problem}; moving run {run_id}'s parts aside and redoing it")
        for t in TABLES:
            for k in [k for k in store.keys(t) if k.split(".", 1)[0] == run_id]:
                log(f"    moved {store.path(t, k)} -> {store.quarantine(t, k)}")


def make_executor(suite: Suite, name: str | None = None, workers: int | None = None, address: str | None = None):
    """The suite's executor (`executor:` block), with the command line's choices on top."""
    opts = suite.spec.executor
    name = name or ("ray" if address else opts.name)  # an address means a Ray cluster
    if address and name != "ray":
        raise HarnessError(f"--address {address} is for the ray executor, not {name}")
    opts = dataclasses.replace(opts, name=name, workers=opts.workers if workers is None else workers,
                               address=address or opts.address)
    return EXECUTORS.get(opts.name).from_options(opts)


def check_names(plan: Plan, *, evaluates: bool = False) -> None:
    """Unknown loss names, unreadable local model files and model folders needing custom code
    fail before anything trains (this imports torch, so not in dry runs), naming the suite file
    and the key. Trusted custom code still fails here when the suite evaluates: evaluation never
    runs it, so the runs would train and then fail."""
    from harness.losses import LOSSES
    from harness.models.custom_code import EVAL_ADVICE, TRAIN_ADVICE, check_custom_code
    from harness.models.load import check_model_files

    checked: set[str] = set()
    for r in plan.all:
        if r.config.loss.name not in LOSSES:
            raise HarnessError(f"{plan.suite.source}: loss.name (run {_fmt_label(r.label)}): "
                               f"{LOSSES.unknown_message(r.config.loss.name)}")
        for key, value in (("model.name", r.config.model.name), ("model.init_from", r.config.model.init_from)):
            if value and not value.startswith("@") and value not in checked and Path(value).is_dir():
                checked.add(value)
                try:
                    check_model_files(Path(value), key)
                    trusted = r.config.model.trust_remote_code
                    check_custom_code(value, trust=trusted and not evaluates, what=key,
                                      advice=EVAL_ADVICE if trusted else TRAIN_ADVICE)
                except HarnessError as e:
                    raise HarnessError(f"{plan.suite.source}: {e}") from None


def build_tasks(rs: ResolvedSuite, out: Path, states: dict[str, str], *, train_fn=None, eval_fn=None,
                shards: int = 1) -> list[Task]:
    """The tasks still owed, in dependency order: SFT stages, runs, the reward model, evaluations."""
    plan = rs.plan
    tasks: list[Task] = []
    n_train = sum(states[r.run_id] in TO_TRAIN for r in plan.runs)
    for sft in plan.sft:  # needed to train its runs, and as the reference when evaluating them
        users = [r for r in plan.runs if r.sft_id == sft.run_id and states[r.run_id] != RunState.DONE]
        if users and states[sft.run_id] != RunState.DONE:
            tasks.append(_train(sft, out, plan, train_fn, label=f"sft stage {sft.run_id} ({len(users)} run(s) start here)"))
    keys = {t.key for t in tasks}
    i = 0
    for r in plan.runs:
        if states[r.run_id] in TO_TRAIN:
            i += 1
            after = (f"train:{r.sft_id}",) if f"train:{r.sft_id}" in keys else ()
            tasks.append(_train(r, out, plan, train_fn, after=after,
                                label=f"run {i}/{n_train} {_fmt_label(r.label)} ({r.run_id})"))
    if rs.eval_hash is not None:
        tasks += _eval_tasks(rs, out, states, tasks, eval_fn, shards)
    return tasks


def _train(r: PlannedRun, out: Path, plan: Plan, train_fn, *, after=(), label="") -> Task:
    args = (r, str(out), suite_column(plan.suite.name, r.stage), train_fn)
    return Task(f"train:{r.run_id}", train_task, args, tuple(after), label)


def _eval_tasks(rs: ResolvedSuite, out: Path, states: dict, tasks: list[Task], eval_fn,
                shards: int = 1) -> list[Task]:
    """One evaluation per reference (the SFT stage, or the base model): one engine, many checkpoints;
    before them, the reward-model stage when the eval block has a recipe not yet trained.

    With an executor that runs several tasks at once, each group is cut into `shards` contiguous
    parts in training order, each with its own engine: the first part is evaluated while the
    last runs still train, and the parts run side by side. Every part evaluates the reference
    too (it is cheap next to the runs, and each part's win-rates need its rewards)."""
    groups: dict[str, list[PlannedRun]] = {}
    for r in rs.plan.runs:
        if states[r.run_id] != RunState.DONE:
            groups.setdefault(rs.reference_of(r), []).append(r)
    keys = {t.key for t in tasks}
    out_tasks = []
    stage = rs.reward
    if groups and stage is not None and not stage.trained(out):
        out_tasks.append(rm.rm_task(stage, out, keys))
        keys.add(stage.key)
    for ref, group in groups.items():
        size = -(-len(group) // max(1, shards))
        parts = [group[i:i + size] for i in range(0, len(group), size)]
        for j, runs in enumerate(parts):
            needs = [f"train:{ref}", *([stage.key] if stage else []), *(f"train:{r.run_id}" for r in runs)]
            after = tuple(k for k in needs if k in keys)
            args = (rs, str(out), ref, runs, eval_fn)
            key, part = (f"eval:{ref}", "") if len(parts) == 1 else (f"eval:{ref}#{j + 1}", f" (part {j + 1}/{len(parts)})")
            out_tasks.append(Task(key, eval_task, args, after, f"evaluate {len(runs)} run(s) against {ref}{part}",
                                  kind="eval"))
    return out_tasks


# ---------------------------------------------------------------- task bodies (module level: picklable)
def train_task(run: PlannedRun, out: str, suite_tag: str, train_fn=None, *, deps: dict[str, Outcome]) -> Any:
    store = ResultStore(out)
    try:
        cfg = resolve(run.config, _sft_checkpoints(run, out, deps))
    except KeyError as e:
        return record_failure(store, run, suite_tag, f"SFT stage {e} has no checkpoint (it failed or was deleted)")
    fn = train_fn or _default_train()
    try:  # the trainer shows the current step itself (a tqdm bar, or a line per 10% in logs)
        return fn(cfg, out, run_id=run.run_id, suite=suite_tag)
    except Exception as e:
        import traceback

        record_failure(store, run, suite_tag, f"{type(e).__name__}: {e}\n{traceback.format_exc()}")
        raise


def eval_task(rs: ResolvedSuite, out: str, ref: str, runs: list[PlannedRun], eval_fn=None, *,
              deps: dict[str, Outcome]) -> Any:
    store = ResultStore(out)
    todo = [r for r in runs if rs.state(store, r.run_id) == RunState.TRAINED]
    targets = [(r.run_id, str(checkpoint_dir(out, r.run_id))) for r in todo]
    if not targets:
        return None
    rm.check_dependency(rs.reward, deps)
    prompts, reference = rs.eval_inputs(ref, todo, out)
    fn = eval_fn or _default_eval()
    value = fn(rs.eval, targets=targets, reference=reference, store=store, prompts=prompts)
    _stream_evals(rs, store, todo)
    return value


def _stream_evals(rs: ResolvedSuite, store: ResultStore, runs: list[PlannedRun]) -> None:
    """The suite's experiment trackers get each run's evaluation, read back from Parquet."""
    if not rs.suite.spec.loggers:
        return
    from harness.tracking import open_trackers, run_info

    for run in runs:
        if store.has("evals", run.run_id):
            rows = store.read("evals", run.run_id).to_dict("records")
            trackers = open_trackers(rs.suite.spec.loggers, store.root, config=records.content(run.config),
                                     info=run_info(run.config, run.run_id, suite_column(rs.suite.name, run.stage)))
            trackers.log_evals(rows)
            trackers.finish("evaluated")


def _sft_checkpoints(run: PlannedRun, out: str, deps: dict[str, Outcome]) -> dict[str, str]:
    if run.sft_id is None:
        return {}
    outcome = deps.get(f"train:{run.sft_id}")
    if outcome is not None and (not outcome.ok or getattr(outcome.value, "status", "completed") == "failed"):
        return {}
    ckpt = getattr(outcome.value, "checkpoint", None) if outcome is not None else None
    path = Path(ckpt) if ckpt else checkpoint_dir(out, run.sft_id)
    return {run.sft_id: str(path)} if path.is_dir() else {}


def record_failure(store: ResultStore, run: PlannedRun, suite_tag: str, error: str) -> str:
    """A `runs` row with status failed, so the failure is visible and the run is retried later."""
    store.write("runs", run.run_id, [runs_row(run.config, run_id=run.run_id, suite=suite_tag, status=Status.FAILED,
                                              error=error)])
    return Status.FAILED.value


def _default_train():
    from harness.trainer import train_run

    return train_run


def _default_eval():
    from harness.evaluation import evaluate_runs

    return evaluate_runs


def _done(store: ResultStore, progress: Progress, i: int, n: int, task: Task, outcome: Outcome) -> None:
    """A training task that died without writing its `runs` row (its worker was killed) is
    recorded as failed here, with the reason, so that the suite's tables say what happened."""
    if not outcome.ok and task.fn is train_task and not store.has("runs", task.args[0].run_id):
        record_failure(store, task.args[0], task.args[2], outcome.error or "task failed")
    progress.task_done(i, n, task, outcome)


def _fmt_label(label: dict) -> str:
    """"dpo beta=0.1 lr=0.001 seed=0": the variant name, then the run's axis values (the
    catalogue's short names)."""
    from harness.results.catalogue import grid_key

    name = label.get("name", "")
    rest = [f"{grid_key(k).short}={v}" for k, v in label.items() if k != "name" and v != name]
    return " ".join([name, *rest]).strip()


def write_suite_file(plan: Plan, out: Path) -> Path:
    """<out>/suite.json: the resolved suite, its hash and the planned run ids (for baselines and
    report options; the data itself is only ever read from the Parquet tables)."""
    out.mkdir(parents=True, exist_ok=True)
    doc = {"name": plan.suite.name, "hash": plan.suite.hash, "source": plan.suite.source,
           "spec": to_dict(plan.suite.spec), "axes": plan.axes,
           "runs": [{"run_id": r.run_id, "stage": r.stage, "label": r.label} for r in plan.all]}
    return write_text_atomic(out / "suite.json", json.dumps(doc, indent=1, sort_keys=True, default=str))
