"""The `harness` command line. Thin: each subcommand lives in `harness/commands/<name>.py`
with `add_arguments(parser)` and `run(args) -> int`, imported only when needed.

    harness ls losses                         # what can be named in a config
    harness train CONFIG.yaml [k=v ...] --out DIR
    harness data check SPEC | data export SPEC OUT.jsonl
    harness run SUITE.yaml [--out DIR] [--dry-run] [k=v ...]
    harness regress RESULTS_DIR --baseline baselines/NAME
    harness baseline record RESULTS_DIR --to baselines/NAME --reason "..."
    harness report RESULTS_DIR
    harness bench train|sweep|generate|gpu
    harness reference build|check tiny-arith-sft
    harness explain [KEY]
    harness export RESULTS_DIR --to hf-dataset OUT | model-cards
    harness doctor [SUITE.yaml]

Bad input (a `HarnessError`) prints one line and exits 2; no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from harness import __version__
from harness.errors import HarnessError

# name -> (module, one-line help). Modules must import cheaply; heavy imports go inside run().
COMMANDS: dict[str, tuple[str, str]] = {
    "ls": ("harness.commands.ls", "list registered losses, datasets, backends, ..."),
    "train": ("harness.commands.train", "train one run from a config YAML"),
    "data": ("harness.commands.data", "check or export a preference dataset"),
    "run": ("harness.commands.run", "run a benchmark suite (resumable)"),
    "eval": ("harness.commands.evaluate", "evaluate checkpoints: generation, scoring, lm-eval"),
    "train-rm": ("harness.commands.train_rm", "train a Bradley-Terry reward model on preference pairs"),
    "regress": ("harness.commands.regress", "compare results with a stored baseline"),
    "baseline": ("harness.commands.baseline", "record a baseline from results"),
    "report": ("harness.commands.report", "write Markdown/LaTeX/HTML tables and plots"),
    "bench": ("harness.commands.bench", "benchmarks against TRL and HF generate"),
    "reference": ("harness.commands.reference", "rebuild or re-measure a pinned reference model"),
    "explain": ("harness.commands.explain", "what a config key means: type, default, range, help"),
    "export": ("harness.commands.export", "hub-ready copies: a datasets dataset, model cards (offline)"),
    "doctor": ("harness.commands.doctor", "can this machine run a suite? torch, CUDA, GPUs, vLLM, Ray, trackers, hub"),
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="harness", description="Benchmark harness for DPO-family losses.")
    parser.add_argument("--version", action="version", version=f"harness {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_) in COMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        if only is None or name == only:  # import only the command being run
            try:
                mod = importlib.import_module(module)
            except ModuleNotFoundError as e:
                if e.name != module:
                    raise
                continue  # command not available in this build
            mod.add_arguments(p)
            p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    only = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(only if only in COMMANDS else None)
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 0 if args.command is None else 2
    try:
        return int(args._run(args) or 0)
    except HarnessError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
