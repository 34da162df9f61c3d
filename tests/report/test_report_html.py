"""report.html as a browser reads it: Debian's headless Chromium loads the file, and the test reads
back the DOM text and every embedded image's decoded width.

Without `chromium` on PATH the browser test skips, unless HARNESS_REQUIRE_CHROMIUM=1 (CI sets it,
so the test cannot pass there by skipping).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from builders import make_results

VERDICT = ["MinorDPO keeps r_w > 0 at lr=1e-3 & β=0.1: supported",
           "DPO displaces the chosen answer: <b>not bold</b>, a literal tag"]
# test-only: the report itself has no script; this copy writes what the browser decoded into the DOM
PROBE = """<script>
window.onload = () => {
  for (const img of document.images) {
    const p = document.createElement("p");
    p.className = "probe";
    p.textContent = `probe ${img.alt} ${img.naturalWidth}x${img.naturalHeight}`;
    document.body.appendChild(p);
  }
};
</script>"""
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    from harness.report import write_report

    root = make_results(tmp_path_factory.mktemp("html") / "synthetic")
    write_report(root, title="Synthetic <suite> & report", sections=[("Verdict", VERDICT)])
    return root


@pytest.fixture(scope="module")
def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        reason = "chromium not on PATH (apt-get install chromium)"
        if os.environ.get("HARNESS_REQUIRE_CHROMIUM") == "1":
            pytest.fail(f"{reason}, and HARNESS_REQUIRE_CHROMIUM=1 forbids skipping")
        pytest.skip(reason)
    return path


class _Text(HTMLParser):
    """The page's visible text, one string per text node, and the tags seen (style/script skipped)."""

    def __init__(self):
        super().__init__()
        self.texts: list[str] = []
        self.tags: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self._skip += tag in ("style", "script")

    def handle_endtag(self, tag):
        self._skip -= tag in ("style", "script")

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.texts.append(data.strip())


def _dump_dom(chromium: str, page: Path, profile: Path) -> str:
    # --virtual-time-budget: let the page load (and onload run) before the DOM is dumped
    cmd = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=5000",
           "--dump-dom", page.as_uri()]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip(), f"chromium failed ({out.returncode}): {out.stderr[-2000:]}"
    return out.stdout


def test_report_html_renders_in_chromium(report, chromium, tmp_path):
    html = (report / "report.html").read_text()
    assert "<script" not in html  # standalone and inert: no JS, no external resources
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", html)
    page = tmp_path / "probe.html"
    page.write_text(html.replace("</body>", PROBE + "\n</body>"))
    parser = _Text()
    parser.feed(_dump_dom(chromium, page, tmp_path / "profile"))
    texts = parser.texts

    assert "Synthetic <suite> & report" in texts  # the title, escaped and read back as text
    assert "Verdict" in texts and all(line in texts for line in VERDICT)
    assert "b" not in parser.tags  # the literal tag in a verdict line stayed text
    # the verdict comes before the tables
    assert texts.index("Verdict") < texts.index("Main results") < texts.index("Runs")
    for header in ("variant", "β", "lr", "seeds", "reward", "KL"):
        assert header in texts
    assert any(t.startswith("reference ") for t in texts)  # the reference policy's row

    probes = {m[1]: (int(m[2]), int(m[3])) for t in texts if (m := re.fullmatch(r"probe (\S+) (\d+)x(\d+)", t))}
    assert set(probes) == {"curves.png", "frontier.png"}, texts[-5:]
    for name, (w, h) in probes.items():
        assert w > 0 and h > 0, f"{name} did not decode"


def test_sections_precede_tables_in_markdown_and_are_escaped_in_html(report):
    md = (report / "report.md").read_text()
    assert md.index("## Verdict") < md.index("## Main results")
    assert all(f"- {line}\n" in md for line in VERDICT)
    html = (report / "report.html").read_text()
    assert "<li>DPO displaces the chosen answer: &lt;b&gt;not bold&lt;/b&gt;, a literal tag</li>" in html
    assert html.index("<h2>Verdict</h2>") < html.index("<h2>Main results</h2>")
