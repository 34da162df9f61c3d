"""`harness report RESULTS_DIR`: write report.md, report.tex, report.html and PNG plots into it.

    harness report results/minordpo-arith
    harness report results/minordpo-arith --metrics final_logratio_chosen,diverged --no-plots
    harness report results/a results/b --by suite,model --out results/a+b   # one table over several folders

Built from the folder's Parquet tables only, so a copied results folder renders the same report.
The main table has a row per grid cell (loss x beta x lr, ...) and mean ± 95% CI over seeds.
"""

from __future__ import annotations


def add_arguments(p):
    p.add_argument("results", nargs="+", help="results folder(s), e.g. results/minordpo-arith")
    p.add_argument("--by", default="suite", help="several folders: the keys that lead each cell (suite, model, data, "
                                                 "or a dotted run key), comma-separated")
    p.add_argument("--out", default=None, help="several folders: where the combined report goes")
    p.add_argument("--title", help="report title (default: the suite's report.title)")
    p.add_argument("--metrics", help="comma-separated main-table columns (default: the catalogue's main columns with data, then lm-eval results)")
    p.add_argument("--no-plots", action="store_true", help="tables only")


def run(args) -> int:
    from harness.report import write_report

    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()] if args.metrics else None
    by = [k.strip() for k in args.by.split(",") if k.strip()]
    first, *also = args.results
    if not also:  # one folder: --by leads nothing, but a key no run has is refused as with several
        from harness.analysis.combine import check_by_folder

        check_by_folder(first, by)
    for path in write_report(first, title=args.title, metrics=metrics, plots=False if args.no_plots else None,
                             also=also, by=by, out=args.out):
        print(f"wrote {path}")
    return 0
