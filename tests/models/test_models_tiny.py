"""The tiny model: deterministic, content-cached, loadable as a plain HF directory; log-probs."""

from __future__ import annotations

import pytest
import torch

from harness.errors import ConfigError, HarnessError
from harness.hashing import file_hash


def _files(path):
    return {p.name: file_hash(p) for p in sorted(path.iterdir()) if p.is_file()}


def test_build_is_deterministic_and_cached_by_content(tmp_path):
    from harness.models.tiny import build

    a = build(seed=1, cache_dir=tmp_path / "a", options={"num_hidden_layers": 1})
    b = build(seed=1, cache_dir=tmp_path / "b", options={"num_hidden_layers": 1})
    assert a.name == b.name and _files(a) == _files(b)  # same inputs: same name, same bytes
    assert build(seed=1, cache_dir=tmp_path / "a", options={"num_hidden_layers": 1}) == a  # reused
    other = build(seed=2, cache_dir=tmp_path / "a", options={"num_hidden_layers": 1})
    assert other != a and _files(other)["model.safetensors"] != _files(a)["model.safetensors"]


def test_directory_loads_with_plain_transformers_and_a_fast_tokenizer():
    from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerFast

    from harness.models.tiny import build

    path = build(seed=0)
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    assert isinstance(tok, PreTrainedTokenizerFast)
    assert model.config.hidden_size // model.config.num_attention_heads in (32, 64)
    ids = tok("61-48+71=?")["input_ids"]
    assert len(ids) == len("61-48+71=?")  # character level: digits stay separate
    assert tok.decode(ids) == "61-48+71=?"
    assert model.config.eos_token_id == tok.eos_token_id is not None


def test_trained_merges_depend_on_the_texts(tmp_path):
    from transformers import AutoTokenizer

    from harness.models.tiny import build

    path = build(texts=["hello world"] * 50, seed=0, cache_dir=tmp_path, options={"vocab_size": 300})
    tok = AutoTokenizer.from_pretrained(path)
    assert len(tok("hello")["input_ids"]) < 5 and tok.decode(tok("hello world 123")["input_ids"]) == "hello world 123"
    assert len(tok("123")["input_ids"]) == 3


@pytest.mark.parametrize("options", [{"hidden_size": 96, "num_attention_heads": 4}, {"bogus": 1},
                                     {"vocab_size": 100}])
def test_bad_tiny_options_are_config_errors(tmp_path, options):
    from harness.models.tiny import build

    with pytest.raises(ConfigError):
        build(seed=0, cache_dir=tmp_path, options=options)


def test_registry_and_model_dir_resolution(tmp_path):
    from harness.models import MODELS, model_dir
    from harness.trainer.config import ModelConfig

    assert {"tiny", "smollm2-135m-instruct"} <= set(MODELS.names())
    tiny = model_dir(ModelConfig(name="tiny"))
    assert model_dir(ModelConfig(name=str(tiny))) == tiny  # a local directory
    assert model_dir(ModelConfig(name="whatever", init_from=str(tiny))) == tiny
    with pytest.raises(HarnessError, match="tinny.*did you mean 'tiny'"):
        model_dir(ModelConfig(name="tinny"))
    with pytest.raises(ConfigError):
        model_dir(ModelConfig(name="x", init_from=str(tmp_path)))


def test_sequence_logps_matches_a_full_forward_also_with_lora():
    from harness.data.arith import generate
    from harness.data.tokenize import IGNORE, collate, tokenize_pairs
    from harness.logprobs.logps import sequence_logps
    from harness.models import load_causal_lm, load_tokenizer, model_dir
    from harness.models.lora import apply_lora
    from harness.trainer.config import LoraConfig, ModelConfig

    path = model_dir(ModelConfig(name="tiny"))
    tok, model = load_tokenizer(path), load_causal_lm(path)
    pairs, _ = tokenize_pairs(generate("train", n_pairs=6), tok, max_prompt_len=32, max_response_len=32)
    batch = collate(pairs, tok.pad_token_id)
    with torch.no_grad():
        got = sequence_logps(model, batch)
        logp = torch.log_softmax(model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits, -1)
    labels = batch["labels"][:, 1:]
    mask = labels != IGNORE
    want = (logp[:, :-1].gather(2, labels.clamp(min=0).unsqueeze(2)).squeeze(2) * mask).sum(1)
    torch.testing.assert_close(got.logps, want, rtol=1e-5, atol=1e-4)
    assert got.tokens.tolist() == batch["response_lengths"].tolist()
    peft_model = apply_lora(model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"]))
    with torch.no_grad():  # adapters start at B = 0: the same numbers through the PEFT wrapper
        torch.testing.assert_close(sequence_logps(peft_model, batch).logps, got.logps)


def test_sequence_logps_through_the_full_forward_path_agree_with_the_split_head():
    """A model whose head does more than a projection (a config with logit soft-capping) takes the
    plain forward and gathers the scored positions from the logits, in both batch layouts. The tiny
    Llama ignores the attribute, so the two paths must give the same numbers and gradients."""
    from harness.data.arith import generate
    from harness.data.shared_prompt import collate_shared
    from harness.data.tokenize import collate, tokenize_pairs
    from harness.logprobs.logps import _split_head, sequence_logps
    from harness.models import load_causal_lm, load_tokenizer, model_dir
    from harness.trainer.config import ModelConfig

    path = model_dir(ModelConfig(name="tiny"))
    tok, model = load_tokenizer(path), load_causal_lm(path)
    pairs, _ = tokenize_pairs(generate("train", n_pairs=6), tok, max_prompt_len=32, max_response_len=32)
    for batch in (collate(pairs, tok.pad_token_id), collate_shared(pairs, tok.pad_token_id)):
        model.config.final_logit_softcapping = None
        split = sequence_logps(model, batch).logps
        (g_split,) = torch.autograd.grad(split.sum(), model.lm_head.weight)
        model.config.final_logit_softcapping = 30.0
        assert _split_head(model) is None
        plain = sequence_logps(model, batch).logps
        (g_plain,) = torch.autograd.grad(plain.sum(), model.lm_head.weight)
        torch.testing.assert_close(plain, split, rtol=1e-5, atol=1e-4)
        torch.testing.assert_close(g_plain, g_split, rtol=1e-4, atol=1e-4)
