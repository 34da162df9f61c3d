"""`harness train-rm SPEC --out DIR [--set key=value ...]`: train a reward model, as a suite would.

    harness train-rm hh-rlhf --out results/rm-hh --set limit=600
    harness train-rm arith --out results/rm-arith --set kind=implicit --set backbone=tiny-arith-sft \
        --set options.n_pairs=2000 --set options.seed=2
    harness train-rm arith --out results/rm --set backbone=@sft --results results/smoke

The recipe is the suite's `eval.reward_model.train` block (harness.evaluation.config
RewardTrainConfig: kind, loss, backbone, data options, epochs, lr, head_lr, device, ...), built from
SPEC plus the `--set` overrides with the same defaults, validation and error messages; `harness
explain eval.reward_model.train` lists every key. `backbone: @sft` is the SFT-stage checkpoint
of the suite results folder given by --results. The result is a reward-model directory with
`rm.json` (its held-out pairwise accuracy, on prompts never trained on) that `harness eval --set
reward_model=DIR` and suites score with.
"""

from __future__ import annotations


def add_arguments(p):
    p.add_argument("data", metavar="SPEC", help="dataset spec (harness ls datasets), e.g. hh-rlhf")
    p.add_argument("--out", required=True, help="output directory of the reward model")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="key=value",
                   help="a key of the recipe (eval.reward_model.train), e.g. kind=implicit, epochs=3")
    p.add_argument("--results", default=None, metavar="DIR", help="a suite's results folder: backbone @sft is its "
                                                                   "SFT checkpoint")


def run(args) -> int:
    from harness.config import apply_overrides, from_dict
    from harness.evaluation.config import RewardTrainConfig
    from harness.results.lock import check_out
    from harness.reward.recipe import sft_stage_id, train_into
    from harness.suite.reward_stage import sft_checkpoint

    source = "harness train-rm" + "".join(f" --set {o}" for o in args.overrides)
    train = from_dict(RewardTrainConfig, apply_overrides({"data": args.data}, args.overrides, source=source),
                      source=source)
    check_out(args.out)
    sft = sft_checkpoint(args.results) if sft_stage_id(train.backbone) is not None and args.results else None
    info = train_into(train, args.out, sft_dir=sft, log=print)
    print(f"reward model -> {args.out}: held-out pairwise accuracy {info['heldout_accuracy']:.3f} "
          f"on {info['heldout_pairs']} pairs ({info['train_pairs']} trained, {info['train_s']:.0f}s)")
    return 0
