"""Tables that join cleanly: one meaning per column name across tables, a reader that keeps
integer columns integers (`harness.results.load`), older folders migrated on the way in, and the
README's duckdb / polars / pandas queries run as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from builders import make_results

from harness.results import load
from harness.results.schema import RENAMES, SCHEMA_VERSION, TABLES

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    return make_results(tmp_path_factory.mktemp("reader") / "synthetic")


def test_no_column_name_means_two_things_across_tables():
    """run_id and schema_version are the join keys every table shares; nothing else may be
    shared between runs and steps (a join would suffix or shadow it)."""
    shared = (set(TABLES["runs"]) & set(TABLES["steps"])) - {"run_id"}
    assert not shared, shared
    assert {"loss_name", "lr_peak"} <= set(TABLES["runs"]) and "elapsed_s" in TABLES["steps"]


def test_load_keeps_nullable_integers_integers(results):
    import pandas as pd

    runs = load(results, "runs")
    assert isinstance(runs["diverged_step"].dtype, pd.ArrowDtype)
    assert pa.types.is_integer(runs["diverged_step"].dtype.pyarrow_dtype)
    assert runs["diverged_step"].isna().sum() == len(runs) - 1  # one diverged run, the others null
    assert pd.read_parquet(results / "runs")["diverged_step"].dtype == "float64"  # what plain pandas does
    evals = load(results, "evals")
    assert pa.types.is_integer(evals["n"].dtype.pyarrow_dtype)
    steps = load(results, "steps", engine="polars")
    joined = steps.join(load(results, "runs", engine="polars"), on="run_id")
    assert [c for c in joined.columns if c.endswith("_right")] == ["schema_version_right"]  # nothing else collided
    assert joined.group_by("loss_name").len().height == 3  # dpo, minor_dpo, sft: not one per loss value


def _downgrade(folder: Path) -> None:
    """Rewrite every part as schema 1 wrote it: the old names, schema_version 1."""
    for table, renamed in RENAMES[2].items():
        back = {new: old for old, new in renamed.items()}
        for part in (folder / table).glob("*.parquet"):
            t = pq.read_table(part)
            t = t.rename_columns([back.get(c, c) for c in t.column_names])
            t = t.set_column(t.column_names.index("schema_version"), "schema_version",
                             pa.array([1] * len(t), pa.int64()))
            pq.write_table(t, part)


def test_a_schema_1_folder_reads_as_today_and_reports_the_same(results, tmp_path):
    import shutil

    old = tmp_path / "old"
    shutil.copytree(results, old)
    _downgrade(old)
    assert "loss" in pq.read_schema(next((old / "runs").glob("*.parquet"))).names
    for table in ("runs", "steps"):
        a, b = load(results, table), load(old, table)
        assert list(a.columns) == list(b.columns)
        assert a.drop(columns="schema_version").equals(b.drop(columns="schema_version"))
    from harness.results.store import ResultStore

    assert "loss_name" in ResultStore(old).read("runs").columns  # the store's own reader migrates too
    for folder in (results, old):
        p = subprocess.run([sys.executable, "-m", "harness.cli", "report", str(folder)], capture_output=True,
                           text=True, timeout=300)
        assert p.returncode == 0, p.stderr[-2000:]
    assert (old / "report.md").read_text() == (results / "report.md").read_text()
    assert SCHEMA_VERSION == 3  # 3 added the pairs table, with no renames


def _readme_queries() -> list[str]:
    text = README.read_text()
    section = text[text.index("## Parquet tables"):]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_the_readme_queries_run_as_written(results):
    blocks = _readme_queries()
    assert len(blocks) >= 3, "the README shows a duckdb, a polars and a pandas query"
    text = "\n".join(blocks)
    assert "duckdb" in text and "polars" in text and "load(" in text
    for code in blocks:
        scope: dict = {}
        exec(compile(code.replace("results/minordpo-arith", str(results)), "README.md", "exec"), scope)
        assert scope.get("answer") is not None and len(scope["answer"]) > 0, code
