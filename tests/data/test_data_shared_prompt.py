"""The one-row-per-pair layout, the fast tokenizer path, the per-process data memo, fused AdamW.

Each is a speed change that must not change a number beyond float rounding: checked against the
plain computation it replaces.
"""

from __future__ import annotations

import pytest
import torch

from harness.data.tokenize import TokenizedPair


@pytest.fixture(scope="module")
def tiny():
    from harness.models import load_causal_lm, load_tokenizer, model_dir
    from harness.trainer.config import ModelConfig

    path = model_dir(ModelConfig(name="tiny"))
    return path, load_tokenizer(path), load_causal_lm(path)


def _pairs(tok, n=7):
    from harness.data.arith import generate
    from harness.data.tokenize import tokenize_pairs

    pairs, _ = tokenize_pairs(generate("train", n_pairs=n), tok, max_prompt_len=32, max_response_len=32)
    # uneven lengths: one pair with a long prompt and a one-token rejected response
    odd = TokenizedPair(99, "odd", pairs[0].prompt_ids * 2, pairs[0].chosen_ids, pairs[0].chosen_ids[:1])
    return [*pairs, odd]


def _both(model, pairs, pad_id):
    from harness.data.shared_prompt import collate_shared
    from harness.data.tokenize import collate
    from harness.logprobs.logps import sequence_logps

    return sequence_logps(model, collate(pairs, pad_id)), sequence_logps(model, collate_shared(pairs, pad_id))


@pytest.mark.parametrize("impl", ["sdpa", "eager"])
def test_shared_prompt_logps_and_grads_match_the_two_row_layout(tiny, impl):
    _, tok, model = tiny
    model.config._attn_implementation = impl
    try:
        pairs = _pairs(tok)
        rows, shared = _both(model, pairs, tok.pad_token_id)
        torch.testing.assert_close(shared.logps, rows.logps, rtol=1e-5, atol=1e-4)
        assert shared.tokens.tolist() == rows.tokens.tolist()
        grads = []
        for out in (rows, shared):
            model.zero_grad()
            (out.logps * torch.linspace(-1, 1, out.logps.shape[0])).sum().backward()
            grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
        torch.testing.assert_close(grads[1], grads[0], rtol=1e-4, atol=1e-5)
    finally:
        model.config._attn_implementation = "sdpa"
        model.zero_grad()


def test_rejected_tokens_never_see_the_chosen_ones(tiny):
    """Changing the chosen response after the shared prefix leaves the rejected log-probs exactly as they were."""
    from harness.data.shared_prompt import collate_shared, common_prefix
    from harness.logprobs.logps import sequence_logps

    _, tok, model = tiny
    pairs = [p for p in _pairs(tok, n=8) if len(p.chosen_ids) > common_prefix(p.chosen_ids, p.rejected_ids) + 2][:3]
    assert pairs

    def changed(p):  # keep the shared prefix and the first differing token; change the rest
        k = common_prefix(p.chosen_ids, p.rejected_ids) + 1
        rest = tuple(3 if t != 3 else 4 for t in p.chosen_ids[k:])
        return TokenizedPair(p.index, p.prompt_id, p.prompt_ids, p.chosen_ids[:k] + rest, p.rejected_ids)

    with torch.no_grad():
        a = sequence_logps(model, collate_shared(pairs, tok.pad_token_id)).logps
        b = sequence_logps(model, collate_shared([changed(p) for p in pairs], tok.pad_token_id)).logps
    n = len(pairs)
    assert torch.equal(a[n:], b[n:])
    assert not torch.allclose(a[:n], b[:n])  # the test can fail: the chosen side did change


def test_collate_shared_layout():
    from harness.data.shared_prompt import CHOSEN, PAD, PROMPT, REJECTED, attention_mask, collate_shared

    p = TokenizedPair(0, "a", (5, 6), (7, 8, 9), (10,))
    q = TokenizedPair(1, "b", (5,), (7,), (11, 12))
    b = collate_shared([p, q], pad_id=0)
    assert b["input_ids"].tolist() == [[5, 6, 7, 8, 9, 10], [5, 7, 11, 12, 0, 0]]
    assert b["segments"].tolist() == [[PROMPT, PROMPT, CHOSEN, CHOSEN, CHOSEN, REJECTED],
                                      [PROMPT, CHOSEN, REJECTED, REJECTED, PAD, PAD]]
    assert b["position_ids"].tolist() == [[0, 1, 2, 3, 4, 2], [0, 1, 1, 2, 0, 0]]
    # predictors: chosen 7,8,9 from positions 1,2,3; rejected 10 from the prompt's last (1)
    assert b["score_pos"].tolist() == [1, 2, 3, 1, 6, 6, 8] and b["targets"].tolist() == [7, 8, 9, 10, 7, 11, 12]
    assert b["score_rows"].tolist() == [0, 0, 0, 2, 1, 3, 3]
    assert b["response_lengths"].tolist() == [3, 1, 1, 2] and int(b["pair_tokens"]) == (2 * 2 + 4) + (2 + 3)
    # a common response prefix (7, 8) is computed once and scored for both responses
    r = TokenizedPair(2, "c", (5,), (7, 8, 9), (7, 8, 4, 6))
    c = collate_shared([r], pad_id=0)
    assert c["input_ids"].tolist() == [[5, 7, 8, 9, 4, 6]] and c["position_ids"].tolist() == [[0, 1, 2, 3, 3, 4]]
    assert c["segments"].tolist() == [[PROMPT, PROMPT, PROMPT, CHOSEN, REJECTED, REJECTED]]
    assert c["score_pos"].tolist() == [0, 1, 2, 0, 1, 2, 4] and c["targets"].tolist() == [7, 8, 9, 7, 8, 4, 6]
    assert c["score_rows"].tolist() == [0, 0, 0, 1, 1, 1, 1] and int(c["pair_tokens"]) == 2 + 3 + 4
    m = attention_mask(b["segments"])[0, 0]
    assert m[5].tolist() == [True, True, False, False, False, True]  # rejected: prompt + itself only
    assert m[4].tolist() == [True] * 5 + [False]  # chosen: causal
    assert attention_mask(b["segments"])[1, 0, 5].tolist() == [True] * 4 + [False, False]  # pad query: no empty row
    with pytest.raises(ValueError, match="pair 2: empty"):
        collate_shared([p, TokenizedPair(2, "c", (5,), (7,), ())], pad_id=0)


def test_unsupported_attention_falls_back_to_two_rows(tiny, tmp_path):
    from harness.data.shared_prompt import collate_shared
    from harness.logprobs.logps import sequence_logps, supports_shared_prompt

    _, tok, model = tiny
    assert supports_shared_prompt(model)
    model.config._attn_implementation = "flash_attention_2"
    try:
        assert not supports_shared_prompt(model)
        with pytest.raises(ValueError, match="flash_attention_2"):
            sequence_logps(model, collate_shared(_pairs(tok, 2), tok.pad_token_id))
    finally:
        model.config._attn_implementation = "sdpa"


def test_training_with_and_without_shared_prompt_agree(tmp_path):
    from harness.config import from_dict
    from harness.results import ResultStore
    from harness.trainer import train_run
    from harness.trainer.config import RunConfig

    losses = {}
    for share in (True, False):
        cfg = from_dict(RunConfig, {"model": {"name": "tiny"}, "data": {"train": "arith", "options": {"n_pairs": 64},
                                                                          "eval_size": 0},
                                    "train": {"steps": 3, "batch_size": 8, "learning_rate": 1e-3, "save_final": False,
                                              "share_prompt": share}})
        out = tmp_path / str(share)
        assert train_run(cfg, out).status == "completed"
        steps = ResultStore(out).read("steps").sort_values("step")
        losses[share] = steps.loss.tolist(), steps.tokens.tolist()
    assert losses[True][1] == losses[False][1]  # tokens counted the same way under both layouts
    assert losses[True][0] == pytest.approx(losses[False][0], abs=1e-4)


def test_fast_encode_matches_the_tokenizer_call(tiny):
    from harness.data import load_pairs
    from harness.data.tokenize import _encode

    _, tok, _ = tiny
    texts = [p.chosen for p in load_pairs("hh-rlhf", limit=200, on_bad_row="skip").pairs] + ["", "  x  ", "é\n"]
    for special in (True, False):
        assert _encode(tok, texts, special=special) == [list(x) for x in tok(texts, add_special_tokens=special)["input_ids"]]
    tok.backend_tokenizer.enable_truncation(4)  # a backend set up to truncate: the plain call is used
    try:
        assert _encode(tok, ["0123456789"], special=False) == [list(tok("0123456789", add_special_tokens=False)["input_ids"])]
        assert len(_encode(tok, ["0123456789"], special=False)[0]) == 10
    finally:
        tok.backend_tokenizer.no_truncation()


def test_prepared_data_is_memoised_and_reloaded_when_the_file_changes(tmp_path):
    import json
    import os

    from harness.config import from_dict
    from harness.trainer.config import RunConfig
    from harness.trainer.setup import prepared_data

    f = tmp_path / "pairs.jsonl"
    f.write_text("".join(json.dumps({"prompt": f"Q{i}?", "chosen": f"A{i}", "rejected": f"B{i}"}) + "\n" for i in range(6)))
    cfg = from_dict(RunConfig, {"model": {"name": "tiny"}, "data": {"train": f"jsonl:{f}", "eval_size": 0}})
    first = prepared_data(cfg)
    assert prepared_data(cfg) is first  # same config: nothing loaded or tokenised again
    other = from_dict(RunConfig, {"model": {"name": "tiny"}, "data": {"train": f"jsonl:{f}", "eval_size": 0,
                                                                     "max_response_len": 2}})
    assert prepared_data(other) is not first
    with open(f, "a") as fh:
        fh.write(json.dumps({"prompt": "Q9?", "chosen": "yes", "rejected": "no"}) + "\n")
    os.utime(f, ns=(1, 1))
    again = prepared_data(cfg)
    assert again is not first and len(again[2].train) == len(first[2].train) + 1


def test_adamw_is_fused_on_cpu():
    from harness.trainer.config import TrainConfig
    from harness.trainer.optim import build_optimizer

    opt = build_optimizer(torch.nn.Linear(3, 3), TrainConfig())
    assert opt.defaults["fused"] is True
