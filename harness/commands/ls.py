"""`harness ls losses|datasets|...`: list what can be named in configs and suites."""

from __future__ import annotations

import importlib

from harness.errors import HarnessError

# what -> "module:REGISTRY". Extended as registries are added.
LISTABLE = {
    "losses": "harness.losses:LOSSES",
    "datasets": "harness.data:ADAPTERS",
    "models": "harness.models:MODELS",
    "backends": "harness.generation:BACKENDS",
    "scorers": "harness.scoring:SCORERS",
    "executors": "harness.suite.executors:EXECUTORS",
    "loggers": "harness.tracking:LOGGERS",
    "claims": "harness.analysis.claims:CLAIM_KINDS",
    "metrics": "harness.results.catalogue:METRICS",
    "reward-kinds": "harness.reward.scorer:KINDS",
    "lmeval-backends": "harness.evaluation.lmeval:LMEVAL_BACKENDS",
    "bench-workers": "harness.bench.common:WORKERS",
}


def add_arguments(p):
    p.add_argument("what", choices=sorted(LISTABLE), help="which registry to list")


def _registry(what: str):
    module, _, attr = LISTABLE[what].partition(":")
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name != module:  # the module exists but one of its imports is missing: a real bug
            raise
        # A registry listed here whose module is not in this build: a one-line answer, not a traceback.
        raise HarnessError(f"no {what} in this build ({module} is not installed)") from None
    return getattr(mod, attr)


def run(args) -> int:
    reg = _registry(args.what)
    if args.what == "losses":
        for name, info in reg.items():
            params = ", ".join(f"{k}={v}" for k, v in info.params.items()) or "-"
            ref = "needs reference" if info.requires_reference else "reference-free"
            print(f"{name:10s} {info.formula}")
            print(f"{'':10s} params: beta, {params}; {ref}" + (f"; inputs: {', '.join(info.needs)}" if info.needs else ""))
            print(f"{'':10s} {info.paper}")
        return 0
    for name in reg.names():
        about = getattr(reg.peek(name), "description", None)  # catalogue entries say what they measure
        print(f"{name:30s} {about}" if about else name)
    return 0
