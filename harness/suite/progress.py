"""What `harness run` reports while tasks start and finish.

    progress = Progress(log)                      # plain lines: the API, tests, `harness run -v`
    progress = Progress(log, console, store)      # the console's live bar + one line per finished task

Without a console, a task's start is a line ("[3/63] run 3/60 dpo beta=0.05 ...") and only
problems are reported when it ends. With one (harness.console.SuiteConsole), starts are silent
and each finished task is one line with its key numbers, read from the tables it wrote:
  ✓ run 3/60 dpo beta=0.05 lr=0.0002 seed=2: completed, 100 steps in 4.1 s; held-out r_w +0.17, reward acc 0.89
  ✓ evaluate 30 run(s) against base-c6d042089c45 (part 1/2): 30 ok
A task that ran on another machine or process (the ray executor) ends with `[on HOST:PID]`.
"""

from __future__ import annotations

import math


class Progress:
    def __init__(self, log, console=None, store=None):
        self.log, self.console, self.store = log, console, store
        self._warned: set[str] = set()

    def start(self, total: int) -> None:
        if self.console is not None:
            self.console.start(total)

    def task_started(self, i: int, n: int, task) -> None:
        if self.console is None:
            self.log(f"[{i}/{n}] {task.label}")

    def task_done(self, i: int, n: int, task, outcome) -> None:
        if self.console is None:
            for line in problems(outcome):
                self.log(line + (f" [on {outcome.where}]" if outcome.where else ""))
            return
        issues = problems(outcome)
        ok = not issues
        text = f"{'✓' if ok else '✗'} {task.label}: " + (self._numbers(outcome) if ok else "; ".join(s.strip() for s in issues))
        self.console.finished(ok, text + (f" [on {outcome.where}]" if outcome.where else ""))
        # the task's warnings went to stderr, which is the log file now: each distinct one once here
        for line in getattr(outcome, "warnings", ()):
            if line not in self._warned:
                self._warned.add(line)
                self.console.line(f"    {line}")

    def _numbers(self, outcome) -> str:
        value = outcome.value
        if isinstance(value, dict):  # evaluate_runs: {run_id: "ok" | "failed: ..."}
            return f"{sum(v == 'ok' for v in value.values())} ok"
        if value is None or not hasattr(value, "status"):
            return "done"
        text = f"{value.status}, {value.steps} steps in {value.wall_s:.1f} s"
        final = self._final(value.run_id)
        return text + (f"; {final}" if final else "")

    def _final(self, run_id: str) -> str:
        if self.store is None or not self.store.has("steps", run_id):
            return ""
        steps = self.store.read("steps", run_id)
        last = steps[steps["split"] == "eval"].tail(1)
        if last.empty or "logratio_chosen" not in last or not math.isfinite(float(last["logratio_chosen"].iloc[0])):
            return ""
        return (f"held-out r_w {float(last['logratio_chosen'].iloc[0]):+.2f}, "
                f"reward acc {float(last['reward_accuracy'].iloc[0]):.2f}")


def problems(outcome) -> list[str]:
    """What went wrong in a finished task, as lines (empty: nothing)."""
    if not outcome.ok:
        return [f"    failed: {outcome.error.strip().splitlines()[-1]}"]
    if isinstance(outcome.value, dict):
        return [f"    evaluation of {rid} {st}" for rid, st in outcome.value.items() if st != "ok"]
    st = getattr(outcome.value, "status", None)
    if st and st != "completed":
        return [f"    {st}" + (f" at step {outcome.value.diverged_step}" if st == "diverged" else "")]
    return []
