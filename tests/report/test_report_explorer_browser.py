"""explorer.html as a reader uses it: headless Chromium opens the file, the test clicks, filters
and follows links as a person would and reads the DOM back after each action; every request the
page makes is recorded, and only the file itself (or data: URLs) may appear.

Without `chromium` on PATH these tests skip, unless HARNESS_REQUIRE_CHROMIUM=1 (CI sets it, and
installs Chromium: they cannot pass there by skipping).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from chromium_page import ChromiumPage, find_chromium
from explorer_results import explorer_results, payload

from harness.results.store import ResultStore


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return explorer_results(tmp_path_factory.mktemp("explorer") / "synthetic")


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

    # a fragment keeps "+" (prompt ids such as arith:59+73+58 have them) and reads back what it wrote
    page.js("history.replaceState(null, '', '#view=prompts&prompt=arith:59+73+58&q=a%20b%26c')")
    assert page.js("parseState()") == {"view": "prompts", "prompt": "arith:59+73+58", "q": "a b&c"}
    assert page.js("fragment(parseState())") == "#view=prompts&prompt=arith:59%2B73%2B58&q=a%20b%26c"
    assert page.js("(history.replaceState(null, '', fragment(parseState())), parseState().prompt)") == "arith:59+73+58"

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
    # hovering a line shows its value and its interval over seeds
    x, y = page.js("(() => { const r = document.querySelector('#plot .nsewdrag').getBoundingClientRect();"
                   " return [r.x + r.width * 0.6, r.y + r.height * 0.5]; })()")
    page.call("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x, "y": y})
    page.wait("document.querySelector('#plot .hoverlayer .hovertext')", timeout=10)
    hover = page.js("[...document.querySelectorAll('#plot .hoverlayer .hovertext')].map((h) => h.textContent).join(' | ')")
    assert re.search(r"-?\d[\d.]*\s*\[-?\d[\d.e-]*, -?\d[\d.e-]*\]", hover), hover
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


def test_pairs_are_sortable_and_filtered(page, folder, tmp_path, monkeypatch):
    import shutil

    from explorer_results import with_pairs

    copy = with_pairs(shutil.copytree(folder, tmp_path / "with-pairs"), monkeypatch)
    load(page, (copy / "explorer.html").as_uri() + "#view=pairs&variant=minor_dpo")
    assert set(column(page, "pairs-table", "variant")) == {"minor_dpo", "reference"}  # the baseline stays
    assert len(column(page, "pairs-table", "chosen_logratio")) == (12 + 1) * 4  # 4 cells x 3 seeds + it, 4 pairs each
    page.js("[...document.querySelectorAll('#pairs-table th')].find((th) => th.textContent === 'chosen_logratio').click()")
    values = [float(v) for v in column(page, "pairs-table", "chosen_logratio")]
    assert values == sorted(values, reverse=True) and values[0] > values[-1]


def test_no_request_leaves_the_file_and_no_error(page, folder):
    """Last in this module: every URL the page asked for in all the tests above, and in this one."""
    load(page, (folder / "explorer.html").as_uri() + "#view=curves")
    page.wait("document.getElementById('plot').dataset.plotted", timeout=60)
    page.js("document.querySelector('button[data-view=prompts]').click()")
    page.js("document.querySelector('.plist .item').click()")
    page.js("document.querySelector('button[data-view=tables]').click()")
    urls = [u for u in page.requests if u != "about:blank"]
    assert urls and all(u.startswith(("file://", "data:")) for u in urls), urls
    assert not page.errors, page.errors
