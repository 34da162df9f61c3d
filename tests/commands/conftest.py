"""Fixtures of the command-line tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from builders import make_results


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    """The shared synthetic results folder (tests/builders.py), once per test module; cases copy it."""
    return make_results(tmp_path_factory.mktemp("bad") / "synthetic")
