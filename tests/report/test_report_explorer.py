"""explorer.html without a browser: written beside report.html and linked from it, nothing in it
outside the file, its verdict lines tied to their cells, its curve intervals harness.analysis.stats', the
same page for several folders, and the pairs table shown when a results folder has one.
tests/report/test_report_explorer_browser.py drives the page itself in headless Chromium.
"""

from __future__ import annotations

import math
import re
import shutil
from pathlib import Path

import pytest
from explorer_results import explorer_results, payload, with_pairs

from harness.results.store import ResultStore


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return explorer_results(tmp_path_factory.mktemp("explorer") / "synthetic")


# ---------------------------------------------------------------- without a browser
def test_explorer_is_written_beside_the_report_and_linked(folder):
    html = (folder / "explorer.html").read_text()
    assert '<a href="explorer.html">' in (folder / "report.html").read_text()
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", html)  # nothing outside the file
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    data = payload(folder / "explorer.html")
    assert len(data["cells"]) == 10 and len(data["main"]["rows"]) == 11  # + the reference's row
    assert data["pairs"]["absent"]
    assert len(data["gens"]["prompts"]) == 32
    # every verdict line is about cells, and links them: 4 MinorDPO cells; the difference adds DPO's 4
    links = [line["cells"] for s in data["sections"] for line in s["lines"] if line["text"][:2] in ("✓ ", "✗ ", "? ")]
    assert [len(c) for c in links] == [4, 8]


def test_curve_interval_is_harness_stats_t_interval(folder):
    from harness.analysis.frame import load_results
    from harness.analysis.stats import summarize

    data = payload(folder / "explorer.html")
    res = load_results(folder)
    cell = next(c for c in data["cells"] if c["labels"] == {"variant": "dpo", "beta": "0.5", "lr": "0.001"})
    ids = [r for r, v in data["runs"].items() if v["cell"] == cell["slug"]]
    s = res.steps[res.steps["run_id"].isin(ids) & (res.steps["split"] == "train") & (res.steps["step"] == 17)]
    want = summarize(list(s["logratio_chosen"]))
    curve = data["curves"]["cell"][cell["slug"]]["train"]
    i = curve["x"].index(17)
    mean, lo, hi = (curve["logratio_chosen"][k][i] for k in range(3))
    assert want.n == 3 and math.isclose(mean, want.mean, rel_tol=1e-4)
    assert math.isclose(lo, want.ci_low, rel_tol=1e-4, abs_tol=1e-5) and math.isclose(hi, want.ci_high, rel_tol=1e-4, abs_tol=1e-5)


def test_several_folders_get_the_same_explorer(folder, tmp_path):
    from harness.report import write_report

    other = tmp_path / "other"
    shutil.copytree(folder, other)
    for table in ("runs", "steps", "scores", "evals", "lmeval", "generations"):  # another suite: new run ids
        for part in (other / table).glob("*.parquet"):
            df = ResultStore(other).read(table, part.stem)
            df["run_id"] = "w-" + df["run_id"]
            if table == "runs":
                df["suite"] = df["suite"].str.replace("synthetic", "wide")
            part.unlink()
            ResultStore(other).write(table, "w-" + part.stem, df.drop(columns="schema_version"))
    paths = write_report(folder, also=[other], by=["suite"], out=tmp_path / "both", plots=False)
    assert tmp_path / "both" / "explorer.html" in paths
    data = payload(tmp_path / "both" / "explorer.html")
    assert len(data["cells"]) == 20 and {c["series"].split(" · ")[0] for c in data["cells"]} == {"synthetic", "wide"}
    assert len(data["gens"]["runs"]) == 2 * (len(payload(folder / "explorer.html")["gens"]["runs"]) - 1) + 2




def test_a_pairs_table_is_shown_when_the_folder_has_one(folder, tmp_path, monkeypatch):
    copy = with_pairs(shutil.copytree(folder, tmp_path / "with-pairs"), monkeypatch)
    pairs = payload(copy / "explorer.html")["pairs"]
    assert "absent" not in pairs
    assert pairs["columns"][:4] == ["run_id", "prompt_id", "chosen_logratio", "rejected_logratio"]
    assert len(pairs["rows"]) == 30 * 4  # every scored run: 29 grid runs and the reference
