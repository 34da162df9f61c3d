"""Names that become file or folder names: run ids (`--run-id`, a `runs` row's), results keys,
suite names (`results/<suite>/`, `OUT/tensorboard/<suite>/`), pinned-model names, and where a
user-named target may be written.

    check_name("../../escaped", "--run-id")        # HarnessError: exit 2, before any work
    check_inside(path, out, "--run-id x")          # path must stay under out

Why one validator: each of these is joined to a folder the user named (`--out`, a results
folder); "/" or ".." in one would write outside it, and a leading "." or "_" makes pyarrow,
pandas and polars dataset readers skip a Parquet part as hidden. Checking them all against one
pattern, before any work, keeps "nothing is written outside the folder you named" true
everywhere rather than at whichever write happens to notice last. Imports nothing heavy: dry
runs and `harness.results.records` use it.
"""

from __future__ import annotations

import re
from pathlib import Path

from harness.errors import HarnessError

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._=+-]{0,199}")
RULE = "use letters, digits and . _ = + - (not first), at most 200 characters"


def check_name(value: object, what: str) -> str:
    """`value` if it is safe as one file name; else a HarnessError naming `what` and the rule."""
    if not isinstance(value, str) or not NAME.fullmatch(value):
        raise HarnessError(f"{what} {value!r}: not usable as a file name ({RULE})")
    return value


def is_inside(path: str | Path, root: str | Path) -> bool:
    """Whether `path` is `root` or below it, symlinks resolved (a link out of `root` is outside)."""
    try:
        Path(path).resolve().relative_to(Path(root).resolve())
    except ValueError:
        return False
    return True


def check_inside(path: str | Path, root: str | Path, what: str) -> Path:
    """`path` if it lies under `root`; else a HarnessError (a stored or given name pointing out)."""
    if not is_inside(path, root):
        raise HarnessError(f"{what}: {path} is outside {root}; refusing to write there")
    return Path(path)
