"""Report: tables and plots from a synthetic but realistic results folder (built with the real
ResultStore and real suite expansion, so the rows look like what the trainer and evaluation write).

`make_results` (the synthetic folder) lives in tests/builders.py, shared with every read-side test.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
from builders import make_results

from harness.results.store import ResultStore


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    return make_results(tmp_path_factory.mktemp("results") / "synthetic")


# ---------------------------------------------------------------- summary
def test_summary_reads_grid_runs_and_derives_metrics(results):
    from harness.analysis.frame import aggregate, load_results

    res = load_results(results)
    assert len(res.runs) == 2 * 2 * 2 * 3 + 2 * 3  # the SFT stage row is not a grid run
    assert res.keys == ["name", "loss.name", "loss.beta", "train.learning_rate"]
    agg = aggregate(res)
    div = agg[(agg["metric"] == "diverged") & (agg["mean"] > 0)]
    assert len(div) == 1 and div.iloc[0]["name"] == "dpo" and div.iloc[0]["loss.beta"] == 0.1
    # the diverged run has no evaluation: its cell's verifier accuracy is a mean over 2 seeds
    cell = agg[(agg["metric"] == "verifier_accuracy") & (agg["cell"] == div.iloc[0]["cell"])]
    assert cell.iloc[0]["n"] == 2
    # final values come from the eval split's last step
    dpo_hi = agg[(agg["metric"] == "final_logratio_chosen") & (agg["name"] == "dpo")
                 & (agg["train.learning_rate"] == 1e-3) & (agg["loss.beta"] == 0.5)]
    assert dpo_hi.iloc[0]["mean"] < 0
    assert "generation_s" not in set(agg["metric"])  # timings are not results
    row = agg[agg["metric"] == "final_reward_accuracy"].iloc[0]
    assert row["ci_low"] < row["mean"] < row["ci_high"]


# ---------------------------------------------------------------- report files
def test_report_writes_all_formats_from_a_copied_folder(results, tmp_path):
    from harness.report import write_report

    copy = tmp_path / "elsewhere" / "copied"
    shutil.copytree(results, copy)
    shutil.rmtree(copy / "checkpoints", ignore_errors=True)
    written = {p.name for p in write_report(copy)}
    assert {"report.md", "report.tex", "report.html", "curves.png", "frontier.png"} <= written
    md = (copy / "report.md").read_text()
    assert "minor\\_dpo" not in md and "minor_dpo" in md
    assert "± " in md and "1/3" in md  # CI cells and the divergence count
    assert "| reference " in md and "| 0.500 |" in md  # the reference policy's row
    tex = (copy / "report.tex").read_text()
    assert r"\toprule" in tex and r"\bottomrule" in tex and r"minor\_dpo" in tex
    assert "minor_dpo" not in tex.replace(r"minor\_dpo", "")  # every underscore escaped
    assert tex.count(r"\begin{tabular}") == 1 and tex.count(r"\end{tabular}") == 1
    html = (copy / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "<style>" in html
    assert html.count("data:image/png;base64,") == 2 and "src=\"curves.png\"" not in html
    for png in ("curves.png", "frontier.png"):
        assert (copy / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the same data renders the same tables, wherever the folder lives
    write_report(results)
    assert (results / "report.md").read_text() == md
    assert (results / "report.tex").read_text() == tex


def test_main_table_rows_and_columns(results):
    from harness.analysis.frame import aggregate, load_results
    from harness.report.table import main_table

    res = load_results(results)
    table = main_table(res, aggregate(res))
    headers = [c.header for c in table.columns]
    assert headers[:4] == ["variant", "β", "lr", "seeds"]
    assert headers[4:] == ["reward", "win-rate", "verifier acc", "KL", "chosen log-ratio", "displaced", "diverged",
                           "harness_arith exact_match"]
    assert len(table.rows) == 2 * 2 * 2 + 2 + 1  # sft control: one β, two learning rates; + reference
    assert table.rows[-1][0].text.startswith("reference ")
    table.rows.pop()
    seeds = [int(r[3].text) for r in table.rows]
    assert seeds == [3] * len(table.rows)
    reward = headers.index("reward")
    for row in table.rows:
        cell = row[reward]
        assert cell.half is not None and cell.half > 0
        assert cell.text == f"{cell.mean:.3f} ± {cell.half:.3f}"


def _drop_runs(src: Path, dst: Path, drop) -> Path:
    """A copy of the results folder `src` without the grid runs whose config `drop(cfg)` is true."""
    shutil.copytree(src, dst)
    store = ResultStore(dst)
    for part in (dst / "runs").glob("*.parquet"):
        if drop(json.loads(store.read("runs", part.stem)["config_json"][0])):
            part.unlink()
    return dst


def test_single_seed_cells_have_no_interval(results, tmp_path):
    from harness.analysis.frame import aggregate, load_results
    from harness.report.table import main_table

    res = load_results(_drop_runs(results, tmp_path / "r", lambda c: c["train"]["seed"] != 0))
    table = main_table(res, aggregate(res))
    assert all(" ± " not in c.text for row in table.rows for c in row)
    assert not any(math.isnan(c.mean) for row in table.rows for c in row if c.mean is not None)


# ---------------------------------------------------------------- plots
def test_curves_legend_names_every_series_drawn_in_any_panel(results, tmp_path):
    from harness.analysis.frame import load_results
    from harness.report.plots import curves_figure

    # the SFT control only at the high learning rate: absent from the first panel (low lr, β=0.1)
    root = _drop_runs(results, tmp_path / "r", lambda c: c["name"] == "sft" and c["train"]["learning_rate"] == 2e-4)
    fig = curves_figure(load_results(root))
    drawn: dict[str, set] = {}
    for ax in fig.axes:
        for line in ax.get_lines():
            if not line.get_label().startswith("_"):  # the zero line is unlabelled
                drawn.setdefault(line.get_label(), set()).add(line.get_color())
    assert "sft" not in {line.get_label() for line in fig.axes[0].get_lines()} and "sft" in drawn
    (legend,) = fig.legends
    entries = {t.get_text(): h for t, h in zip(legend.get_texts(), legend.legend_handles, strict=True)}
    assert len(entries) == len(legend.get_texts())  # one entry per series, not one per line
    assert set(entries) == set(drawn) | {"chosen r_w", "rejected r_l"}
    for label, colors in drawn.items():
        assert colors == {entries[label].get_color()}  # one colour per series, in every panel
    assert entries["chosen r_w"].get_linestyle() == "-" and entries["rejected r_l"].get_linestyle() == "--"
    import matplotlib.pyplot as plt

    plt.close(fig)


def _errorbars(ax) -> list:
    from matplotlib.container import ErrorbarContainer

    return [c for c in ax.containers if isinstance(c, ErrorbarContainer)]


def test_frontier_log_kl_error_bars_and_chosen_y(results):
    import matplotlib.pyplot as plt

    from harness.analysis.frame import aggregate, load_results
    from harness.report.plots import frontier_figure

    res = load_results(results)
    agg = aggregate(res)
    fig = frontier_figure(res, agg)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert "reward" in ax.get_ylabel() and "reward" in fig.get_suptitle()
    # the reference has KL 0: drawn at the floor, and the label says so
    assert "≤ 0 drawn at" in ax.get_xlabel()
    assert all(x > 0 for line in ax.get_lines() for x in line.get_xdata())
    # every cell has >=2 evaluated seeds (the diverged run leaves 2): bars on both axes for each
    cells = set(agg.loc[agg["metric"] == "kl_mean", "cell"]) & set(agg.loc[agg["metric"] == "reward_mean", "cell"])
    bars = _errorbars(ax)
    assert len(bars) == len(cells) == 2 * 2 * 2 + 2
    assert all(b.has_xerr and b.has_yerr for b in bars)
    labels = {t.get_text() for t in fig.legends[0].get_texts()}
    assert {"dpo", "minor_dpo", "sft", "β=0.1", "β=0.5", "lr=0.0002", "lr=0.001"} <= labels
    assert not ax.texts  # no per-point annotations to overlap: β is the marker
    plt.close(fig)

    fig = frontier_figure(res, agg, ys=("verifier_accuracy", "reward_mean"))
    assert fig.axes[0].get_ylabel().startswith("verifier acc") and "verifier acc" in fig.get_suptitle()
    plt.close(fig)


def test_frontier_single_seed_has_points_but_no_error_bars(results, tmp_path):
    import matplotlib.pyplot as plt

    from harness.analysis.frame import aggregate, load_results
    from harness.report.plots import frontier_figure

    res = load_results(_drop_runs(results, tmp_path / "r", lambda c: c["train"]["seed"] != 0))
    fig = frontier_figure(res, aggregate(res))
    assert not _errorbars(fig.axes[0]) and fig.axes[0].get_lines()
    plt.close(fig)


def test_report_rejects_folder_without_runs(tmp_path):
    from harness.errors import HarnessError
    from harness.report import write_report

    with pytest.raises(HarnessError, match="no runs table"):
        write_report(tmp_path)


def test_report_cli_and_unknown_metric(results, capsys):
    from harness.cli import main

    assert main(["report", str(results), "--no-plots", "--metrics", "final_logratio_chosen,diverged"]) == 0
    md = (results / "report.md").read_text()
    assert "chosen log-ratio" in md and "win-rate" not in md.split("## Runs")[0]
    assert main(["report", str(results), "--metrics", "nonexistent"]) == 2
    assert "nonexistent" in capsys.readouterr().err


def test_latex_escaping():
    from harness.report.render import tex_escape

    assert tex_escape("minor_dpo 50% & $x# β ± 1") == r"minor\_dpo 50\% \& \$x\# $\beta$ $\pm$ 1"
