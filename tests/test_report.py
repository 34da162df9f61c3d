"""Report: tables and plots from a synthetic but realistic results folder (built with the real
ResultStore and real suite expansion, so the rows look like what the trainer and evaluation write).

`make_results` is also used by tests/test_regress.py.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from harness.config import to_dict
from harness.evaluation.metrics import sample_metrics
from harness.results.store import ResultStore
from harness.suite.grid import expand, resolve, suite_column
from harness.suite.spec import suite_from_dict

SUITE = {
    "name": "synthetic",
    "base": {"model": {"name": "tiny"}, "data": {"train": "arith"}, "train": {"steps": 40}},
    "sft": {"train": {"steps": 100}},
    "variants": [{"name": "dpo", "set": {"loss.name": "dpo"}},
                 {"name": "minor_dpo", "set": {"loss.name": "minor_dpo"}},
                 {"name": "sft", "set": {"loss.name": "sft", "loss.beta": 0.1}}],
    "grid": {"loss.beta": [0.1, 0.5], "train.learning_rate": [2e-4, 1e-3], "train.seed": [0, 1, 2]},
}
DIVERGED = ("dpo", 0.1, 1e-3, 2)  # (variant, beta, lr, seed) of the one run that diverges


def _trajectory(name: str, beta: float, lr: float, t: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray]:
    """Chosen/rejected log-ratios shaped like the real thing: DPO drags the chosen answer down at
    the high learning rate, MinorDPO keeps it up, SFT raises both."""
    speed = lr / 2e-4
    if name == "dpo":
        chosen = (0.2 - 0.6 * speed) * t / (1 + beta)
        rejected = -2.0 * speed * t
    elif name == "minor_dpo":
        chosen, rejected = 0.5 * speed * t, -0.4 * t
    else:
        chosen, rejected = 0.8 * speed * t, 0.3 * t
    return chosen + rng.normal(0, 0.05, t.shape), rejected + rng.normal(0, 0.05, t.shape)


def make_results(root: Path, *, shift: dict | None = None, variants=("dpo", "minor_dpo", "sft"),
                 suite_name: str = "synthetic") -> Path:
    """Write a results folder for SUITE; `shift` adds {metric: delta} to the runs of `variants`
    (a regression); `suite_name` renames the suite."""
    suite = suite_from_dict({**SUITE, "name": suite_name}, source="synthetic.yaml")
    plan = expand(suite)
    store = ResultStore(root)
    sft = plan.sft[0]
    ckpt = str(root / "checkpoints" / sft.run_id)
    store.write("runs", sft.run_id, [_run_row(sft.config, sft.run_id, suite_column(suite_name, "sft"), "completed", 100)])
    for i, r in enumerate(plan.runs):
        cfg = resolve(r.config, {sft.run_id: ckpt})
        delta = (shift or {}) if cfg.name in variants else {}
        rng = np.random.default_rng(i)
        key = (cfg.name, cfg.loss.beta, cfg.train.learning_rate, cfg.train.seed)
        diverged = key == DIVERGED
        n_steps = 30 if diverged else 40
        t = np.arange(1, n_steps + 1) / 40
        chosen, rejected = _trajectory(cfg.name, cfg.loss.beta, cfg.train.learning_rate, t, rng)
        chosen = chosen + delta.get("final_logratio_chosen", 0.0)
        rows = [_step_row(r.run_id, s + 1, "train", chosen[s], rejected[s], cfg.loss.beta) for s in range(n_steps)]
        rows += [_step_row(r.run_id, s, "eval", chosen[s - 1] + 0.01, rejected[s - 1], cfg.loss.beta)
                 for s in (20, 40) if s <= n_steps]
        store.write("steps", r.run_id, rows)
        status = "diverged" if diverged else "completed"
        store.write("runs", r.run_id, [_run_row(cfg, r.run_id, suite_name, status, n_steps, 30 if diverged else None)])
        if diverged:
            continue
        quality = {"dpo": 0.4, "minor_dpo": 0.6, "sft": 0.55}[cfg.name] + delta.get("verifier_accuracy", 0.0)
        n = 32
        scores = [{"run_id": r.run_id, "prompt_id": f"p{j}", "sample": 0,
                   "reward": float(rng.normal(quality * 2 / (1 + cfg.loss.beta), 0.3)),
                   "correct": float(rng.random() < quality), "kl": float(rng.gamma(2.0, 1.0 / cfg.loss.beta))}
                  for j in range(n)]
        store.write("scores", r.run_id, scores)
        wr = float(np.clip(quality + rng.normal(0, 0.03), 0, 1))
        # as harness.evaluation writes them: the per-sample means (with bootstrap CIs), then whole rows
        means = sample_metrics(r.run_id, [x["prompt_id"] for x in scores],
                               {c: [x[c] for x in scores] for c in ("reward", "correct", "kl")}, iters=200)
        store.write("evals", r.run_id, means + [{"run_id": r.run_id, "metric": "winrate_vs_ref", "value": wr,
                                                 "ci_low": wr - 0.1, "ci_high": wr + 0.1, "n": n},
                                                {"run_id": r.run_id, "metric": "generation_s", "value": 10.0 + i}])
        store.write("lmeval", r.run_id, [{"run_id": r.run_id, "task": "harness_arith", "metric": "exact_match,final-answer",
                                          "value": quality - delta.get("verifier_accuracy", 0.0),
                                          "stderr": 0.05, "n": 100}])
    # harness.evaluation evaluates the reference (the SFT stage) like any run
    store.write("evals", sft.run_id, [{"run_id": sft.run_id, "metric": m, "value": v, "is_reference": True}
                                      for m, v in (("verifier_accuracy", 0.5), ("kl_mean", 0.0), ("reward_mean", 0.9))])
    return root


def _run_row(cfg, run_id, suite, status, steps, diverged_step=None) -> dict:
    return {"run_id": run_id, "suite": suite, "name": cfg.name, "loss_name": cfg.loss.name, "beta": cfg.loss.beta,
            "lr_peak": cfg.train.learning_rate, "seed": cfg.train.seed, "model": cfg.model.name,
            "dataset": cfg.data.train, "status": status, "diverged_step": diverged_step, "steps": steps,
            "wall_s": 1.0, "ref_cache_hit": True, "config_json": json.dumps(to_dict(cfg)),
            "env_json": "{}", "git_sha": "test", "error": None}


def _step_row(run_id, step, split, chosen, rejected, beta) -> dict:
    margin = beta * (chosen - rejected)
    return {"run_id": run_id, "step": step, "split": split, "loss": float(np.log1p(np.exp(-margin))),
            "grad_norm": 1.0, "learning_rate": 1e-3, "logratio_chosen": float(chosen),
            "logratio_rejected": float(rejected), "reward_margin": float(margin),
            "reward_accuracy": float(1 / (1 + np.exp(-4 * (chosen - rejected)))),
            "frac_rejected_above_ref": float(1 / (1 + np.exp(-4 * rejected))),
            "frac_chosen_below_ref": float(1 / (1 + np.exp(4 * chosen))), "logps_chosen": -5.0,
            "logps_rejected": -6.0, "nonfinite": 0, "tokens": 256, "elapsed_s": 0.05}


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
