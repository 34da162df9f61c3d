"""`harness data check|export`: inspect a preference dataset, or write its normalised pairs.

    harness data check hh-rlhf                                   # shipped harmless-base test sample
    harness data check gsm8k-pairs -o seed=1 --tokenizer path/to/tokenizer_dir
    harness data check generic:my.jsonl --on-bad-row skip -o columns.prompt=question
    harness data export ultrafeedback-binarized out.jsonl -o drop_ties=false

SPEC is ``ADAPTER[:PATH_OR_HUB_ID[@SPLIT]]`` (`harness ls datasets` lists adapters). ``-o KEY=VALUE``
sets an adapter option (the value is YAML: ``true``, ``2``, ``[a, b]``; dotted keys nest). check
prints rows read, kept and dropped by reason, length percentiles and three examples; export writes
one JSON object per pair (prompt, chosen, rejected, index, prompt_id, gold when present), which
``generic:OUT.jsonl`` loads back.
"""

from __future__ import annotations

import sys
import warnings


def add_arguments(p):
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    check = sub.add_parser("check", help="rows read, kept/dropped by reason, lengths, examples")
    export = sub.add_parser("export", help="write the normalised pairs as JSON Lines")
    for s in (check, export):
        s.add_argument("spec", metavar="SPEC", help="ADAPTER[:PATH_OR_HUB_ID[@SPLIT]], e.g. hh-rlhf:data.jsonl.gz")
    export.add_argument("out", metavar="OUT.jsonl", help="file to write (replaced atomically)")
    for s in (check, export):
        s.add_argument("-o", "--option", action="append", default=[], metavar="KEY=VALUE",
                       help="adapter option, value parsed as YAML (repeatable)")
        s.add_argument("--on-bad-row", choices=("error", "skip"), default="error",
                       help="stop at the first malformed row (default) or drop and count it")
        s.add_argument("--limit", type=int, default=None, metavar="N", help="stop after N kept pairs")
    check.add_argument("--tokenizer", metavar="DIR", help="also report token lengths with this tokenizer")
    check.add_argument("--examples", type=int, default=3, metavar="N", help="pairs to print (default 3)")
    export.add_argument("--meta", action="store_true", help="also write adapter metadata (e.g. hh-rlhf raw_prompt)")


def run(args) -> int:
    from harness.config import apply_overrides
    from harness.data import load_pairs
    from harness.data.check import check_report, export_jsonl

    options = apply_overrides({}, args.option, source="-o")
    with warnings.catch_warnings(record=True) as caught:  # one plain line each, not Python's warning format
        warnings.simplefilter("always")
        loaded = load_pairs(args.spec, options=options, on_bad_row=args.on_bad_row, limit=args.limit)
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    if args.action == "check":
        print(check_report(loaded, tokenizer_dir=args.tokenizer, n_examples=args.examples))
        return 0
    n = export_jsonl(loaded, args.out, meta=args.meta)
    dropped = ", ".join(f"{k}: {v}" for k, v in loaded.dropped.items()) or "none"
    print(f"wrote {n} pairs to {args.out} ({loaded.n_rows} rows read; dropped {dropped})")
    return 0
