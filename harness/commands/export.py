"""`harness export RESULTS --to hf-dataset OUT | model-cards [OUT]`: hub-ready copies, offline.

    harness export results/minordpo-arith --to hf-dataset out/minordpo-arith-samples
    harness export results/minordpo-arith --to model-cards      # README.md in every checkpoint

`hf-dataset`: the per-sample tables as a `datasets` DatasetDict (`datasets.load_from_disk(OUT)`)
with a dataset card; `model-cards`: a model card per completed run, from its `runs` and `evals`
rows, in its checkpoint folder (or OUT/<run_id>/). OUT must be new or empty (`--force`: write into
it anyway) and never inside a results folder. Nothing is pushed: upload with
`huggingface-cli upload` when you choose to.
"""

from __future__ import annotations


def add_arguments(p):
    from harness.results.export import EXPORTERS

    p.add_argument("results", help="results folder, e.g. results/minordpo-arith")
    p.add_argument("--to", required=True, nargs="+", metavar="KIND [OUT]",
                   help=f"what to write ({' | '.join(EXPORTERS.names())}) and where (hf-dataset: required)")
    p.add_argument("--force", action="store_true",
                   help="write into a non-empty OUT (never into a results folder)")


def run(args) -> int:
    from harness.errors import HarnessError
    from harness.results.export import export

    if len(args.to) > 2:
        raise HarnessError(f"harness export: --to takes a kind and at most one folder, got {' '.join(args.to)}")
    kind, out = args.to[0], (args.to[1] if len(args.to) == 2 else None)
    for path in export(args.results, kind, out, force=args.force):
        print(f"wrote {path}")
    return 0
