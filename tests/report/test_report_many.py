"""One report over several results folders (`harness report A B --by suite,model --out C`): the
same cells, intervals and verdict as each folder alone, side by side; refusals where the folders
cannot be compared."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from builders import make_results


def _as_other_model(src: Path, dst: Path, model: str, suite: str) -> Path:
    """A copy of a results folder as if another model had been run: new run ids, model and suite."""
    shutil.copytree(src, dst)
    for table in ("runs", "steps", "scores", "evals", "lmeval"):
        for part in list((dst / table).glob("*.parquet")):
            t = pq.read_table(part)
            ids = [f"{model}-{r}" for r in t.column("run_id").to_pylist()]
            t = t.set_column(t.column_names.index("run_id"), "run_id", pa.array(ids))
            if table == "runs":
                cfgs = [json.loads(c) for c in t.column("config_json").to_pylist()]
                for c in cfgs:
                    c["model"]["name"] = model
                t = t.set_column(t.column_names.index("config_json"), "config_json",
                                 pa.array([json.dumps(c) for c in cfgs]))
                t = t.set_column(t.column_names.index("model"), "model", pa.array([model] * len(t)))
                t = t.set_column(t.column_names.index("suite"), "suite",
                                 pa.array([s.replace("synthetic", suite) for s in t.column("suite").to_pylist()]))
            part.unlink()
            pq.write_table(t, part.with_name(f"{model}-{part.name}"))
    return dst


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("many")
    a = make_results(root / "a")
    b = _as_other_model(a, root / "b", "tiny-wide", "synthetic-wide")
    return a, b


def _report(*args):
    return subprocess.run([sys.executable, "-m", "harness.cli", "report", *args], capture_output=True, text=True,
                          timeout=300)


def test_two_folders_make_one_table_with_each_folders_cells(folders, tmp_path):
    from harness.analysis.combine import load_many
    from harness.analysis.frame import aggregate, load_results

    a, b = folders
    res, notes = load_many([a, b], ["suite", "model"], tmp_path)
    assert res.keys[:2] == ["suite", "model.name"]
    assert len(res.runs) == 2 * len(load_results(a).runs)
    agg = aggregate(res)
    alone = aggregate(load_results(a))
    # a cell of folder a has the same mean and interval in the combined table as in its own report
    key = ["name", "loss.beta", "train.learning_rate", "metric"]
    got = agg[agg["suite"] == "synthetic"].set_index(key)[["mean", "ci_low", "ci_high"]].sort_index()
    want = alone.set_index(key)[["mean", "ci_low", "ci_high"]].sort_index()
    pd.testing.assert_frame_equal(got, want.loc[got.index])
    p = _report(str(a), str(b), "--by", "suite,model", "--out", str(tmp_path / "both"))
    assert p.returncode == 0, p.stderr[-2000:]
    md = (tmp_path / "both" / "report.md").read_text()
    assert "synthetic-wide" in md and "tiny-wide" in md


def test_refuses_the_same_run_twice(folders, tmp_path):
    a, _ = folders
    copy = tmp_path / "copy"
    shutil.copytree(a, copy)
    p = _report(str(a), str(copy), "--out", str(tmp_path / "x"))
    assert p.returncode == 2 and "the same run twice" in p.stderr and "Traceback" not in p.stderr


def test_refuses_an_unknown_by_key_and_a_missing_out(folders, tmp_path):
    a, b = folders
    p = _report(str(a), str(b), "--by", "hardware", "--out", str(tmp_path / "x"))
    assert p.returncode == 2 and "no run has ['hardware']" in p.stderr
    p = _report(str(a), str(b))
    assert p.returncode == 2 and "needs --out" in p.stderr


def test_rewards_from_different_reward_models_are_left_out(folders, tmp_path):
    from harness.analysis.combine import load_many

    a, b = folders
    other = tmp_path / "other-rm"
    shutil.copytree(b, other)
    for part in (other / "evals").glob("*.parquet"):
        t = pq.read_table(part)
        t = t.append_column("reward_model", pa.array(["another-rm"] * len(t))) if "reward_model" not in \
            t.column_names else t.set_column(t.column_names.index("reward_model"), "reward_model",
                                             pa.array(["another-rm"] * len(t)))
        pq.write_table(t, part)
    res, notes = load_many([a, other], ["suite"], tmp_path / "out")
    assert "reward_mean" not in set(res.metrics["metric"]) and "winrate_vs_ref" not in set(res.metrics["metric"])
    assert any("different reward models" in n for n in notes)
    same, notes = load_many([a, b], ["suite"], tmp_path / "out2")
    assert "reward_mean" in set(same.metrics["metric"])
