"""Hub-ready copies of a results folder: the per-sample tables as a `datasets` dataset with its
card, and a model card in every trained checkpoint. Nothing here contacts a hub.

    harness export results/minordpo-arith --to hf-dataset out/minordpo-arith-samples
    harness export results/minordpo-arith --to model-cards       # README.md in each checkpoints/*/final/

    datasets.load_from_disk("out/minordpo-arith-samples")["samples"]   # one row per generated sample

The dataset has three splits: `samples` (generations joined with their scores and their run's
loss, β, lr and seed), `runs` (one row per run, the `runs` table) and `evals` (run × metric, with
intervals). The card (README.md) names the suite, embeds its resolved config, lists the columns
and says how to cite it. A model card is written from the run's `runs` row and its `evals` rows;
`huggingface-cli upload` of the folder then publishes both.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from harness.errors import HarnessError
from harness.names import check_inside, check_name, is_inside
from harness.registry import Registry

EXPORTERS: Registry = Registry("export target")

RUN_COLUMNS = ["run_id", "suite", "name", "loss_name", "beta", "lr_peak", "seed", "model", "dataset", "status"]
CITATION = """@misc{harness,
  title  = {harness: a benchmark harness for DPO-family preference optimisation losses},
  note   = {results exported with `harness export`; cite the run ids and the suite hash below}
}
@article{xie2024minordpo,
  title   = {Minor DPO reject penalty to increase training robustness},
  author  = {Xie, Shiming and Chen, Hong and Yu, Fred and Sun, Zeye and Wu, Xiuyu and Hu, Yingfan},
  journal = {arXiv preprint arXiv:2408.09834},
  year    = {2024}
}"""


def _tables(results: Path):
    from harness.results import load

    if not (results / "runs").is_dir():
        raise HarnessError(f"{results}: not a results folder (no runs/ table)")
    return {t: load(results, t) for t in ("runs", "generations", "scores", "evals")}


def _suite(results: Path) -> dict:
    path = results / "suite.json"
    return json.loads(path.read_text()) if path.is_file() else {}


@EXPORTERS.register("hf-dataset")
def hf_dataset(results: Path, to: Path | None) -> list[Path]:
    """The per-sample tables as a DatasetDict on disk (`datasets.load_from_disk`), with a card."""
    import datasets
    import pandas as pd

    if to is None:
        raise HarnessError("harness export --to hf-dataset needs an output folder: harness export DIR --to hf-dataset OUT")
    t = _tables(results)
    if t["generations"].empty:
        raise HarnessError(f"{results}: no generations to export (was the suite evaluated?)")
    plain = {k: _plain(v) for k, v in t.items()}
    runs = plain["runs"][[c for c in RUN_COLUMNS if c in plain["runs"]]]
    scores = plain["scores"].drop(columns=["schema_version"], errors="ignore")
    samples = plain["generations"].drop(columns=["schema_version"], errors="ignore") \
        .merge(scores, on=["run_id", "prompt_id", "sample"], how="left", suffixes=("", "_score")) \
        .merge(runs.drop(columns=["status"]), on="run_id", how="left")
    evals = plain["evals"].drop(columns=["schema_version"], errors="ignore")
    dd = datasets.DatasetDict({"samples": datasets.Dataset.from_pandas(samples, preserve_index=False),
                               "runs": datasets.Dataset.from_pandas(runs, preserve_index=False),
                               "evals": datasets.Dataset.from_pandas(evals, preserve_index=False)})
    to.mkdir(parents=True, exist_ok=True)
    dd.save_to_disk(str(to))
    card = to / "README.md"
    card.write_text(dataset_card(results, dd, _suite(results), pd))
    return [to, card]


def _plain(df):
    """Arrow-backed pandas -> plain numpy/object columns (what `datasets` converts cleanly)."""
    import pandas as pd

    out = df.copy()
    for c in out.columns:
        if isinstance(out[c].dtype, pd.ArrowDtype):
            out[c] = out[c].astype(object).where(out[c].notna(), None)
    return out


def dataset_card(results: Path, dd, suite: dict, pd) -> str:
    name = suite.get("name") or results.name
    lines = ["---", f"pretty_name: {name} (harness per-sample results)", "tags: [dpo, preference-optimization, "
             "minor-dpo, benchmark]", "---", "", f"# {name}: per-sample results", "",
             f"{suite.get('description', '')}".strip(), "",
             f"Exported from `{results.name}` by `harness export`. Splits: "
             + ", ".join(f"`{k}` ({v.num_rows} rows)" for k, v in dd.items()) + ".", "",
             "```python", "import datasets", f'ds = datasets.load_from_disk("{results.name}")',
             'ds["samples"].to_pandas().groupby(["loss_name", "beta"])["correct"].mean()', "```", "",
             "## Columns", ""]
    for split, ds in dd.items():
        lines.append(f"- `{split}`: " + ", ".join(f"`{c}`" for c in ds.column_names))
    lines += ["", "## Suite", "", f"Suite hash `{suite.get('hash', '?')}`; its resolved runs, as run:", "",
              "```json", json.dumps(suite, indent=1, sort_keys=True)[:20000], "```", "",
              "## What these numbers cannot show", "",
              "Each row is one greedy (or sampled) generation of one checkpoint on one held-out prompt. "
              "Compare losses on log-ratios, displacement, verifier accuracy, KL and win-rate with their "
              "intervals over seeds (the `evals` split and the suite's report), never on one sample.", "",
              "## Citation", "", "```bibtex", CITATION, "```", ""]
    return "\n".join(lines)


@EXPORTERS.register("model-cards")
def model_cards(results: Path, to: Path | None) -> list[Path]:
    """A README.md model card in each completed run's checkpoint folder (or under TO/<run_id>/)."""
    from harness.results.records import checkpoint_dir, located

    t = _tables(results)
    runs, evals = _plain(t["runs"]), _plain(t["evals"])
    targets = []  # every destination checked before the first card is written
    for row in runs[runs["status"] == "completed"].to_dict("records"):
        rid = check_name(row["run_id"], f"{results}: runs.run_id")
        ckpt = located(results, row["checkpoint"]) if row.get("checkpoint") else checkpoint_dir(results, rid)
        if not ckpt.is_dir():
            continue
        # without TO the cards go beside the weights, which must then be inside the results folder
        targets.append((row, to / rid if to else check_inside(ckpt, results, f"run {rid}'s checkpoint")))
    if not targets:
        raise HarnessError(f"{results}: no completed run with a checkpoint to write a card for")
    written = []
    for row, target in targets:
        target.mkdir(parents=True, exist_ok=True)
        card = target / "README.md"
        card.write_text(model_card(row, evals[evals["run_id"] == row["run_id"]]))
        written.append(card)
    return written


def model_card(row: dict, evals) -> str:
    cfg = json.loads(row.get("config_json") or "{}")
    data = cfg.get("data", {})
    lines = ["---", "library_name: transformers", "tags: [dpo, preference-optimization, harness, "
             f"{row['loss_name'].replace('_', '-')}]", "---", "",
             f"# {row['name']}: {row['loss_name']} (β={row['beta']:g}, lr={row['lr_peak']:g}, seed {row['seed']})", "",
             f"Trained by `harness` (run `{row['run_id']}`, suite `{row['suite']}`, git `{row.get('git_sha')}`) "
             f"from `{row['model']}` on `{row['dataset']}`.", "",
             "| setting | value |", "|---|---|",
             f"| loss | `{row['loss_name']}` |", f"| β | {row['beta']:g} |", f"| peak learning rate | {row['lr_peak']:g} |",
             f"| steps | {row['steps']} |", f"| batch size | {cfg.get('train', {}).get('batch_size', '?')} |",
             f"| data | `{row['dataset']}` {json.dumps(data.get('options', {}))} |", f"| seed | {row['seed']} |", ""]
    if len(evals):
        lines += ["## Evaluation (held-out prompts; 95% intervals)", "", "| metric | value | 95% CI | n |",
                  "|---|---|---|---|"]
        for e in evals.sort_values("metric").to_dict("records"):
            ci = f"{e['ci_low']:.4g} – {e['ci_high']:.4g}" if e.get("ci_low") is not None and e["ci_low"] == e["ci_low"] else ""
            n = "" if e.get("n") is None or e["n"] != e["n"] else int(e["n"])
            lines.append(f"| {e['metric']} | {e['value']:.4g} | {ci} | {n} |")
        lines.append("")
    lines += ["One checkpoint of a benchmark grid: compare it with its neighbours in the suite's report "
              "(intervals over seeds), not alone.", ""]
    return "\n".join(lines)


def export(results: str | Path, to_kind: str, out: str | Path | None, *, force: bool = False) -> list[Path]:
    exporter = EXPORTERS.get(to_kind)
    if out:
        check_target(Path(results), Path(out), force=force)
    return exporter(Path(results), Path(out) if out else None)


def results_folder_around(path: Path) -> Path | None:
    """The results folder `path` is (or is inside), if any: a folder with a lock file or with
    Parquet parts in runs/ (an exported dataset's runs/ holds .arrow files, so it is not one)."""
    from harness.results.lock import LOCK_FILE

    for p in [path.resolve(), *path.resolve().parents]:
        if (p / LOCK_FILE).exists() or any((p / "runs").glob("*.parquet")):
            return p
    return None


def check_target(results: Path, to: Path, *, force: bool) -> None:
    """An export's folder, before any work. Inside a results folder it would put .arrow files
    and cards among the tables (pandas' own reader of runs/ then fails): never, even with
    --force. A non-empty folder would lose its README.md and more to the export: only with
    --force. A file or a dangling link cannot become a folder."""
    if to.is_symlink() and not to.exists():
        raise HarnessError(f"--to {to}: a symbolic link to {os.readlink(to)}, which does not exist")
    if to.exists() and not to.is_dir():
        raise HarnessError(f"--to {to}: is a file, not a folder")
    around = results_folder_around(to)
    if around is not None or is_inside(to, results):
        raise HarnessError(f"--to {to}: inside the results folder {around or results}; exporting there would mix "
                           "its files into the tables (choose a folder outside it)")
    if to.is_dir() and any(to.iterdir()) and not force:
        raise HarnessError(f"--to {to}: not empty; choose a new or empty folder, or pass --force to write into it")
