"""Reports: tables and plots of a results folder, from its Parquet tables only.

    paths = write_report("results/minordpo-arith")   # report.md, report.tex, report.html, explorer.html, *.png

Everything shown is derived from `runs`, `steps`, `scores`, `evals` and `lmeval` rows (see
`harness.analysis.frame`), so a results folder copied anywhere renders the same report. Options (title,
metric columns, plots on/off) come from the suite's `report:` block, read from the folder's
`suite.json` when the runner left one, else from the arguments.
"""

from __future__ import annotations

import json
from pathlib import Path

from harness.errors import HarnessError


def report_options(root: Path) -> dict:
    try:
        doc = json.loads((root / "suite.json").read_text())
    except (OSError, ValueError):
        return {}
    return {**doc.get("spec", {}).get("report", {}), "suite": doc.get("name", "")}


def write_report(root: str | Path, *, title: str | None = None, metrics: list[str] | None = None,
                 plots: bool | None = None, formats=("md", "tex", "html"),
                 sections: list[tuple[str, list[str]]] | None = None, also=(), by=(),
                 out: str | Path | None = None) -> list[Path]:
    """`sections`: [(heading, lines)] shown before the tables in md and html (e.g. a verdict).
    `also`: more results folders, compared in one report written to `out` (cells led by `by`)."""
    from harness.analysis.frame import aggregate, load_results, main_columns
    from harness.report import plots as plotting
    from harness.report.render import html_page, render_latex, render_markdown, render_markdown_section
    from harness.report.table import main_table, runs_table
    from harness.results.catalogue import metric

    notes: list[str] = []
    if also:
        from harness.analysis.combine import load_many

        if out is None:
            raise HarnessError("harness report with several folders needs --out DIR for the combined report")
        roots = [Path(root), *map(Path, also)]
        res, notes = load_many(roots, list(by or ["suite"]), out)
        opts = _shared_options(roots)
        root = Path(out)
        root.mkdir(parents=True, exist_ok=True)
    else:
        root = Path(root)
        opts = report_options(root)
        res = load_results(root)
    agg = aggregate(res)
    suite = opts.get("suite") or ", ".join(sorted(set(res.runs["suite"].dropna())))
    title = title or opts.get("title") or f"Suite {suite}"
    metrics = metrics or opts.get("metrics") or None
    unknown = [m for m in metrics or [] if m not in set(agg.get("metric", []))]
    if unknown:
        raise HarnessError(f"{root}: report metric(s) {unknown} have no data "
                           f"(available: {sorted(set(agg['metric'])) if len(agg) else 'none'})")
    signal = res.rm is None or res.rm.informative  # a reward model at chance produces no findings
    if not signal and not metrics:
        metrics = [m for m in main_columns(agg["metric"]) if not metric(m).needs_rm]
    main = main_table(res, agg, metrics=metrics, title="Main results")
    per_run = runs_table(res)
    counts = res.runs["status"].value_counts().to_dict()
    intro = [f"{len(res.runs)} runs: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
             + f". Rows are grid cells ({', '.join(res.keys) or 'a single cell'}); columns are means over seeds."]
    intro += notes
    if res.rm is not None:
        intro.append(f"The {res.rm.describe()}." + ("" if signal else " Reward and win-rate columns are left out, "
                                                    "and the frontier plots verifier accuracy."))
    sections = list(sections or verdict_sections(res, agg, opts))
    from harness.analysis.pairs import load_pairs

    pair_rows = load_pairs(res)  # the `pairs` table (schema 3 on): which pairs displace
    if pair_rows is not None:
        from harness.report.pairs_section import pairs_section

        sections.append(pairs_section(res, pair_rows))
    from harness.analysis.length import length_section

    length = length_section(res, agg) if signal else None  # raw beside length-controlled win-rate, tokens
    if length is not None:
        sections.append(length)

    written: list[Path] = []
    images: dict[str, bytes] = {}
    ys = ("reward_mean", "verifier_accuracy") if signal else ("verifier_accuracy",)
    captions = {"curves.png": "Chosen (solid) and rejected (dashed) log-ratios during training",
                "frontier.png": f"{'Reward (or verifier accuracy)' if signal else 'Verifier accuracy'} vs KL to "
                                "the reference, across β (error bars: 95% CI over seeds)"}
    if plots if plots is not None else opts.get("plots", True):
        for name, make in (("curves.png", lambda p: plotting.training_curves(res, p)),
                           ("frontier.png", lambda p: plotting.frontier(res, agg, p, ys=ys))):
            path = make(root / name)
            if path is not None:
                written.append(path)
                images[name] = path.read_bytes()
        if pair_rows is not None:
            from harness.report.pairs_section import CAPTION, PLOT, displacement_plot

            path = displacement_plot(res, pair_rows, root / PLOT)
            if path is not None:
                written.append(path)
                images[PLOT], captions[PLOT] = path.read_bytes(), CAPTION
    if "md" in formats:
        md = [f"# {title}", "", *intro, "", *(render_markdown_section(h, lines) for h, lines in sections or ()),
              render_markdown(main), render_markdown(per_run)]
        md += [f"## {captions[n]}\n\n![{n}]({n})\n" for n in images]
        written.append(_write(root / "report.md", "\n".join(md)))
    if "tex" in formats:
        written.append(_write(root / "report.tex", render_latex(main, label=f"tab:{_slug(suite)}")))
    if "html" in formats:  # the explorer first: report.html links to it
        from harness.report.explorer import write_explorer

        written.append(write_explorer(root, res, agg, title=title, intro=intro, sections=sections,
                                      tables=(main, per_run), claims=opts.get("claims") or []))
        written.append(_write(root / "report.html", html_page(title, [main, per_run], intro=intro, images=images,
                                                              captions=captions, sections=sections,
                                                              links=[("explorer.html", "Explore these results: sortable "
                                                                      "tables, curves, every generation")])))
    return written


def _shared_options(roots: list[Path]) -> dict:
    """A combined report's options: the folders' claims and caveats when they all state the same
    ones (a claim tested on runs it was not written for is not a verdict), their titles joined."""
    each = [report_options(r) for r in roots]
    same = all(o.get("claims") == each[0].get("claims") for o in each)
    return {"suite": " + ".join(o.get("suite") or r.name for o, r in zip(each, roots, strict=True)),
            "claims": each[0].get("claims") if same else None,
            "caveats": sorted({c for o in each for c in o.get("caveats") or []})}


def verdict_sections(res, agg, opts: dict) -> list[tuple[str, list[str]]]:
    """The report's opening: the suite's claims tested on these results, then what they cannot show."""
    from harness.analysis.verdict import verdict

    claims = opts.get("claims") or []
    if not claims:
        return []
    findings = verdict(res, claims, agg)
    cannot = [f"{f.claim.text}: not resolved at " + "; ".join(f.unresolved) + " (the interval includes the threshold)."
              for f in findings if f.status == "not shown" and f.unresolved]
    cannot += [f"{f.claim.text}: {f.detail}." for f in findings if f.status == "no signal"]
    if res.rm is not None and not res.rm.informative:
        cannot.append(f"Reward and win-rate: the {res.rm.describe()}.")
    cannot += list(opts.get("caveats") or [])
    out = [("Verdict", [str(f) for f in findings])]
    return out + ([("What these runs cannot show", cannot)] if cannot else [])


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text).strip("-") or "results"


def _write(path: Path, text: str) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return path
