"""explorer.html: the results as one interactive, offline page, written beside report.html.

    path = write_explorer(root, res, agg, title=..., intro=[...], sections=[...], tables=[main, per_run], claims=[...])

report.html is the document to read; the explorer is the one to look around in: sortable and
filterable tables, curves with hover values and series that turn on and off, and every
generation beside the reference's, prompt by prompt. `harness report` and `harness run` write
it through `write_report` (one folder, or several with --by).

Why one file with everything inside: a results folder is copied, mailed and published as it is,
and opened from the filesystem with no server; a page that fetched a script or its data would
break there (file:// forbids fetch) or leak to the network. So the page carries:
- its data (harness.report.explorer_data), as gzip-compressed JSON in base64, which the browser
  inflates with its own DecompressionStream (the main job's 1.1 MB of JSON travels as 0.3 MB);
- plotly.js from plotly's Python package (its offline bundle, 4.8 MB; 2.0 MB so packed), run
  after the tables are drawn (or at once for a curves link), so the page opens without waiting
  for 4.8 MB of script (~0.8 s to run on 2 cores);
- its own JavaScript and CSS (harness/assets/explorer/), a few hundred lines;
- a Content-Security-Policy that allows no request to leave the page (only data: and blob:),
  so a change that would add one fails in the browser, not silently on a reader's machine.
Without plotly installed the page is still written; its curves section says what to install.
"""

from __future__ import annotations

import base64
import gzip
import html
import json
from importlib import resources
from pathlib import Path

ASSETS = ("core.js", "tables.js", "curves.js", "prompts.js")  # concatenated in this order
CSP = ("default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; "
       "img-src data: blob:; font-src data:; connect-src data: blob:; worker-src blob:")


def write_explorer(root: Path, res, agg, *, title: str, intro: list[str], sections, tables, claims) -> Path:
    from harness.report.explorer_data import explorer_payload

    data = explorer_payload(res, agg, title=title, intro=intro, sections=sections, tables=tables, claims=claims)
    page = explorer_page(title, data)
    path = Path(root) / "explorer.html"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    return path


def packed(text: str) -> str:
    """gzip + base64: what the page's inflate() reverses (mtime 0: the same data, the same bytes)."""
    return base64.b64encode(gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)).decode("ascii")


def plotly_js() -> str | None:
    """plotly.js as plotly's Python package ships it for offline use, or None without the package.
    The file is located without importing plotly (importing it is slow and needs narwhals; the page needs only this file)."""
    import importlib.util

    spec = importlib.util.find_spec("plotly")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "package_data" / "plotly.min.js"
        if path.is_file():
            return path.read_text(encoding="utf-8")
    return None


def _asset(name: str) -> str:
    return (resources.files("harness") / "assets" / "explorer" / name).read_text(encoding="utf-8")


def explorer_page(title: str, data: dict) -> str:
    plotly = plotly_js()
    js = "\n".join(_asset(name) for name in ASSETS)
    blob = packed(json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":")))
    plot = (f'<script type="application/octet-stream" id="plotly-gz">{packed(plotly)}</script>' if plotly else
            '<script type="application/octet-stream" id="plotly-gz"></script>')
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{html.escape(title)} · explorer</title>\n<style>{_asset('explorer.css')}</style>\n</head>\n<body>\n"
            f"<header><h1>{html.escape(title)}</h1><nav id=\"tabs\"></nav><div id=\"filters\"></div></header>\n"
            "<main id=\"app\"><p class=\"note\">Loading… (this page needs JavaScript; report.html beside it needs none)"
            "</p></main>\n"
            f"<script type=\"application/octet-stream\" id=\"data-gz\">{blob}</script>\n{plot}\n"
            f"<script>\n{js}\n</script>\n</body>\n</html>\n")
