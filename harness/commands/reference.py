"""`harness reference build|check NAME`: rebuild a pinned reference model, or re-measure the shipped one.

    harness reference check tiny-arith-sft                          # sha256 + greedy accuracy, now vs recorded
    harness reference build tiny-arith-sft --out results/ref        # rerun its recipe (train.seed from pinned.json)
    harness reference build tiny-arith-sft --out results/ref --seed 2 train.steps=2000

`build` trains the recipe shipped beside the weights (`harness/assets/models/NAME/recipe.yaml`,
an ordinary `harness train` config), measures the result the way `check` does, and writes a
complete pinned directory to OUT/pinned/NAME/ (weights, tokenizer, recipe, pinned.json). To ship
it, copy that folder over harness/assets/models/NAME/ and re-record the baselines that start from
it: a different file is a different reference. The accuracy is greedy decoding (the HF backend,
which matches vLLM's greedy output token for token) scored by the verifier on the held-out prompt
set named in pinned.json, with its bootstrap 95% interval over prompts, read back from Parquet.
Exit status: 0, or 2 on bad input (unknown name, edited weights).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from harness.commands import split_overrides, with_overrides

MODEL_FILES = ("config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
               "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja")


def add_arguments(p):
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    b = sub.add_parser("build", help="train the recipe again and write a pinned directory")
    b.add_argument("name", help="pinned model, e.g. tiny-arith-sft")
    with_overrides(b, _build_options, "dotted overrides of the recipe (before or after the options)")
    c = sub.add_parser("check", help="verify the shipped weights and re-measure their accuracy")
    c.add_argument("name", help="pinned model, e.g. tiny-arith-sft")
    c.add_argument("--out", default=None, help="where the evaluation rows go (default: a temporary folder)")


def _build_options(p):
    p.add_argument("--out", help="working folder (required): training rows, checkpoint, OUT/pinned/NAME/")
    p.add_argument("--seed", type=int, default=None, help="train.seed (default: the shipped model's)")


def _reparse(args) -> None:
    from harness.errors import HarnessError

    split_overrides(args, _build_options, "harness reference build")
    if not args.out:
        raise HarnessError("harness reference build: --out is required")
    from harness.names import check_name

    check_name(args.name, "harness reference build: model name")  # becomes OUT/pinned/<name>/


def run(args) -> int:
    return {"build": _build, "check": _check}[args.action](args)


def measure(model_dir: Path, accuracy_spec: dict, out: Path) -> dict:
    """Greedy verifier accuracy of `model_dir` on the prompt set of `accuracy_spec`, from Parquet."""
    from harness.evaluation import evaluate_runs
    from harness.results.store import ResultStore

    prompts = accuracy_spec["prompts"]
    cfg = {"prompts": prompts, "kl": False, "winrate": False,
           "generation": {"backend": accuracy_spec.get("backend", "hf"), "n_prompts": prompts["options"]["n_pairs"],
                          "max_new_tokens": accuracy_spec.get("max_new_tokens", 32), "batch_size": 128}}
    store = ResultStore(out)
    evaluate_runs(cfg, targets=[], reference=("pinned", str(model_dir)), store=store, log=lambda s: None)
    row = store.read("evals", "pinned").set_index("metric").loc["verifier_accuracy"]
    return {"value": float(row["value"]), "ci_low": float(row["ci_low"]), "ci_high": float(row["ci_high"]),
            "n": int(row["n"])}


def _fmt(acc: dict) -> str:
    return f"{acc['value']:.3f} [{acc['ci_low']:.3f}, {acc['ci_high']:.3f}] on {acc['n']} prompts"


def _check(args) -> int:
    import tempfile

    from harness.models.pinned import info, pinned_dir

    folder = pinned_dir(args.name)  # verifies the sha256
    record = info(args.name)
    with tempfile.TemporaryDirectory() as tmp:
        now = measure(folder, record["accuracy"], Path(args.out or tmp))
    print(f"{args.name}: {folder} (sha256 {record['sha256'][:16]}..., verified)")
    print(f"  greedy verifier accuracy now      {_fmt(now)}")
    print(f"  recorded when built               {_fmt(record['accuracy'])} ({record.get('machine', {}).get('cpu', '?')})")
    return 0


def _build(args) -> int:
    from harness.config import load_config
    from harness.env import snapshot
    from harness.errors import HarnessError
    from harness.hashing import file_hash
    from harness.models.pinned import INFO, RECIPE, asset_root, info
    from harness.trainer import train_run
    from harness.trainer.config import RunConfig

    _reparse(args)
    record = info(args.name)
    recipe = asset_root() / args.name / RECIPE
    seed = record["seed"] if args.seed is None else args.seed
    cfg = load_config(RunConfig, recipe, [*args.overrides, f"train.seed={seed}"])
    out = Path(args.out)
    t0 = time.perf_counter()
    result = train_run(cfg, out / "train", suite=f"reference:{args.name}")
    if result.status != "completed" or result.checkpoint is None:
        raise HarnessError(f"reference {args.name}: training {result.status}: {result.error or ''}".strip())
    train_s = time.perf_counter() - t0
    acc = measure(result.checkpoint, record["accuracy"], out / "eval")
    target = out / "pinned" / args.name
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for name in MODEL_FILES:
        if (result.checkpoint / name).is_file():
            shutil.copy2(result.checkpoint / name, target / name)
    shutil.copy2(recipe, target / RECIPE)
    env = snapshot()
    doc = {"name": args.name, "seed": seed, "overrides": list(args.overrides), "run_id": result.run_id,
           "sha256": file_hash(target / "model.safetensors", n=64), "train_s": round(train_s, 1),
           "accuracy": {**{k: v for k, v in record["accuracy"].items() if k in ("prompts", "backend", "max_new_tokens")},
                        **acc},
           "machine": {"cpu": env.get("cpu"), "cpu_count": env.get("cpu_count"), "platform": env.get("platform")},
           "versions": env.get("versions"), "git_sha": env.get("git_sha"),
           "recipe_spread": record.get("recipe_spread", [])}
    (target / INFO).write_text(json.dumps(doc, indent=1) + "\n")
    print(f"{args.name} (seed {seed}): trained in {train_s:.0f}s; greedy verifier accuracy {_fmt(acc)}")
    print(f"  wrote {target}; to ship it: cp {target}/* {asset_root() / args.name}/ and re-record the baselines")
    return 0
