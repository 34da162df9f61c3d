"""The console of `harness run`: one live progress bar and one line per finished task; library and
engine output goes to OUT/logs/ (`-v` shows it instead).

    with SuiteConsole(out, verbose=False) as console:
        run_suite(suite, out, log=console.line, on_progress=console)     # the runner drives it

Why: a suite's log used to hold a `Loading weights` and a `Writing model shards` bar per run, vLLM
INFO lines on every weight reload and per-step trainer lines from two workers at once, and the
harness's own progress drowned in them. Here file descriptors 1 and 2 (which C extensions and
spawned workers write to as well) are pointed at OUT/logs/run-<time>.log for the suite's
duration, while the console keeps a duplicate of the terminal for the bar and the harness's lines.
Nothing is lost: every byte that used to reach the terminal is in the log file.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path


class SuiteConsole:
    def __init__(self, out: str | Path, *, verbose: bool = False):
        self.out, self.verbose = Path(out), verbose
        self.log_path: Path | None = None
        self._saved: tuple[int, int] | None = None
        self._term = sys.stdout
        self._bar = None
        self.done = self.failed = 0

    # ---------------------------------------------------------------- redirection
    def __enter__(self) -> SuiteConsole:
        if self.verbose:
            return self
        logs = self.out / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        self.log_path = logs / f"run-{time.strftime('%Y%m%dT%H%M%S')}.log"
        sys.stdout.flush()
        sys.stderr.flush()
        self._saved = (os.dup(1), os.dup(2))
        self._term = os.fdopen(os.dup(self._saved[0]), "w", buffering=1)
        fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        self.line(f"library and engine output -> {self.log_path} (harness run -v shows it here)")
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.close()
        if self._saved is None:
            return
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(self._saved[0], 1)
        os.dup2(self._saved[1], 2)
        for fd in self._saved:
            os.close(fd)
        self._term.close()
        self._saved = None

    # ---------------------------------------------------------------- what the runner calls
    def line(self, text: str) -> None:
        """One line for the user (and the log), above the bar."""
        if self._saved is not None:
            print(text, flush=True)  # the log keeps the harness's own lines in order with the rest
        if self._bar is not None and not self._bar.disable:
            self._bar.write(text, file=self._term)
        else:
            print(text, file=self._term, flush=True)

    def start(self, total: int) -> None:
        from tqdm import tqdm

        # explicit file and disable: workers set TQDM_DISABLE for their own bars, not this one; a
        # terminal gets the live bar, a pipe or a CI log only the lines (a bar there is noise)
        self._bar = tqdm(total=total, file=self._term, unit="task", dynamic_ncols=True, disable=not self._term.isatty(),
                         bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} tasks [{elapsed}<{remaining}] {postfix}")
        self._bar.set_postfix_str("0 failed")

    def finished(self, ok: bool, text: str) -> None:
        self.done += 1
        self.failed += 0 if ok else 1
        self.line(text)
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix_str(f"{self.failed} failed")
