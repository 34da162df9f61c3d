"""A reward model trained from a recipe, once per recipe: `OUT/rm/<hash>/`, reused when there.

    from harness.scoring.rm_stage import ensure_reward_model, rm_dir, rm_hash
    train = EvalConfig.from_mapping(...).reward.train          # a RewardTrainConfig
    path = ensure_reward_model(train, "results/smoke")         # trains, or finds it already trained
    path = ensure_reward_model(train, out, backbone_dir=sft)   # "@sft:<id>": the caller knows where it is

The hash covers the whole recipe (data spec, options, limit, backbone, hyper-parameters; not
`threads`, `device`), the way a run id covers a run config: the same recipe is trained once, any change
trains a new one beside it. A backbone "@sft:<run id>" names the suite's SFT stage by its id, so
the hash changes when the SFT stage does. The directory appears atomically (rm_train writes
`<hash>.tmp` and renames it), so a finished `rm.json` means a complete reward model and a killed
training leaves nothing that looks done. `harness run` trains it as a stage of its own
(harness.suite.rm); `evaluate_runs` calls `ensure_reward_model` too, so `harness eval` accepts
a recipe whose backbone needs no suite.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from harness.config import to_dict
from harness.errors import HarnessError
from harness.hashing import content_hash
from harness.registry import Registry
from harness.scoring.reward_model import INFO_FILE

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


def ensure_reward_model(train, root: str | Path, *, backbone_dir: str | Path | None = None,
                        log: Callable[[str], None] = print) -> Path:
    """The directory of the reward model `train` describes, training it first when missing.

    `backbone_dir` replaces a stage backbone ("@sft:<id>"); other backbones resolve themselves
    ("minilm", a directory, a hub id).
    """
    out = rm_dir(root, train)
    if is_trained(out):
        return out
    backbone = train.backbone
    if backbone.startswith("@"):
        if backbone_dir is None:
            raise HarnessError(f"reward model backbone {backbone!r}: a suite stage, known only to `harness run`; "
                               "give a model directory (e.g. the SFT checkpoint) instead")
        backbone = str(backbone_dir)
    import torch

    if train.threads:
        torch.set_num_threads(train.threads)
    info = TRAINERS.get(train.kind)(train, out, backbone, log)
    log(f"reward model {out.name}: held-out pairwise accuracy {info['heldout_accuracy']:.3f} on "
        f"{info['heldout_pairs']} pairs ({info['train_s']:.0f}s)")
    return out


def _train_classifier(train, out: Path, backbone: str, log) -> dict:
    from harness.data import load_pairs
    from harness.models.load import resolve_device
    from harness.scoring.rm_train import train_reward_model

    loaded = load_pairs(train.data, options=dict(train.options) or None, limit=train.limit)
    log(f"reward model {out.name}: {len(loaded.pairs)} pairs from {loaded.source}, backbone {train.backbone}")
    return train_reward_model(loaded.pairs, out, backbone=_registered_dir(backbone), heldout_fraction=train.heldout,
                              max_length=train.max_length, batch_size=train.batch_size, epochs=train.epochs,
                              learning_rate=train.lr, head_learning_rate=train.head_lr, seed=train.seed,
                              device=resolve_device(train.device), source=loaded.source, log=log,
                              extra={"hash": out.name, "recipe": to_dict(train), "backbone": train.backbone,
                                     "backbone_dir": backbone})


def _train_implicit(train, out: Path, backbone: str, log) -> dict:
    from harness.scoring.rm_implicit import train_implicit

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
