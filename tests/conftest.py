"""Shared pytest setup: offline Hugging Face, one CPU thread per test process.

Kept small on purpose; fixtures used by a single test file belong in that file.
"""

from __future__ import annotations

import os
import sys

import pytest

# Set at import time (before any test module imports transformers/datasets) so that nothing in the
# test suite ever tries the network, and so subprocesses started by tests inherit the same setting.
_OFFLINE = {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "TOKENIZERS_PARALLELISM": "false",  # no fork warnings from the Rust tokenizer
    "TQDM_DISABLE": "1",
    "WANDB_DISABLED": "true",
}
for _k, _v in _OFFLINE.items():
    os.environ.setdefault(_k, _v)

# Tests mirror the package (tests/<package>/test_*.py) and a few reuse another module's helpers by
# its bare name (`from test_suite_pool import SUITE`); with every folder on the path that works
# whatever order pytest collects them in. Shared builders live in tests/builders.py.
_TESTS = os.path.dirname(os.path.abspath(__file__))
for _d in sorted(os.listdir(_TESTS)):
    if os.path.isdir(os.path.join(_TESTS, _d)) and not _d.startswith((".", "_")) and _d != "mutants":
        if os.path.join(_TESTS, _d) not in sys.path:
            sys.path.append(os.path.join(_TESTS, _d))


@pytest.fixture(scope="session", autouse=True)
def _single_thread_torch():
    """The CI box has 2 cores shared by several jobs: oversubscribing threads only slows tests.

    Only touches torch when a test module has already imported it, so test files that do not need
    torch (config, CLI, store) do not pay for importing it.
    """
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)
    yield


def pytest_collection_modifyitems(config, items):
    """`@pytest.mark.gpu` tests need a CUDA device: skipped, with the reason, where there is none
    (CI and the development machines); on a GPU machine they run like any other test."""
    gpu = [item for item in items if "gpu" in item.keywords]
    if not gpu:
        return
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device (torch.cuda.is_available() is False)")
    for item in gpu:
        item.add_marker(skip)
