"""explorer.html as a reader uses it: headless Chromium opens the file, the test clicks and filters
as a person would and reads the DOM back after each action; every request the page makes is
recorded, and only the file itself (or data: URLs) may appear.

The results are tests/test_report.py's synthetic folder plus generations and reference scores
(`add_generations`), with claims in its suite.json so that the verdict has lines to link.
Without `chromium` on PATH the browser tests skip, unless HARNESS_REQUIRE_CHROMIUM=1 (CI sets it).
"""

from __future__ import annotations

import base64
import gzip
import json
import math
import re
import shutil
from pathlib import Path

import pytest
from chromium_page import ChromiumPage, find_chromium
from test_report import make_results

from harness.results.store import ResultStore

CLAIMS = [{"kind": "sign", "text": "MinorDPO keeps r_w above 0", "metric": "final_logratio_chosen",
           "where": {"variant": "minor_dpo"}, "op": ">", "value": 0},
          {"kind": "difference", "text": "Verifier accuracy, MinorDPO − DPO", "metric": "verifier_accuracy",
           "where": {"variant": "minor_dpo"}, "than": {"variant": "dpo"}, "by": ["lr"]}]


def add_generations(root: Path) -> Path:
    """Generations for every scored run (as harness.evaluation writes them), and the reference's
    generations and scores. A completion is right exactly when its score says `correct`."""
    store = ResultStore(root)
    evals = store.read("evals")
    ref = str(evals.loc[evals["is_reference"].fillna(False).astype(bool), "run_id"].iloc[0])
    store.write("scores", ref, [{"run_id": ref, "prompt_id": f"p{j}", "sample": 0, "reward": 0.9, "correct": 1.0,
                                 "kl": 0.0} for j in range(32)])
    scores = store.read("scores")
    for rid, g in scores.groupby("run_id"):
        rows = []
        for r in g.itertuples():
            j = int(r.prompt_id[1:])
            answer = 3 * j if r.correct == 1 else 3 * j + 1
            text = f"{j}+{2 * j}={answer} " + "so " * ((j * 7 + len(rid)) % 5) + f"#{answer}"
            rows.append({"run_id": rid, "prompt_id": r.prompt_id, "sample": 0, "prompt": f"Q{j}: what is {j} + {2 * j}?",
                         "completion": text, "completion_tokens": len(text.split()), "finish_reason": "stop",
                         "backend": "hf", "gold": str(3 * j)})
        store.write("generations", rid, rows)
    return root


def suite_json(root: Path, name: str = "synthetic") -> None:
    (root / "suite.json").write_text(json.dumps({"name": name, "spec": {"report": {"claims": CLAIMS}}}))


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    from harness.report import write_report

    root = add_generations(make_results(tmp_path_factory.mktemp("explorer") / "synthetic"))
    suite_json(root)
    write_report(root, plots=False)
    return root


def payload(page: Path) -> dict:
    blob = re.search(r'id="data-gz">([^<]*)<', page.read_text()).group(1)
    return json.loads(gzip.decompress(base64.b64decode(blob)))


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
    from harness.stats import summarize
    from harness.summary import load_results

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


# ---------------------------------------------------------------- in Chromium
@pytest.fixture(scope="module")
def page(tmp_path_factory):
    with ChromiumPage(find_chromium(), tmp_path_factory.mktemp("profile")) as p:
        yield p


def load(page: ChromiumPage, url: str) -> None:
    """A fresh document (not a same-document hash change), ready to use."""
    page.open("about:blank")
    page.wait("location.href === 'about:blank'")
    page.open(url)
    page.wait("document.body && (document.body.dataset.ready === '1' || document.body.dataset.error)")
    assert page.js("document.body.dataset.error || ''") == ""


def column(page: ChromiumPage, table: str, header: str) -> list[str]:
    return page.js(f"""(() => {{
        const t = document.getElementById('{table}');
        const i = [...t.querySelectorAll('thead th')].findIndex((th) => th.textContent === {json.dumps(header)});
        return [...t.querySelectorAll('tbody tr')].map((tr) => tr.children[i].textContent);
    }})()""")


def mean_of(text: str) -> float:
    return float(text.split(" ± ")[0])


def test_sort_by_clicking_a_header(page, folder):
    load(page, (folder / "explorer.html").as_uri())
    before = [t for t in column(page, "main-table", "chosen log-ratio") if t != "–"]
    page.js("[...document.querySelectorAll('#main-table th')].find((th) => th.textContent === 'chosen log-ratio').click()")
    after = [t for t in column(page, "main-table", "chosen log-ratio") if t != "–"]
    assert after != before and sorted(after) == sorted(before)
    assert [mean_of(t) for t in after] == sorted((mean_of(t) for t in after), reverse=True)  # a metric: largest first
    page.js("[...document.querySelectorAll('#main-table th')].find((th) => th.textContent === 'chosen log-ratio').click()")
    again = [mean_of(t) for t in column(page, "main-table", "chosen log-ratio") if t != "–"]
    assert again == sorted(again)
    assert "± " in after[0]  # the report's texts: mean ± half-width of the 95% interval


def test_filter_to_one_lr(page, folder):
    load(page, (folder / "explorer.html").as_uri())
    page.js("(() => { const s = document.querySelector('select[data-filter=lr]'); s.value = '0.001';"
            " s.dispatchEvent(new Event('change')); })()")
    lrs = column(page, "main-table", "lr")
    assert lrs == ["0.001"] * 5 + [""]  # 5 cells at lr 1e-3, and the reference's row
    runs = column(page, "runs-table", "lr")
    assert len(runs) == 15 and set(runs) == {"0.001"}
    assert "lr=0.001" in page.js("location.hash")


def test_open_a_prompt_shows_one_completion_per_variant_and_seed(page, folder):
    load(page, (folder / "explorer.html").as_uri() + "#beta=0.5&lr=0.001")
    page.js("document.querySelector('button[data-view=prompts]').click()")
    page.wait("document.querySelectorAll('.plist .item').length === 32")
    page.js("document.querySelector('.plist .item[data-prompt=p5]').click()")
    page.wait("document.querySelector('#prompt-detail h2')")
    assert page.js("document.querySelector('#prompt-detail h2').textContent") == "Prompt p5"
    cards = page.js("[...document.querySelectorAll('#prompt-detail .completion:not(.ref)')]"
                    ".map((c) => [c.closest('.grid').previousElementSibling.dataset.cell, c.dataset.seed])")
    # β=0.5, lr=1e-3: DPO and MinorDPO (the SFT control has no β=0.5 cell), 3 seeds each
    assert sorted(cards) == sorted([[v + "_0.5_0.001", s] for v in ("dpo", "minor_dpo") for s in "012"])
    assert page.js("document.querySelectorAll('#prompt-detail .completion.ref').length") == 1
    meta = page.js("document.querySelector('#prompt-detail .completion:not(.ref) .meta').textContent")
    assert re.search(r"[✓✗].*reward -?\d\.\d{3} · KL \d+\.\d{3} · \d+ tokens", meta), meta


def test_prompt_filters_wrong_and_right_and_search(page, folder):
    import pandas as pd

    load(page, (folder / "explorer.html").as_uri() + "#view=prompts&lr=0.001&a=dpo&b=minor_dpo")
    shown = set(page.js("[...document.querySelectorAll('.plist .item')].map((i) => i.dataset.prompt)"))
    runs = ResultStore(folder).read("runs")
    scores = ResultStore(folder).read("scores").merge(runs[["run_id", "name", "lr_peak"]], on="run_id")
    acc = scores[scores["lr_peak"] == 1e-3].groupby(["prompt_id", "name"])["correct"].mean().unstack()
    want = set(acc.index[(acc["dpo"] < 0.5) & (acc["minor_dpo"] > 0.5)])
    assert shown == want and 0 < len(want) < 32
    page.js("(() => { const s = document.getElementById('search'); s.focus(); s.value = 'Q1';"
            " s.dispatchEvent(new Event('input')); })()")
    texts = page.js("[...document.querySelectorAll('.plist .item')].map((i) => i.textContent)")
    assert texts and all("Q1" in t for t in texts)
    assert page.js("document.activeElement.id") == "search"  # typing goes on after the re-render
    assert not pd.isna(acc.values).any()


def test_longest_completions_first(page, folder):
    load(page, (folder / "explorer.html").as_uri() + "#view=prompts&order=tokens")
    longest = page.js("[...document.querySelectorAll('.plist .item')].map((i) => +i.textContent.match(/≤ (\\d+) tok/)[1])")
    assert longest == sorted(longest, reverse=True) and longest[0] > longest[-1]


def test_deep_links_reopen_a_prompt_a_run_and_a_cell(page, folder):
    data = payload(folder / "explorer.html")
    url = (folder / "explorer.html").as_uri()
    load(page, url + "#prompt=p7")
    assert page.js("document.body.dataset.view") == "prompts"
    assert page.js("document.querySelector('#prompt-detail h2').textContent") == "Prompt p7"
    assert page.js("document.querySelector('.plist .item.sel').dataset.prompt") == "p7"

    run = next(r for r, v in data["runs"].items() if v["status"] == "diverged")
    load(page, url + f"#run={run}")
    assert page.js("document.querySelector('#runs-table tr.hl').dataset.run") == run
    card = page.js("document.getElementById('run-card').textContent")
    assert run in card and "diverged" in card

    cell = next(c["slug"] for c in data["cells"] if c["labels"] == {"variant": "minor_dpo", "beta": "0.1", "lr": "0.001"})
    load(page, url + f"#cell={cell}")
    assert page.js("document.body.dataset.view") == "curves"
    page.wait("document.getElementById('plot').dataset.plotted", timeout=60)
    row = next(r for r in data["main"]["rows"] if r["cell"] == cell)
    card = page.js("document.getElementById('cell-card').textContent")
    assert all(text in card for text in row["t"]) and " ± " in card  # the cell's row, intervals included
    traces = page.js("document.getElementById('plot').data.filter((t) => t.showlegend !== false && t.name).map((t) => t.name)")
    assert sorted(traces) == ["dpo", "minor_dpo", "sft"]  # the cell's group: β=0.1, lr=1e-3, one series a loss
    wide = page.js(f"document.getElementById('plot').data.filter((t) => t.meta === '{cell}').map((t) => t.line.width)")
    assert len(wide) == 5 and set(wide) == {3}  # the cell itself is drawn wider in each of the 5 panels


def test_verdict_line_links_to_its_cells(page, folder):
    load(page, (folder / "explorer.html").as_uri())
    links = page.js("[...document.querySelectorAll('ul.verdict a.cells')].map((a) => a.textContent)")
    assert links == ["→ its 4 cells", "→ its 8 cells"]
    page.js("document.querySelector('ul.verdict a.cells').click()")
    page.wait("document.querySelector('.chip')")
    assert set(column(page, "main-table", "variant")) == {"minor_dpo"}
    assert len(column(page, "main-table", "variant")) == 4


def test_curves_toggle_a_series_and_show_seeds(page, folder):
    load(page, (folder / "explorer.html").as_uri() + "#view=curves&beta=0.1&lr=0.001")
    page.wait("document.getElementById('plot').dataset.plotted", timeout=60)
    # a real click (the DevTools input domain) on the first legend entry turns that series off in every panel
    x, y = page.js("(() => { const r = document.querySelector('#plot .legendtoggle').getBoundingClientRect();"
                   " return [r.x + r.width / 2, r.y + r.height / 2]; })()")
    for kind in ("mousePressed", "mouseReleased"):
        page.call("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1})
    page.wait("document.getElementById('plot').data.some((t) => t.visible === 'legendonly')", timeout=10)
    hidden = page.js("[...new Set(document.getElementById('plot').data.filter((t) => t.visible === 'legendonly')"
                     ".map((t) => t.legendgroup))]")
    assert hidden == ["dpo"]
    assert page.js("document.getElementById('plot').data.filter((t) => t.visible === 'legendonly').length") == 10
    # one line per seed: dpo's diverged seed has 30 steps, the others 40
    page.js("(() => { const s = document.getElementById('seeds'); s.value = 'runs'; s.dispatchEvent(new Event('change')); })()")
    page.wait("document.getElementById('plot') && document.getElementById('plot').dataset.plotted", timeout=30)
    lengths = page.js("document.getElementById('plot').data.filter((t) => t.yaxis === 'y' && t.legendgroup === 'dpo')"
                      ".map((t) => t.x.length)")
    assert sorted(lengths) == [30, 40, 40]


def test_a_seed_filter_draws_that_seeds_runs(page, folder):
    load(page, (folder / "explorer.html").as_uri() + "#view=curves&beta=0.1&lr=0.001&seed=1")
    page.wait("document.getElementById('plot').dataset.plotted", timeout=60)
    first = page.js("document.getElementById('plot').data.filter((t) => t.yaxis === 'y').map((t) => t.legendgroup)")
    assert sorted(first) == ["dpo", "minor_dpo", "sft"]  # one line each: seed 1's run, no band
    assert page.js("document.getElementById('seeds').value") == "runs"


def test_pairs_section_says_the_table_is_absent(page, folder):
    load(page, (folder / "explorer.html").as_uri() + "#view=pairs")
    assert "no per-pair table" in page.js("document.getElementById('pairs-absent').textContent")


def test_no_request_leaves_the_file_and_no_error(page, folder):
    """Last: every URL the page asked for during all the tests above."""
    page.requests.clear()
    load(page, (folder / "explorer.html").as_uri() + "#view=curves")
    page.wait("document.getElementById('plot').dataset.plotted", timeout=60)
    page.js("document.querySelector('button[data-view=prompts]').click()")
    page.js("document.querySelector('.plist .item').click()")
    page.js("document.querySelector('button[data-view=tables]').click()")
    urls = [u for u in page.requests if u != "about:blank"]
    assert urls and all(u.startswith(("file://", "data:")) for u in urls), urls
    assert not page.errors, page.errors
