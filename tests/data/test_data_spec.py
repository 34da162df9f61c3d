"""Specs (``ADAPTER[:PATH_OR_HUB_ID[@SPLIT]]``), the hub path through `datasets` (faked: no network
here), and the adapter protocol other modules plug into (the arith adapter uses it)."""

from __future__ import annotations

import json

import pytest

from harness.data import ADAPTERS, BadRow, Drop, PreferencePair, load_pairs
from harness.data.spec import ASSETS, SHIPPED, parse_spec
from harness.errors import ConfigError, DataError


@pytest.mark.parametrize("text, kind, location, split", [
    ("hh-rlhf", "file", None, None),
    ("hh-rlhf:Anthropic/hh-rlhf@test", "hub", "Anthropic/hh-rlhf", "test"),
    ("ultrafeedback-binarized:HuggingFaceH4/ultrafeedback_binarized@train_prefs", "hub",
     "HuggingFaceH4/ultrafeedback_binarized", "train_prefs"),
    ("shp:stanfordnlp/SHP@train[:10%]", "hub", "stanfordnlp/SHP", "train[:10%]"),
    ("arith", "none", None, None),
])
def test_parse(text, kind, location, split):
    spec = parse_spec(text)
    assert (spec.kind, spec.location, spec.split) == (kind, location, split)


def test_aliases_resolve_to_shipped_copies_or_the_hub():
    assert parse_spec("hh-rlhf").path == ASSETS / SHIPPED["hh-rlhf"]
    assert parse_spec("gsm8k-pairs").path == parse_spec("gsm8k-pairs:gsm8k").path == ASSETS / SHIPPED["gsm8k-pairs"]
    assert parse_spec("hh-rlhf:harmless-base@test").path == ASSETS / SHIPPED["hh-rlhf"]
    train = parse_spec("gsm8k-pairs:gsm8k@train")
    assert (train.kind, train.hub.id, train.hub.name, train.split) == ("hub", "openai/gsm8k", "main", "train")
    helpful = parse_spec("hh-rlhf:helpful-base@train")
    assert (helpful.hub.id, helpful.hub.data_dir) == ("Anthropic/hh-rlhf", "helpful-base")
    for spec in ("hh-rlhf", "gsm8k-pairs", "ultrafeedback-binarized"):
        assert parse_spec(spec).path.is_file(), "shipped samples are part of the package"


def test_paths_never_silently_become_hub_ids(tmp_path):
    for loc in ("data/x.jsonl", "./x", "/abs/missing", "a/b/c", "x.parquet"):
        with pytest.raises(DataError, match="no such file or directory"):
            parse_spec(f"generic:{loc}")
    f = tmp_path / "a@b.jsonl"  # an "@" in a real file name is not a split
    f.write_text("{}\n")
    assert parse_spec(f"generic:{f}").path == f
    with pytest.raises(ConfigError, match="applies to hub datasets"):
        parse_spec(f"generic:{f}@train")


def test_hub_loading_passes_split_revision_and_subset(monkeypatch):
    import datasets

    calls = []

    def fake_load_dataset(path, name=None, **kw):
        calls.append((path, name, kw))
        return datasets.Dataset.from_list([{"chosen": "\n\nHuman: hi\n\nAssistant: yes",
                                            "rejected": "\n\nHuman: hi\n\nAssistant: no"},
                                           {"chosen": "\n\nHuman: x", "rejected": None}])

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    loaded = load_pairs("hh-rlhf:helpful-base@train", options={"revision": "abc123"}, on_bad_row="skip")
    assert calls == [("Anthropic/hh-rlhf", None, {"data_dir": "helpful-base", "split": "train", "revision": "abc123"})]
    assert loaded.source == "hh-rlhf:hf:Anthropic/hh-rlhf[data_dir=helpful-base]@train"
    assert len(loaded.pairs) == 1 and loaded.dropped == {"missing_field": 1}
    with pytest.raises(DataError, match=r"hf:Anthropic/hh-rlhf\[data_dir=helpful-base\]@train: row 2: .*missing_field"):
        load_pairs("hh-rlhf:helpful-base@train", options={"revision": "abc123"})
    with pytest.warns(UserWarning, match="no 'revision' option"):
        load_pairs("hh-rlhf:helpful-base@train", on_bad_row="skip")


# ---------------------------------------------------------------- the adapter protocol
def _toy_adapter(req):
    n = req.option("n", 3, int)
    scale = req.option("scale", 1.0, float)
    items = []
    for i in range(n):
        items.append(PreferencePair(f"q{i}", f"good {i * scale}", f"bad {i}", i, f"id{i}"))
    return [*items, Drop("policy", n), BadRow("custom_reason", "looks wrong"), "not a pair"]


@pytest.fixture
def toy(monkeypatch):
    monkeypatch.setitem(ADAPTERS._items, "toy", _toy_adapter)  # registry has no unregister, by design


def test_protocol_options_drops_bad_rows_and_limit(toy):
    loaded = load_pairs("toy", options={"n": 2, "scale": 2}, limit=2)
    assert [p.chosen for p in loaded.pairs] == ["good 0.0", "good 2.0"] and loaded.n_rows == 2
    with pytest.raises(ConfigError, match=r"unknown option\(s\) m .*known: n, scale"):
        load_pairs("toy", options={"m": 1})
    with pytest.raises(ConfigError, match="'n' must be int"):
        load_pairs("toy", options={"n": 1.5})
    with pytest.raises(DataError, match=r"^toy: item 4: looks wrong \(custom_reason\)"):
        load_pairs("toy", options={"n": 2})
    with pytest.raises(TypeError, match="yielded str"):
        load_pairs("toy", on_bad_row="skip")


def test_arith_is_registered_lazily():
    assert "arith" in ADAPTERS
    assert isinstance(ADAPTERS._items["arith"], str) or callable(ADAPTERS._items["arith"])


def test_fingerprint_follows_content(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"prompt": "p", "chosen": "a", "rejected": "b"}) + "\n")
    first = load_pairs(f"generic:{path}").fingerprint()
    assert load_pairs(f"generic:{path}").fingerprint() == first
    path.write_text(json.dumps({"prompt": "p", "chosen": "a", "rejected": "c"}) + "\n")
    assert load_pairs(f"generic:{path}").fingerprint() != first
