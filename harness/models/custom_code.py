"""Model folders that need their own Python code (transformers' `auto_map`), refused unless trusted.

    check_custom_code(path, trust=cfg.model.trust_remote_code, what="model.name")   # ConfigError, exit 2

Why before transformers sees the folder: with `trust_remote_code` unset, transformers asks "Do you
wish to run the custom code? [y/N]" on a terminal (and a `y` runs the folder's Python file);
with it False, it raises a ValueError deep in loading. Either way the answer comes after other
work and without the key to change. Every `from_pretrained` in the harness passes the config's
value explicitly (default off), and every place that loads a model folder calls this first.

A folder "needs" custom code when its config.json has an `auto_map` and transformers has no
class of its own for its `model_type` (a folder whose architecture was upstreamed keeps its
`auto_map` but loads without it), or its tokenizer_config.json maps a tokenizer class that
transformers does not have.
"""

from __future__ import annotations

import json
from pathlib import Path

from harness.errors import ConfigError

TRAIN_ADVICE = "set model.trust_remote_code: true if you trust it"
EVAL_ADVICE = "harness eval never runs a model folder's own code (model.trust_remote_code is for training)"


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return {}  # unreadable config.json is check_model_files' to name
    return data if isinstance(data, dict) else {}


def custom_code(folder: str | Path) -> str | None:
    """What in `folder` needs its own code ("config.json auto_map: evil.EvilModel"), or None."""
    import transformers
    from transformers import CONFIG_MAPPING

    folder = Path(folder)
    config = _read(folder / "config.json")
    auto = config.get("auto_map")
    if auto and config.get("model_type") not in CONFIG_MAPPING:
        return f"config.json auto_map: {_targets(auto)}"
    tok = _read(folder / "tokenizer_config.json")
    auto = tok.get("auto_map")
    if auto and not hasattr(transformers, str(tok.get("tokenizer_class") or "")):
        return f"tokenizer_config.json auto_map: {_targets(auto)}"
    return None


def _targets(auto) -> str:
    if not isinstance(auto, dict):
        return str(auto)
    flat = [x for v in auto.values() for x in (v if isinstance(v, list | tuple) else [v]) if x]
    return ", ".join(sorted(set(map(str, flat))))


def check_custom_code(folder: str | Path, *, trust: bool, what: str, advice: str = TRAIN_ADVICE) -> None:
    """A ConfigError naming `what` and the folder when it needs custom code and `trust` is off."""
    if trust or not Path(folder).is_dir():
        return  # a hub id is resolved to a folder first; trusted code is the user's call
    found = custom_code(folder)
    if found:
        raise ConfigError(f"{what}: {folder} needs custom code ({found}); {advice}")
