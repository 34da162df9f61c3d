"""Data loading for the local lm-eval tasks in this folder.

lm-eval resolves a YAML's `dataset_kwargs.data_files` against the current directory, so a task
run from anywhere else would not find its file. These tasks use `custom_dataset: !function
utils.load_local` instead: lm-eval imports this module from the YAML's own folder, and the file is
found next to it whatever the working directory is.
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent


def load_local(data_file: str, split: str = "test", **_metadata):
    """{split: Dataset} from a JSON Lines file under this folder (extra lm-eval metadata ignored)."""
    import datasets

    path = HERE / data_file
    if not path.is_file():
        raise FileNotFoundError(f"lm-eval task data {path} is missing")
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {split: datasets.Dataset.from_list(rows)}
