"""UltraFeedback (shipped 16-row sample) and SHP (small rows in its hub schema): fields map to the
right pair members, ties and score ratios are counted, malformed rows name their line."""

from __future__ import annotations

import json

import pytest

from harness.data import load_pairs
from harness.data.spec import ASSETS, SHIPPED
from harness.errors import ConfigError, DataError

UF_FILE = ASSETS / SHIPPED["ultrafeedback-binarized"]


@pytest.fixture(scope="module")
def uf_raw() -> list[dict]:
    return [json.loads(line) for line in UF_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]


def _write(tmp_path, rows, name="rows.jsonl") -> str:
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


# ---------------------------------------------------------------- UltraFeedback
def test_ultrafeedback_fields_map_to_the_pair(uf_raw):
    loaded = load_pairs("ultrafeedback-binarized")
    assert loaded.n_rows == len(uf_raw) == 16
    ties = {i for i, r in enumerate(uf_raw) if r["score_chosen"] == r["score_rejected"]}
    assert ties and loaded.dropped == {"tie": len(ties)}
    assert {p.index for p in loaded.pairs} == set(range(len(uf_raw))) - ties
    for pair in loaded.pairs:
        row = uf_raw[pair.index]
        assert pair.prompt == [{"role": "user", "content": row["prompt"]}]
        assert pair.chosen == row["chosen"][-1]["content"] and pair.rejected == row["rejected"][-1]["content"]
        assert pair.prompt_id == row["prompt_id"]
        assert pair.meta == {"score_chosen": row["score_chosen"], "score_rejected": row["score_rejected"]}
        assert pair.meta["score_chosen"] > pair.meta["score_rejected"]


def test_ultrafeedback_ties_can_be_kept_and_prompts_can_be_strings(uf_raw):
    loaded = load_pairs("ultrafeedback-binarized", options={"drop_ties": False, "form": "standard"})
    assert len(loaded.pairs) == len(uf_raw) and loaded.dropped == {}
    assert [p.prompt for p in loaded.pairs] == [r["prompt"] for r in uf_raw]


def test_ultrafeedback_without_prompt_column_uses_the_shared_turns(tmp_path, uf_raw):
    rows = [{"chosen": r["chosen"], "rejected": r["rejected"]} for r in uf_raw]  # trl-lib's copy
    loaded = load_pairs("ultrafeedback-binarized:" + _write(tmp_path, rows))
    assert len(loaded.pairs) == len(uf_raw)  # no scores: nothing can tie
    for pair in loaded.pairs:
        assert pair.prompt == [{"role": "user", "content": uf_raw[pair.index]["prompt"]}]
        assert pair.chosen == uf_raw[pair.index]["chosen"][-1]["content"]


@pytest.mark.parametrize("change, reason", [
    (lambda r: r.update(score_chosen=1.0, score_rejected=9.0), "scores_inverted"),
    (lambda r: r.update(score_chosen="high"), "not_a_number"),
    (lambda r: r["rejected"][0].update(content="another prompt"), "prompt_mismatch"),
    (lambda r: r["chosen"].pop(), "bad_role"),  # conversation ends with the user turn
])
def test_ultrafeedback_bad_rows(tmp_path, uf_raw, change, reason):
    rows = json.loads(json.dumps(uf_raw[:3]))
    change(rows[1])
    path = _write(tmp_path, rows)
    with pytest.raises(DataError) as e:
        load_pairs("ultrafeedback-binarized:" + path, options={"drop_ties": False})
    assert f"{path}: line 2:" in str(e.value) and f"({reason})" in str(e.value)


# ---------------------------------------------------------------- SHP
def _shp(post, a, b, label, score_a, score_b, **extra):
    return {"post_id": post, "domain": "askscience_train", "history": f"question of {post}?", "human_ref_A": a,
            "human_ref_B": b, "labels": label, "score_A": score_a, "score_B": score_b, **extra}


SHP_ROWS = [_shp("p1", "A wins", "B loses", 1, 10, 2), _shp("p1", "A loses", "B wins", 0, 3, 9),
            _shp("p2", "close A", "close B", 1, 5, 4), _shp("p3", "b is better", "a", 0, 1, 1)]


def test_shp_label_picks_the_preferred_comment(tmp_path):
    loaded = load_pairs("shp:" + _write(tmp_path, SHP_ROWS))
    assert [(p.chosen, p.rejected) for p in loaded.pairs] == [("A wins", "B loses"), ("B wins", "A loses"),
                                                             ("close A", "close B"), ("a", "b is better")]
    assert [p.prompt_id for p in loaded.pairs] == ["p1", "p1", "p2", "p3"]  # pairs of one post share it
    assert loaded.pairs[0].prompt == "question of p1?" and loaded.pairs[0].meta["domain"] == "askscience_train"


def test_shp_min_score_ratio_drops_and_counts(tmp_path):
    path = _write(tmp_path, SHP_ROWS)
    loaded = load_pairs("shp:" + path, options={"min_score_ratio": 2})
    assert [p.index for p in loaded.pairs] == [0, 1]  # 10/2 and 9/3 pass; 5/4 and 1/1 do not
    assert loaded.dropped == {"score_ratio": 2}
    with pytest.raises(ConfigError, match="min_score_ratio"):
        load_pairs("shp:" + path, options={"min_score_ratio": 0.5})
    chat = load_pairs("shp:" + path, options={"form": "conversational"})
    assert chat.pairs[0].prompt == [{"role": "user", "content": "question of p1?"}]


@pytest.mark.parametrize("row, reason", [
    (_shp("p", "a", "b", 2, 1, 1), "bad_label"),
    (_shp("p", "a", "b", 1, "many", 1), "not_a_number"),
    ({k: v for k, v in _shp("p", "a", "b", 1, 1, 1).items() if k != "history"}, "missing_field"),
])
def test_shp_bad_rows_name_file_line_and_reason(tmp_path, row, reason):
    path = _write(tmp_path, [SHP_ROWS[0], row])
    with pytest.raises(DataError) as e:
        load_pairs("shp:" + path)
    assert f"{path}: line 2:" in str(e.value) and f"({reason})" in str(e.value)
