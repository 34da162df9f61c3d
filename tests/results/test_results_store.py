"""The Parquet results store: atomic one-part-per-key writes, contract types, standard readers."""

from __future__ import annotations

import math

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest

from harness.errors import HarnessError
from harness.results import ResultStore
from harness.results.schema import SCHEMA_VERSION, TABLES


def run_row(run_id: str, **kw) -> dict:
    return {"run_id": run_id, "suite": "s", "name": run_id, "loss": "dpo", "beta": 0.1, "learning_rate": 1e-5,
            "seed": 0, "status": "ok", "steps": 10, **kw}


def step_rows(run_id: str, n: int = 3, **kw) -> list[dict]:
    return [{"run_id": run_id, "step": i, "split": "train", "loss": 0.69 - 0.01 * i, **kw} for i in range(n)]


def leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(".parquet"))


# ---------------------------------------------------------------- write / read
def test_write_then_read_round_trip(tmp_path):
    store = ResultStore(tmp_path)
    path = store.write("steps", "r1", step_rows("r1"))
    assert path == tmp_path / "steps" / "r1.parquet" and store.has("steps", "r1")
    df = store.read("steps")
    assert list(df["step"]) == [0, 1, 2] and set(df["run_id"]) == {"r1"}
    assert (df["schema_version"] == SCHEMA_VERSION).all()
    assert store.keys("steps") == ["r1"] and store.read("steps", "r1").equals(df)


def test_read_of_empty_or_absent_table(tmp_path):
    store = ResultStore(tmp_path)
    df = store.read("runs")
    assert len(df) == 0 and set(TABLES["runs"]) <= set(df.columns)
    assert store.keys("runs") == [] and not store.has("runs", "x")
    store.write("runs", "empty", [])  # a zero-row part is allowed and reads as empty
    assert store.keys("runs") == ["empty"] and len(store.read("runs")) == 0


def test_unknown_table_is_an_error(tmp_path):
    with pytest.raises(HarnessError, match="unknown results table 'stepz'"):
        ResultStore(tmp_path).write("stepz", "k", [])


@pytest.mark.parametrize("key", ["../escape", "a/b", "", ".hidden", "_hidden", "a b", "x" * 201])
def test_bad_keys_are_rejected(tmp_path, key):
    with pytest.raises(HarnessError, match="invalid results key"):
        ResultStore(tmp_path).write("runs", key, [run_row("r")])
    assert not any(tmp_path.parent.glob("escape*")) and not (tmp_path / "runs").exists()


def test_rewrite_of_same_key_replaces_without_duplicates(tmp_path):
    store = ResultStore(tmp_path)
    store.write("steps", "r1", step_rows("r1", n=5))
    store.write("steps", "r2", step_rows("r2", n=2))
    store.write("steps", "r1", step_rows("r1", n=3, grad_norm=1.0))  # re-run of r1
    df = store.read("steps")
    assert len(df) == 5 and df.groupby("run_id").size().to_dict() == {"r1": 3, "r2": 2}
    assert not df.duplicated(["run_id", "step", "split"]).any()
    assert leftovers(tmp_path / "steps") == []
    store.delete("steps", "r2")
    assert store.keys("steps") == ["r1"]


# ---------------------------------------------------------------- contract types
def test_contract_column_types_whatever_the_input_types(tmp_path):
    store = ResultStore(tmp_path)
    # ints where the contract says float, a float-with-NaN (pandas' null int) where it says int,
    # missing contract columns, and one extra column.
    rows = [run_row("a", beta=1, wall_s=3, diverged_step=None, extra_note="hi"),
            run_row("b", beta=0.5, wall_s=2.5, diverged_step=7, extra_note="yo")]
    store.write("runs", "ab", rows)
    schema = pq.read_schema(store.path("runs", "ab"))
    for col, typ in TABLES["runs"].items():
        assert schema.field(col).type == typ, col
    assert schema.field("schema_version").type == pa.int64()
    assert pa.types.is_string(schema.field("extra_note").type) or pa.types.is_large_string(schema.field("extra_note").type)
    df = store.read("runs")
    assert df["beta"].tolist() == [1.0, 0.5]
    assert pd.isna(df.loc[0, "diverged_step"]) and df.loc[1, "diverged_step"] == 7
    assert df["git_sha"].isna().all()  # absent contract column: typed nulls


def test_all_tables_accept_their_contract_columns(tmp_path):
    sample = {pa.string(): "x", pa.float64(): 1.5, pa.int64(): 2, pa.bool_(): True}
    store = ResultStore(tmp_path)
    for table, cols in TABLES.items():
        store.write(table, "k", [{c: sample[t] for c, t in cols.items()}])
        assert pq.read_schema(store.path(table, "k")).types[:len(cols)] == list(cols.values())


def test_dataframe_input_with_index(tmp_path):
    df = pd.DataFrame(step_rows("r1", n=4)).set_index("step", drop=False).iloc[::-1]
    store = ResultStore(tmp_path)
    store.write("steps", "r1", df)
    out = store.read("steps")
    assert sorted(out["step"]) == [0, 1, 2, 3] and "__index_level_0__" not in out.columns


# ---------------------------------------------------------------- atomicity
def test_no_temp_files_left_after_writes(tmp_path):
    store = ResultStore(tmp_path)
    for i in range(3):
        store.write("steps", f"r{i}", step_rows(f"r{i}"))
        store.write("steps", f"r{i}", step_rows(f"r{i}", n=1))
    assert leftovers(tmp_path / "steps") == []


def test_failing_write_leaves_old_part_intact(tmp_path, monkeypatch):
    store = ResultStore(tmp_path)
    store.write("steps", "r1", step_rows("r1", n=4))
    before = store.path("steps", "r1").read_bytes()

    def half_written(table, where, **kw):  # writes something, then dies mid-way
        with open(where, "wb") as f:
            f.write(b"PAR1 garbage")
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", half_written)
    with pytest.raises(OSError, match="disk full"):
        store.write("steps", "r1", step_rows("r1", n=1))
    monkeypatch.undo()
    assert store.path("steps", "r1").read_bytes() == before
    assert len(store.read("steps")) == 4
    assert leftovers(tmp_path / "steps") == []


def test_failing_conversion_leaves_old_part_intact(tmp_path):
    store = ResultStore(tmp_path)
    store.write("runs", "r1", [run_row("r1")])
    with pytest.raises((pa.ArrowInvalid, pa.ArrowTypeError, ValueError)):
        store.write("runs", "r1", [run_row("r1", beta="not a number")])
    assert store.read("runs")["beta"].tolist() == [0.1]
    assert leftovers(tmp_path / "runs") == []


# ---------------------------------------------------------------- standard readers
@pytest.fixture
def filled(tmp_path):
    store = ResultStore(tmp_path)
    store.write("steps", "r1", step_rows("r1", n=3, grad_norm=1.0))
    store.write("steps", "r2", step_rows("r2", n=2, grad_norm=float("nan")))
    store.write("steps", "r1", step_rows("r1", n=4, grad_norm=2.0))  # replaced, must not double
    store.write("steps", "r0", step_rows("r0", n=1))  # no grad_norm at all: typed nulls, same schema
    return tmp_path / "steps"


def test_readable_by_pandas(filled):
    df = pd.read_parquet(filled)
    assert len(df) == 7 and df.groupby("run_id").size().to_dict() == {"r0": 1, "r1": 4, "r2": 2}
    assert df.loc[df.run_id == "r0", "grad_norm"].isna().all()


def test_readable_by_pyarrow_dataset(filled):
    table = pads.dataset(filled, format="parquet").to_table()
    assert table.num_rows == 7 and table.schema.field("step").type == pa.int64()
    assert table.schema.field("grad_norm").type == pa.float64()


def test_readable_by_duckdb(filled):
    con = duckdb.connect()
    n, runs, steps = con.execute(
        f"select count(*), count(distinct run_id), max(step) from read_parquet('{filled}/*.parquet')").fetchone()
    assert (n, runs, steps) == (7, 3, 3)
    (g,) = con.execute(f"select avg(grad_norm) from read_parquet('{filled}/*.parquet') where run_id = 'r1'").fetchone()
    assert math.isclose(g, 2.0)
