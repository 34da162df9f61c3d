"""Reward models: Bradley-Terry training (fast on a tiny backbone, slow on real hh-rlhf) and scoring."""

from __future__ import annotations

import dataclasses
import json
import random

import pytest

from harness.data.schema import PreferencePair
from harness.errors import HarnessError
from harness.reward.classifier import RewardModel, encode_pair, flatten_prompt
from harness.reward.classifier_train import backbone_dir, split_heldout, train_reward_model

torch = pytest.importorskip("torch")

# Real-data recipe (slow test): a few hundred hh-rlhf pairs, held-out pairs from the file's end.
HH_TRAIN, HH_HELDOUT = 400, 400
HH_RECIPE = {"epochs": 2, "max_length": 96, "learning_rate": 5e-5, "batch_size": 8}

GOOD = ["Sure, happy to help with that.", "Of course! Here is a safe way to do it.", "Glad to help, here you go."]
BAD = ["No. Go away, idiot.", "Figure it out yourself, stupid.", "I hate this question, get lost."]


def synthetic_pairs(n: int, seed: int = 0) -> list[PreferencePair]:
    rng = random.Random(seed)
    topics = ["baking bread", "fixing a bike", "learning chess", "planting tomatoes", "writing a letter", "saving money"]
    out = []
    for i in range(n):
        topic = rng.choice(topics)
        out.append(PreferencePair(prompt=[{"role": "user", "content": f"Can you help me with {topic}? ({i})"}],
                                  chosen=rng.choice(GOOD), rejected=rng.choice(BAD), index=i, prompt_id=f"p{i}"))
    return out


@pytest.fixture(scope="module")
def tiny_backbone(tmp_path_factory):
    """A random 2-layer BERT with the MiniLM tokenizer: trains in seconds."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    path = tmp_path_factory.mktemp("backbone")
    tok = AutoTokenizer.from_pretrained(backbone_dir(None))
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64)).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def test_bradley_terry_training_learns_and_saves(tiny_backbone, tmp_path):
    out = tmp_path / "rm"
    info = train_reward_model(synthetic_pairs(96), out, backbone=str(tiny_backbone), heldout_fraction=0.25,
                              epochs=3, learning_rate=1e-3, batch_size=8, max_length=48)
    assert info["train_pairs"] == 72 and info["heldout_pairs"] == 24
    assert info["heldout_accuracy"] >= 0.9  # trivially separable: the RM must find it
    assert json.loads((out / "rm.json").read_text())["heldout_accuracy"] == info["heldout_accuracy"]
    rm = RewardModel(out, max_length=48)  # a plain HF directory: loads like any hub RM
    assert rm.heldout_accuracy == info["heldout_accuracy"]
    prompt = [{"role": "user", "content": "Can you help me with knitting?"}]
    good, bad = rm.score([prompt, prompt], [GOOD[0], BAD[0]])
    assert good > bad


def test_heldout_split_keeps_prompts_whole():
    pairs = synthetic_pairs(30)
    pairs += [PreferencePair(p.prompt, p.rejected, p.chosen, p.index + 100, p.prompt_id) for p in pairs[:10]]
    train, held = split_heldout(pairs, 0.3, seed=0)
    assert len(train) + len(held) == 40 and held
    assert not {p.prompt_id for p in train} & {p.prompt_id for p in held}
    assert split_heldout(pairs, 0.3, seed=0) == (train, held)  # deterministic


def test_pair_encoding_keeps_prompt_end_and_response_start():
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(backbone_dir(None))
    prompt = "start " + "filler " * 200 + "the real question"
    response = "the answer begins here " + "padding " * 200
    ids = encode_pair(tok, prompt, response, max_length=40)["input_ids"]
    text = tok.decode(ids)
    assert len(ids) <= 40 and "real question" in text and "answer begins" in text and "start" not in text
    assert flatten_prompt([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"},
                           {"role": "user", "content": "q"}]) == "\n\nHuman: hi\n\nAssistant: yo\n\nHuman: q\n\nAssistant:"


def test_train_rm_command(tiny_backbone, tmp_path, capsys):
    from harness.cli import main

    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps({"prompt": p.prompt[0]["content"], "chosen": p.chosen, "rejected": p.rejected}) + "\n"
                            for p in synthetic_pairs(40)))
    rc = main(["train-rm", f"jsonl:{data}", "--out", str(tmp_path / "rm"), "--set", f"backbone={tiny_backbone}",
               "--set", "epochs=2", "--set", "lr=1e-3", "--set", "max_length=48", "--set", "head_lr=2e-3"])
    assert rc == 0 and "held-out pairwise accuracy" in capsys.readouterr().out
    assert (tmp_path / "rm" / "config.json").is_file() and (tmp_path / "rm" / "rm.json").is_file()


def test_bad_backbone_and_empty_data(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(HarnessError, match="not a model directory"):
        train_reward_model(synthetic_pairs(10), tmp_path / "rm", backbone=str(tmp_path / "empty"))
    with pytest.raises(HarnessError, match="no training pairs"):
        train_reward_model([], tmp_path / "rm")


@pytest.mark.slow  # ~3-8 min on 2 shared cores: fine-tunes MiniLM on a few hundred real pairs
def test_minilm_rm_beats_chance_on_real_hh_rlhf(tmp_path):
    from harness.data import load_pairs

    pairs = load_pairs("hh-rlhf").pairs
    train, held = pairs[:HH_TRAIN], pairs[-HH_HELDOUT:]
    info = train_reward_model(train, tmp_path / "rm", heldout=held, **HH_RECIPE)
    acc, n = info["heldout_accuracy"], info["heldout_pairs"]
    # "clearly above chance": the one-sided 99% binomial bound for p = 0.5 is 0.5 + 2.33 * sqrt(.25 / n)
    assert acc > 0.5 + 2.33 * (0.25 / n) ** 0.5, info


# ---------------------------------------------------------------- decoder backbones (a suite's "@sft")
@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory):
    """A random tiny causal Llama (the `tiny` model's architecture and byte tokenizer)."""
    from harness.models.tiny import build

    return build(texts=[], seed=0, options={"hidden_size": 64, "num_attention_heads": 2, "intermediate_size": 128},
                 cache_dir=tmp_path_factory.mktemp("llama"))


def test_decoder_backbone_becomes_a_right_padded_sequence_classifier(tiny_llama, tmp_path):
    out = tmp_path / "rm"
    info = train_reward_model(synthetic_pairs(64), out, backbone=str(tiny_llama), heldout_fraction=0.25, epochs=3,
                              learning_rate=1e-3, head_learning_rate=1e-2, batch_size=8, max_length=96)
    assert info["heldout_accuracy"] >= 0.9  # trivially separable
    config = json.loads((out / "config.json").read_text())
    assert config["architectures"] == ["LlamaForSequenceClassification"] and len(config["id2label"]) == 1
    rm = RewardModel(out, max_length=96, batch_size=8)
    assert config["pad_token_id"] == rm.tokenizer.pad_token_id is not None
    # the reward is read at each row's last real token (the config's pad id is the tokenizer's):
    # a row scores the same alone and padded in a batch
    prompts = ["Can you help me with knitting?", "Hi"]
    responses = [GOOD[0], BAD[0] + " " + "really " * 10]
    batched = rm.score(prompts, responses)
    alone = [rm.score([p], [r])[0] for p, r in zip(prompts, responses)]
    assert batched == pytest.approx(alone, abs=1e-5)


def test_minilm_is_the_default_backbone_by_name():
    assert backbone_dir("minilm") == backbone_dir(None) == backbone_dir("all-minilm-l6-v2")


# ---------------------------------------------------------------- recipes trained once (rm_stage)
def test_recipe_is_trained_once_per_hash(tiny_backbone, tmp_path):
    from harness.evaluation.config import RewardTrainConfig
    from harness.reward.recipe import ensure_reward_model, rm_dir

    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps({"prompt": p.prompt[0]["content"], "chosen": p.chosen, "rejected": p.rejected})
                            + "\n" for p in synthetic_pairs(24)))
    recipe = RewardTrainConfig(data=f"jsonl:{data}", backbone=str(tiny_backbone), epochs=1, lr=1e-3, max_length=48)
    logs = []
    path = ensure_reward_model(recipe, tmp_path / "out", log=logs.append)
    assert path == rm_dir(tmp_path / "out", recipe) and path.parent == tmp_path / "out" / "rm"
    info = json.loads((path / "rm.json").read_text())
    assert info["hash"] == path.name and info["recipe"]["data"] == f"jsonl:{data}" and info["train_pairs"] > 0
    mtime = (path / "rm.json").stat().st_mtime_ns
    assert ensure_reward_model(recipe, tmp_path / "out", log=logs.append) == path
    assert (path / "rm.json").stat().st_mtime_ns == mtime and sum("held-out" in line for line in logs) == 1
    assert not list((tmp_path / "out" / "rm").glob("*.tmp"))  # trained in a temp dir, renamed
    other = dataclasses.replace(recipe, seed=1)
    assert rm_dir(tmp_path / "out", other) != path
    assert rm_dir(tmp_path / "out", dataclasses.replace(recipe, threads=1)) == path  # speed, not content
    with pytest.raises(HarnessError, match="@sft:abc.*SFT stage; run it through `harness run`"):
        ensure_reward_model(dataclasses.replace(recipe, backbone="@sft:abc"), tmp_path / "out")


def test_train_rm_command_with_the_sft_stage_of_a_results_folder(tiny_llama, tmp_path, capsys):
    from harness.cli import main

    results = tmp_path / "results"
    (results / "checkpoints" / "s1").mkdir(parents=True)
    (results / "checkpoints" / "s1" / "final").symlink_to(tiny_llama)
    (results / "suite.json").write_text(json.dumps({"runs": [{"run_id": "s1", "stage": "sft"},
                                                             {"run_id": "r1", "stage": "main"}]}))
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps({"prompt": p.prompt[0]["content"], "chosen": p.chosen, "rejected": p.rejected})
                            + "\n" for p in synthetic_pairs(20)))
    args = ["train-rm", f"jsonl:{data}", "--out", str(tmp_path / "rm"), "--set", "backbone=@sft", "--set", "epochs=1",
            "--set", "max_length=64"]
    assert main(args + ["--results", str(results)]) == 0
    info = json.loads((tmp_path / "rm" / "rm.json").read_text())
    assert info["backbone"] == "@sft" and info["backbone_dir"] == str(results / "checkpoints/s1/final")
    assert main(args) == 2 and "the suite's results folder with --results" in capsys.readouterr().err
    assert main(args[:4] + ["--set", "epochz=1"]) == 2  # the suite's validation, the suite's messages
    assert "harness train-rm --set epochz=1: epochz: unknown key (did you mean 'epochs'?)" in capsys.readouterr().err
