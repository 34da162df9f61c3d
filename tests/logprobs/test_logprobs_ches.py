"""Per-pair features (harness.logprobs.ches): CHES by hand and against the reference's own hidden
states, the token features, and the cache."""

from __future__ import annotations

import pytest
import torch


def test_ches_by_hand_on_small_tensors():
    from harness.logprobs.ches import ches

    # h+ = [[2, 0], [0, 1]], h- = [[1, 0], [0, -1], [3, 1]]
    # sums: (2, 1) and (4, 0): <.,.> = 8, ||(2, 1)||^2 = 5 -> 3
    # means: (1, 0.5) and (4/3, 0): <.,.> = 4/3, ||(1, 0.5)||^2 = 1.25 -> 1/12
    s, m = ches(torch.tensor([[2.0, 0.0], [0.0, 1.0]]), torch.tensor([[1.0, 0.0], [0.0, -1.0], [3.0, 1.0]]))
    assert s == pytest.approx(3.0, abs=1e-12)
    assert m == pytest.approx(1 / 12, abs=1e-12)
    # identical sums: 0; orthogonal: -||sum h+||^2 (the sign convention: larger = more alike)
    assert ches(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([[1.0, 1.0]]))[0] == pytest.approx(0.0)
    assert ches(torch.tensor([[3.0, 0.0]]), torch.tensor([[0.0, 5.0]]))[0] == pytest.approx(-9.0)


def test_token_features_by_hand():
    from harness.data.tokenize import TokenizedPair
    from harness.logprobs.ches import edit_distance, token_features

    p = TokenizedPair(0, "a", (1, 2), (5, 6, 7, 8, 2), (5, 6, 9, 8, 2))
    q = TokenizedPair(1, "b", (1,), (4, 5, 6), (5, 6, 7))
    f = token_features([p, q])
    assert f["prompt_tokens"] == [2, 1] and f["chosen_tokens"] == [5, 3] and f["rejected_tokens"] == [5, 3]
    assert f["shared_prefix_tokens"] == [2, 0]
    assert f["edit_distance"] == [1, 2]  # one substitution; delete 4, append 7
    assert edit_distance((1, 2, 3), ()) == 3 and edit_distance("kitten", "sitting") == 3


@pytest.fixture(scope="module")
def tiny():
    from harness.data.arith import generate
    from harness.data.tokenize import tokenize_pairs
    from harness.models import load_causal_lm, load_tokenizer, model_dir
    from harness.trainer.config import ModelConfig

    path = model_dir(ModelConfig(name="tiny"))
    tok, model = load_tokenizer(path), load_causal_lm(path)
    pairs, _ = tokenize_pairs(generate("train", n_pairs=12), tok, max_prompt_len=32, max_response_len=32)
    return tok, model, pairs


def test_stored_ches_equals_an_independent_computation_from_hidden_states(tiny, tmp_path):
    """Each pair alone (no padding, no batching), hidden_states[-1] of the full model, positions
    from the last prompt token to the one before the last response token."""
    from harness.logprobs.ches import pair_features

    tok, model, pairs = tiny
    feats = pair_features(model, pairs, cache_dir=tmp_path, fingerprint="f", pad_id=tok.pad_token_id, batch_size=5)
    assert not feats.hit
    for i, p in enumerate(pairs):
        sums, means = [], []
        for resp in (p.chosen_ids, p.rejected_ids):
            ids = torch.tensor([list(p.prompt_ids) + list(resp)])
            with torch.no_grad():
                h = model(input_ids=ids, output_hidden_states=True).hidden_states[-1][0].double()
            n_p = len(p.prompt_ids)
            h = h[n_p - 1: n_p + len(resp) - 1]
            assert h.shape[0] == len(resp)
            sums.append(h.sum(0))
            means.append(h.mean(0))
        want_sum = float(sums[0] @ sums[1] - sums[0] @ sums[0])
        want_mean = float(means[0] @ means[1] - means[0] @ means[0])
        # CHES is a difference of two dot products: float32 rounding of the hidden states (batched
        # and padded there, one row here; other kernels) is relative to the terms, not to their
        # difference, which can be far smaller
        for got, want, (a, b) in ((feats.columns["ches"][i], want_sum, sums), (feats.columns["ches_mean"][i], want_mean, means)):
            # (1e-7 x |a| (|a| + |b|): about 0.01 here, 10x the largest difference seen)
            assert got == pytest.approx(want, rel=1e-4, abs=1e-7 * float(a.norm() * (a.norm() + b.norm())))
    assert len(set(feats.columns["ches"])) > 1  # not a constant


def test_features_are_cached_by_reference_and_pairs(tiny, tmp_path):
    from harness.logprobs.ches import pair_features

    tok, model, pairs = tiny
    kw = dict(cache_dir=tmp_path, pad_id=tok.pad_token_id, batch_size=8)
    first = pair_features(model, pairs, fingerprint="f", **kw)
    calls = []
    again = pair_features(lambda: calls.append(1) or model, pairs, fingerprint="f", **kw)
    assert again.hit and not calls and again.columns == first.columns  # the model is never loaded on a hit
    other = pair_features(lambda: calls.append(1) or model, pairs[:6], fingerprint="f", **kw)
    assert not other.hit and calls == [1]  # other pairs: another key
    assert not pair_features(model, pairs, fingerprint="g", **kw).hit  # other weights: another key


def test_a_run_writes_one_pairs_row_per_held_out_pair(tmp_path):
    """The `pairs` table of a training run: its r_w mean is the final eval row's, displaced is r_w < 0,
    and the features are those of the held-out pairs under the reference (cached once per sweep)."""
    from test_trainer_runs import make_cfg

    from harness.logprobs.ches import pair_features
    from harness.models import load_causal_lm
    from harness.results import ResultStore
    from harness.trainer import train_run
    from harness.trainer.setup import prepared_data

    cfg = make_cfg(train={"steps": 3})
    rid = train_run(cfg, tmp_path).run_id
    store = ResultStore(tmp_path)
    pairs, steps = store.read("pairs", rid), store.read("steps", rid)
    last = steps[(steps["split"] == "eval") & (steps["step"] == 3)].iloc[0]
    assert len(pairs) == 16 and set(pairs["step"]) == {3}
    assert pairs["chosen_logratio"].mean() == pytest.approx(last["logratio_chosen"], rel=1e-6, abs=1e-7)
    assert pairs["displaced"].tolist() == (pairs["chosen_logratio"] < 0).tolist()
    assert pairs["displaced"].mean() == pytest.approx(last["frac_chosen_below_ref"])
    assert (pairs["margin"] == pairs["chosen_logratio"] - pairs["rejected_logratio"]).all()
    path, tok, data = prepared_data(cfg)
    want = pair_features(load_causal_lm(path), data.eval, cache_dir=None, fingerprint="",
                         pad_id=tok.pad_token_id)
    by_index = pairs.set_index("pair_index").loc[[p.index for p in data.eval]]
    assert by_index["ches"].tolist() == pytest.approx(want.columns["ches"], rel=1e-4)
    assert by_index["edit_distance"].tolist() == want.columns["edit_distance"]
    assert len(list((tmp_path / "cache" / "features").glob("*.parquet"))) == 1
    train_run(make_cfg(train={"steps": 3}, loss={"beta": 0.5}), tmp_path)  # another beta: the same features file
    assert len(list((tmp_path / "cache" / "features").glob("*.parquet"))) == 1


def test_drop_top_by_hand():
    from harness.data.tokenize import TokenizedPair
    from harness.logprobs.ches import drop_top

    pairs = [TokenizedPair(i, f"p{i}", (1,), (2,), (3,)) for i in range(5)]
    kept, n = drop_top(pairs, [0.5, 3.0, -1.0, 3.0, 2.0], 0.4)
    assert n == 2 and [p.index for p in kept] == [0, 2, 4]  # the two 3.0s go, the rest keep their order
    assert drop_top(pairs, [0.0] * 5, 0.1) == (pairs, 0)  # floor(0.5) = 0


def test_ches_filter_drops_the_most_alike_training_pairs(tmp_path):
    import json

    from test_trainer_runs import make_cfg

    from harness.logprobs.ches import pair_features
    from harness.models import load_causal_lm
    from harness.results import ResultStore
    from harness.results.records import content, run_id
    from harness.trainer import train_run
    from harness.trainer.setup import prepared_data

    plain = make_cfg()
    cfg = make_cfg(data={"filter": {"ches_top_fraction": 0.25}})
    assert "filter" not in content(plain)["data"] and run_id(plain) != run_id(cfg)
    rid = train_run(cfg, tmp_path).run_id
    row = ResultStore(tmp_path).read("runs", rid).iloc[0]
    path, tok, data = prepared_data(plain)
    n = len(data.train)
    assert json.loads(row["dropped_json"])["ches_top_fraction"] == n // 4
    assert row["n_train"] == n - n // 4
    ches = pair_features(load_causal_lm(path), data.train, cache_dir=None, fingerprint="",
                         pad_id=tok.pad_token_id).columns["ches"]
    # the pairs trained on (their reference log-probs were cached) are those below the cut
    import pandas as pd

    refs = [pd.read_parquet(f) for f in (tmp_path / "cache" / "refs").glob("*.parquet")]
    [trained] = [r for r in refs if len(r) == n - n // 4]
    position = {p.index: i for i, p in enumerate(data.train)}
    kept = sorted(ches[position[i]] for i in trained["index"])
    assert kept[-1] <= sorted(ches, reverse=True)[n // 4] and len(set(trained["index"])) == n - n // 4
    _, _, filtered = prepared_data(cfg)  # the memoised data is not changed by the filter
    assert len(filtered.train) == n
