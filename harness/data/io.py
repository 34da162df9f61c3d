"""Reading raw rows, each with its position, from local files or through `datasets`.

    for rec in read_records(spec):                   # Record(index, where, data) or BadRow
        print(rec.where)                             # "data/x.jsonl.gz: line 12"

Local files: JSON Lines (``.jsonl``, ``.jsonl.gz``, ``.ndjson``), JSON (``.json``: an array of
objects, an object of equal-length columns, or JSON Lines under a ``.json`` name, which is what
`datasets`' writer produces) and Parquet. Hub ids and local dataset directories go through
`datasets.load_dataset`, imported lazily so that reading a local file never pays for it.

Line numbers are 1-based file lines (blank lines are skipped but still counted), so an error
message points at the line an editor shows. An undecodable line is a `BadRow`, not an exception:
the loader's ``on_bad_row`` policy decides whether it stops the load.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import os
import warnings
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.data.spec import DatasetSpec, file_format
from harness.data.validate import BadRow
from harness.errors import DataError


@dataclasses.dataclass(frozen=True)
class Record:
    index: int  # 0-based position among the source's rows
    where: str  # "PATH: line N" (JSON Lines) or "SOURCE: row N" (1-based), for messages
    data: Any  # the decoded row, normally a dict


@dataclasses.dataclass(frozen=True)
class HubOptions:
    revision: str | None = None  # a commit sha or tag; pin it, hub datasets change
    name: str | None = None  # the dataset config
    data_dir: str | None = None  # a subset folder


def read_records(spec: DatasetSpec, *, fmt: str | None = None, hub: HubOptions = HubOptions()) -> Iterator[Record | BadRow]:
    """Rows of the spec's file, directory or hub dataset. `fmt` forces "jsonl" | "json" | "parquet"."""
    if spec.kind == "file":
        fmt = fmt or file_format(spec.path)
        if fmt is None:
            raise DataError(f"{spec.path}: cannot tell the format from the file name; use a .jsonl, .jsonl.gz, "
                            f".json or .parquet name, or the json:/jsonl:/parquet: adapters")
        return _READERS[fmt](spec.path)
    if spec.kind in ("dir", "hub"):
        return _read_datasets(spec, hub)
    raise DataError(f"dataset spec {spec.text!r}: adapter {spec.adapter!r} needs a path or hub id, "
                    f"e.g. {spec.adapter}:path/to/data.jsonl")


# ---------------------------------------------------------------- local files
def _open_binary(path: Path):
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")


def _read_jsonl(path: Path) -> Iterator[Record | BadRow]:
    index = 0
    try:
        with _open_binary(path) as f:
            for lineno, raw in enumerate(f, 1):
                if not raw.strip():
                    continue  # blank lines (a trailing newline, an editor's empty line) are not rows
                where = f"{path}: line {lineno}"
                try:
                    yield Record(index, where, json.loads(raw.decode("utf-8")))
                except UnicodeDecodeError as e:
                    yield BadRow("invalid_json", f"not valid UTF-8 ({e.reason} at byte {e.start})", where)
                except json.JSONDecodeError as e:
                    yield BadRow("invalid_json", f"invalid JSON: {e.msg} at column {e.colno}", where)
                index += 1
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path}: cannot read: {e}") from None


def _read_json(path: Path) -> Iterator[Record | BadRow]:
    try:
        with _open_binary(path) as f:
            text = f.read().decode("utf-8")
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as e:
        raise DataError(f"{path}: cannot read: {e}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        if e.msg == "Extra data":  # several top-level values: JSON Lines under a .json name
            yield from _read_jsonl(path)
            return
        raise DataError(f"{path}: invalid JSON at line {e.lineno} column {e.colno}: {e.msg}") from None
    if isinstance(data, dict) and data and all(isinstance(v, list) for v in data.values()):
        lengths = {len(v) for v in data.values()}
        if len(lengths) != 1:
            raise DataError(f"{path}: columns have different lengths {sorted(lengths)}")
        keys = list(data)
        data = [dict(zip(keys, values, strict=True)) for values in zip(*data.values(), strict=True)]
    elif isinstance(data, dict):
        data = [data]  # a one-line JSON Lines file
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a JSON array of rows, got {type(data).__name__}")
    for i, row in enumerate(data):
        yield Record(i, f"{path}: row {i + 1}", row)


def _read_parquet(path: Path) -> Iterator[Record | BadRow]:
    import pyarrow.parquet as pq  # pyarrow is a hard dependency but heavy to import

    try:
        batches = pq.ParquetFile(path).iter_batches(batch_size=1024)
        index = 0
        for batch in batches:
            for row in batch.to_pylist():
                yield Record(index, f"{path}: row {index + 1}", row)
                index += 1
    except (OSError, ValueError) as e:  # pyarrow's ArrowInvalid is a ValueError
        raise DataError(f"{path}: cannot read Parquet: {e}") from None


_READERS = {"jsonl": _read_jsonl, "json": _read_json, "parquet": _read_parquet}


# ---------------------------------------------------------------- hub ids and dataset directories
def _read_datasets(spec: DatasetSpec, hub: HubOptions) -> Iterator[Record | BadRow]:
    import datasets  # lazy: ~1 s import, only for hub ids and dataset directories

    ref = spec.hub
    target = str(spec.path) if spec.kind == "dir" else ref.id
    name = hub.name or (ref.name if ref else None)
    data_dir = hub.data_dir or (ref.data_dir if ref else None)
    source = spec.describe()
    if spec.kind == "hub" and hub.revision is None:
        warnings.warn(f"{source}: no 'revision' option; hub datasets change, pin a commit for reproducible "
                      f"results (options: {{revision: <sha>}})", stacklevel=3)
    try:
        ds = datasets.load_dataset(target, name, data_dir=data_dir, split=spec.split, revision=hub.revision)
    except Exception as e:  # datasets raises many unrelated types (ConnectionError, FileNotFoundError, ...)
        raise DataError(_hub_failure(spec, target, e)) from e
    if isinstance(ds, datasets.DatasetDict):
        if len(ds) != 1:
            raise DataError(f"{source}: several splits ({', '.join(ds)}); name one: {spec.text}@SPLIT")
        ds = next(iter(ds.values()))
    for i, row in enumerate(ds):
        yield Record(i, f"{source}: row {i + 1}", row)


def _hub_failure(spec: DatasetSpec, target: str, e: Exception) -> str:
    if spec.kind == "dir":
        return f"{target}: could not load this directory with datasets: {type(e).__name__}: {e}"
    offline = [k for k in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE") if os.environ.get(k, "").lower() in ("1", "true", "yes")]
    hint = (f"offline mode is on ({', '.join(offline)}=1), so hub ids cannot load" if offline
            else "if this machine is offline, hub ids cannot load")
    return (f"{target!r} is not a local file or directory, and loading it from the Hugging Face hub failed "
            f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); {hint}: download the data "
            f"elsewhere and pass a local path ({spec.adapter}:path/to/file.jsonl)")
