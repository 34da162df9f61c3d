"""A reward model trained from a recipe, once per recipe: `OUT/rm/<hash>/`, reused when there.

    from harness.reward.recipe import ensure_reward_model, rm_dir, rm_hash
    train = EvalConfig.from_mapping(...).reward.train          # a RewardTrainConfig
    path = ensure_reward_model(train, "results/smoke")         # trains, or finds it already trained
    path = ensure_reward_model(train, out, sft_dir=sft)        # "@sft:<id>": the caller knows where it is
    info = train_into(train, "results/rm-hh")                  # `harness train-rm`: into a folder of its own

The hash covers the whole recipe (data spec, options, limit, backbone, hyper-parameters; not
`threads`, `device`), the way a run id covers a run config: the same recipe is trained once, any change
trains a new one beside it. A backbone "@sft:<run id>" names the suite's SFT stage by its id, so
the hash changes when the SFT stage does. The directory appears atomically (classifier_train writes
`<hash>.tmp` and renames it), so a finished `rm.json` means a complete reward model and a killed
training leaves nothing that looks done. `harness run` trains it as a stage of its own
(harness.suite.reward_stage); `evaluate_runs` calls `ensure_reward_model` too, so `harness eval` accepts
a recipe whose backbone needs no suite.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from harness.config import to_dict
from harness.errors import HarnessError
from harness.hashing import content_hash
from harness.registry import Registry
from harness.reward.classifier import INFO_FILE

RM_FOLDER = "rm"
_NOT_HASHED = ("threads", "device")  # how fast, not what


def rm_hash(train) -> str:
    """Content hash of a RewardTrainConfig (with "@sft" already resolved to "@sft:<id>")."""
    recipe = {k: v for k, v in to_dict(train).items() if k not in _NOT_HASHED}
    return content_hash({"reward_model": 1, **recipe})


def rm_dir(root: str | Path, train) -> Path:
    return Path(root) / RM_FOLDER / rm_hash(train)


def is_trained(path: str | Path) -> bool:
    return (Path(path) / INFO_FILE).is_file()


def sft_stage_id(backbone: str) -> str | None:
    """The SFT stage a backbone names: "@sft:<id>" -> id, "@sft" (not resolved yet) -> "", else None."""
    from harness.evaluation.config import SFT_BACKBONE

    if backbone == SFT_BACKBONE:
        return ""
    return backbone.split(":", 1)[1] if backbone.startswith(SFT_BACKBONE + ":") else None


def ensure_reward_model(train, root: str | Path, *, sft_dir: str | Path | None = None,
                        log: Callable[[str], None] = print) -> Path:
    """The directory of the reward model `train` describes (OUT/rm/<hash>/), training it first
    when missing. `sft_dir`: the checkpoint an "@sft" backbone stands for (harness.suite.reward_stage)."""
    out = rm_dir(root, train)
    if not is_trained(out):
        train_into(train, out, sft_dir=sft_dir, log=log)
    return out


def reward_model_path(reward, root: str | Path, log: Callable[[str], None] = print) -> str:
    """What a RewardConfig scores with: its path, or the directory its recipe is trained into (by
    the suite's stage, or here when that has not happened yet)."""
    if reward.path is not None:
        return reward.path
    return str(ensure_reward_model(reward.train, root, log=log))


def train_into(train, out: str | Path, *, sft_dir: str | Path | None = None, log: Callable[[str], None] = print) -> dict:
    """Train the reward model of recipe `train` into `out` (what `harness train-rm` and the suite's
    stage both do); returns its rm.json."""
    out = Path(out)
    backbone = train.backbone
    if sft_stage_id(backbone) is not None:
        if sft_dir is None:
            raise HarnessError(f"reward model backbone {backbone!r}: a suite's SFT stage; run it through `harness run`, "
                               "or give `harness train-rm` the suite's results folder with --results")
        backbone = str(sft_dir)
    from harness.threads import torch_threads

    with torch_threads(train.threads):
        info = TRAINERS.get(train.kind)(train, out, backbone, log)
    log(f"reward model {out.name}: held-out pairwise accuracy {info['heldout_accuracy']:.3f} on "
        f"{info['heldout_pairs']} pairs ({info['train_s']:.0f}s)")
    return info


def _train_classifier(train, out: Path, backbone: str, log) -> dict:
    from harness.accel import resolve_device
    from harness.data import load_pairs
    from harness.reward.classifier_train import train_reward_model

    loaded = load_pairs(train.data, options=dict(train.options) or None, limit=train.limit)
    log(f"reward model {out.name}: {len(loaded.pairs)} pairs from {loaded.source}, backbone {train.backbone}")
    return train_reward_model(loaded.pairs, out, backbone=_registered_dir(backbone), heldout_fraction=train.heldout,
                              max_length=train.max_length, batch_size=train.batch_size, epochs=train.epochs,
                              learning_rate=train.lr, head_learning_rate=train.head_lr, seed=train.seed,
                              device=resolve_device(train.device, key="eval.reward_model.train.device"), source=loaded.source, log=log,
                              extra={"hash": out.name, "recipe": to_dict(train), "backbone": train.backbone,
                                     "backbone_dir": backbone})


def _train_implicit(train, out: Path, backbone: str, log) -> dict:
    from harness.reward.implicit import train_implicit

    log(f"reward model {out.name}: implicit (DPO) reward model on {train.data}, backbone {train.backbone}")
    return train_implicit(train, train.data, out, backbone=backbone, log=log)


def _registered_dir(backbone: str) -> str:
    """A registered model name (a pinned checkpoint) as the directory transformers loads."""
    from harness.models import MODELS, SEEDED

    if backbone in MODELS and backbone not in SEEDED:  # a seeded builder would make a random model: not a backbone
        return str(MODELS.get(backbone)(texts=(), seed=0, options={}))
    return backbone


TRAINERS: Registry = Registry("reward-model kind")
TRAINERS.register("classifier", _train_classifier)
TRAINERS.register("implicit", _train_implicit)
