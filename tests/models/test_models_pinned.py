"""The pinned reference: shipped, verified against its record, rebuilt by its own command."""

from __future__ import annotations

import json
import shutil

import pytest

from harness.cli import main
from harness.errors import ConfigError, HarnessError
from harness.models import pinned


def test_shipped_checkpoint_is_verified_and_registered(capsys):
    from harness.models import MODELS, SEEDED

    path = MODELS.get("tiny-arith-sft")(texts=(), seed=3, options={})
    assert path == pinned.asset_root() / "tiny-arith-sft" and (path / "config.json").is_file()
    assert "tiny-arith-sft" not in SEEDED  # every seed starts from (and is referenced against) the same file
    record = pinned.info("tiny-arith-sft")
    assert record["accuracy"]["value"] >= 0.5 and record["accuracy"]["n"] == 512
    with pytest.raises(ConfigError, match="not to pinned model"):
        MODELS.get("tiny-arith-sft")(texts=(), seed=0, options={"hidden_size": 64})
    assert main(["ls", "models"]) == 0
    assert "tiny-arith-sft" in capsys.readouterr().out


def test_edited_weights_are_an_error_naming_the_file(tmp_path, monkeypatch):
    root = tmp_path / "models"
    shutil.copytree(pinned.asset_root() / "tiny-arith-sft", root / "tiny-arith-sft")
    weights = root / "tiny-arith-sft" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    monkeypatch.setattr(pinned, "asset_root", lambda: root)
    pinned.pinned_dir.cache_clear()
    try:
        with pytest.raises(HarnessError, match="model.safetensors: sha256 .* does not match pinned.json"):
            pinned.pinned_dir("tiny-arith-sft")
    finally:
        pinned.pinned_dir.cache_clear()


def test_check_remeasures_the_recorded_accuracy(capsys):
    assert main(["reference", "check", "tiny-arith-sft"]) == 0
    out = capsys.readouterr().out
    now = float(out.split("accuracy now")[1].split()[0])
    recorded = pinned.info("tiny-arith-sft")["accuracy"]["value"]
    assert "verified" in out and abs(now - recorded) <= 0.03  # greedy decoding of one fixed file


def test_build_writes_a_complete_pinned_directory(tmp_path, capsys):
    """The rebuild path end to end, cut to a few steps (the full recipe takes ~10 minutes)."""
    args = ["reference", "build", "tiny-arith-sft", "--out", str(tmp_path), "--seed", "1",
            "train.steps=20", "train.warmup_steps=5", "data.options.n_pairs=1000"]
    assert main(args) == 0
    target = tmp_path / "pinned" / "tiny-arith-sft"
    doc = json.loads((target / "pinned.json").read_text())
    assert doc["seed"] == 1 and doc["overrides"] == ["train.steps=20", "train.warmup_steps=5", "data.options.n_pairs=1000"]
    assert {"config.json", "model.safetensors", "tokenizer.json", "recipe.yaml"} <= {p.name for p in target.iterdir()}
    from harness.hashing import file_hash

    assert doc["sha256"] == file_hash(target / "model.safetensors", n=64)
    assert 0.0 <= doc["accuracy"]["value"] <= 1.0 and doc["accuracy"]["n"] == 512
    assert "greedy verifier accuracy" in capsys.readouterr().out
