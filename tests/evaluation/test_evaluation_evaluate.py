"""evaluate_runs end to end on tiny models with the HF backend: rows, metrics, failures, bad input.

The vLLM path of the same orchestration is in test_evaluation_vllm.py (slow tier); the engine itself is
tested in test_generation_vllm.py.
"""

from __future__ import annotations

import json
import math

import pytest

from harness.errors import HarnessError
from harness.evaluation import EvalConfig, evaluate_runs
from harness.generation import BACKENDS
from harness.results.store import ResultStore

torch = pytest.importorskip("torch")


def tiny(root, seed):
    from harness.models.tiny import build

    return build(texts=[], seed=seed, options={"hidden_size": 64, "num_attention_heads": 2, "intermediate_size": 128},
                 cache_dir=root)


def tiny_rm(path, *, pad=True, accuracy=0.75):
    """A random 2-layer BERT reward model with the MiniLM tokenizer, and an rm.json like train-rm's."""
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from harness.reward.classifier_train import backbone_dir

    tok = AutoTokenizer.from_pretrained(backbone_dir(None))
    torch.manual_seed(0)
    model = BertForSequenceClassification(BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2,
                                                     num_attention_heads=2, intermediate_size=64, num_labels=1,
                                                     pad_token_id=tok.pad_token_id if pad else None))
    if not pad:
        tok.pad_token = None
        model.config.pad_token_id = None
    model.save_pretrained(path)
    tok.save_pretrained(path)
    (path / "rm.json").write_text(json.dumps({"heldout_accuracy": accuracy, "heldout_pairs": 40}))
    return path


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from harness.data.arith import generate

    root = tmp_path_factory.mktemp("eval")
    return {"ref": tiny(root, 0), "b": tiny(root, 1), "rm": tiny_rm(root / "rm"), "root": root,
            "pairs": list(generate("test", n_pairs=5, seed=0))}


class CountingHF(BACKENDS.get("hf")):
    """The HF backend, counting engine starts and weight loads (reuse is part of the contract)."""

    starts = 0

    def __init__(self, *a, **kw):
        type(self).starts += 1
        self.loads = []
        super().__init__(*a, **kw)

    def load(self, path):
        self.loads.append(str(path))
        super().load(path)


if "counting-hf" not in BACKENDS:
    BACKENDS.register("counting-hf", CountingHF)

CFG = {"generation": {"backend": "counting-hf", "n_prompts": 4, "samples": 2, "temperature": 1.0,
                      "max_new_tokens": 12, "max_prompt_len": 32, "max_model_len": 64},
       "bootstrap_iters": 200}


@pytest.fixture(scope="module")
def evaluated(setup, tmp_path_factory):
    store = ResultStore(tmp_path_factory.mktemp("results"))
    CountingHF.starts = 0
    status = evaluate_runs({**CFG, "reward_model": str(setup["rm"])},
                           targets=[("run-b", str(setup["b"])), ("run-missing", str(setup["root"] / "nope"))],
                           reference=("ref", str(setup["ref"])), prompts=setup["pairs"], store=store, log=lambda s: None)
    return status, store


def test_status_and_failure_isolation(evaluated):
    status, store = evaluated
    assert status["ref"] == "ok" and status["run-b"] == "ok"
    assert status["run-missing"].startswith("failed") and "nope" in status["run-missing"]
    assert not store.has("evals", "run-missing")  # not marked evaluated: a suite will retry it
    failed = store.read("evals", "run-missing.failed")
    assert failed["metric"].tolist() == ["eval_failed"] and "no such directory" in failed["error"].iloc[0]
    assert CountingHF.starts == 1  # one engine for the reference and every target


def test_generation_rows(evaluated):
    _, store = evaluated
    gens = store.read("generations")
    assert sorted(gens["run_id"].unique()) == ["ref", "run-b"]
    for _, df in gens.groupby("run_id"):
        assert len(df) == 4 * 2 and sorted(df["sample"].unique()) == [0, 1]
        assert set(df["finish_reason"]) <= {"stop", "length"}
        assert (df["completion_tokens"] <= 12).all()
    assert (gens["backend"] == "counting-hf").all() and gens["engine_version"].str.startswith("transformers==").all()
    assert (gens["temperature"] == 1.0).all() and (gens["seed"] == 0).all() and gens["eval_hash"].nunique() == 1
    assert gens["prompt"].iloc[0].endswith("=?")


def test_scores_and_metrics(evaluated):
    _, store = evaluated
    scores = store.read("scores")
    assert len(scores) == 16 and scores["reward"].map(math.isfinite).all()
    assert set(scores["correct"]) <= {0.0, 1.0}
    ref = scores[scores["run_id"] == "ref"]
    assert (ref["kl"] == 0).all()  # the reference against itself
    b = scores[scores["run_id"] == "run-b"]
    assert (b["kl"] - (b["logp_policy"] - b["logp_ref"])).abs().max() < 1e-9 and (b["kl"] != 0).any()

    evals = store.read("evals")
    metrics = set(evals[evals["run_id"] == "run-b"]["metric"])
    assert {"reward_mean", "verifier_accuracy", "kl_mean", "winrate_vs_ref", "rm_heldout_accuracy",
            "chosen_logp", "chosen_logratio", "rejected_logratio", "stop_rate"} <= metrics
    assert "winrate_vs_ref" not in set(evals[evals["run_id"] == "ref"]["metric"])
    row = evals[(evals["run_id"] == "run-b") & (evals["metric"] == "reward_mean")].iloc[0]
    assert row["ci_low"] <= row["value"] <= row["ci_high"] and row["n"] == 4
    assert row["value"] == pytest.approx(b.groupby("prompt_id")["reward"].mean().mean())
    acc = evals[(evals["run_id"] == "run-b") & (evals["metric"] == "rm_heldout_accuracy")].iloc[0]
    assert acc["value"] == 0.75 and acc["n"] == 40
    wr = evals[(evals["run_id"] == "run-b") & (evals["metric"] == "winrate_vs_ref")].iloc[0]
    assert 0 <= wr["ci_low"] <= wr["value"] <= wr["ci_high"] <= 1


def test_seeded_sampling_reproduces(setup, evaluated, tmp_path):
    _, first = evaluated
    store = ResultStore(tmp_path)
    evaluate_runs(CFG, targets=[("run-b", str(setup["b"]))], reference=("ref", str(setup["ref"])),
                  prompts=setup["pairs"], store=store, log=lambda s: None)
    cols = ["prompt_id", "sample", "completion"]
    assert store.read("generations", "run-b")[cols].equals(first.read("generations", "run-b")[cols])


def test_reference_rows_are_reused_across_calls(setup, tmp_path):
    store, logs = ResultStore(tmp_path), []
    cfg = {**CFG, "reward_model": str(setup["rm"]), "kl": False}
    evaluate_runs(cfg, targets=[], reference=("ref", str(setup["ref"])), prompts=setup["pairs"], store=store,
                  log=logs.append)
    first = store.read("scores", "ref")
    evaluate_runs(cfg, targets=[("run-b", str(setup["b"]))], reference=("ref", str(setup["ref"])),
                  prompts=setup["pairs"], store=store, log=logs.append)
    assert any("reusing" in line for line in logs)
    assert store.read("scores", "ref").equals(first)
    assert "winrate_vs_ref" in set(store.read("evals", "run-b")["metric"])  # from the stored rewards
    evaluate_runs({**cfg, "bootstrap_iters": 201}, targets=[], reference=("ref", str(setup["ref"])),
                  prompts=setup["pairs"], store=store, log=logs.append)
    assert sum("reusing" in line for line in logs) == 1  # another config: evaluated again


# ---------------------------------------------------------------- bad input: clear errors, nothing started
def _run(setup, tmp_path, cfg=None, prompts="default", reference=None):
    return evaluate_runs({**CFG, **(cfg or {})}, targets=[("b", str(setup["b"]))],
                         reference=reference or ("ref", str(setup["ref"])),
                         prompts=setup["pairs"] if prompts == "default" else prompts,
                         store=ResultStore(tmp_path), log=lambda s: None)


def test_missing_reward_model_is_named(setup, tmp_path):
    CountingHF.starts = 0
    with pytest.raises(HarnessError, match="reward model .*no-rm.*no such directory"):
        _run(setup, tmp_path, {"reward_model": str(tmp_path / "no-rm")})
    assert CountingHF.starts == 0  # failed before the engine started


def test_reward_model_without_pad_token(setup, tmp_path):
    rm = tiny_rm(tmp_path / "rm-nopad", pad=False)
    with pytest.raises(HarnessError, match="no pad token"):
        _run(setup, tmp_path, {"reward_model": str(rm)})


def test_missing_reference_model(setup, tmp_path):
    with pytest.raises(HarnessError, match="reference model"):
        _run(setup, tmp_path, reference=("ref", str(tmp_path / "no-such-model")))


def test_empty_prompt_set(setup, tmp_path):
    with pytest.raises(HarnessError, match="prompt set is empty"):
        _run(setup, tmp_path, prompts=[])


@pytest.mark.slow  # an unknown name means indexing all of lm-eval's tasks (10-30 s)
def test_unknown_lmeval_task(setup, tmp_path):
    pytest.importorskip("lm_eval")
    with pytest.raises(HarnessError, match="unknown lm-eval task.*harness_arithh.*did you mean 'harness_arith'"):
        _run(setup, tmp_path, {"lmeval": {"tasks": ["harness_arithh"]}})


def test_config_errors_name_the_key():
    from harness.errors import ConfigError

    with pytest.raises(ConfigError, match="generation.backend: unknown generation backend 'vlm'; did you mean 'vllm'"):
        EvalConfig.from_mapping({"generation": {"backend": "vlm"}})
    with pytest.raises(ConfigError, match="generation.samples"):
        EvalConfig.from_mapping({"generation": {"samples": 4}})  # greedy: 4 identical samples


def test_reward_model_recipe_is_trained_into_the_store_once(setup, tmp_path):
    """`harness eval` with a recipe (no suite): trained into OUT/rm/<hash>/, then reused."""
    from harness.evaluation.config import config_hash

    recipe = {"data": "arith", "options": {"n_pairs": 20}, "backbone": str(setup["rm"]), "epochs": 1, "lr": 1e-3,
              "max_length": 48}
    cfg = EvalConfig.from_mapping({**CFG, "kl": False, "reward_model": {"train": recipe, "max_length": 48}})
    logs = []
    for _ in range(2):
        status = evaluate_runs(cfg, targets=[("b", str(setup["b"]))], reference=("ref", str(setup["ref"])),
                               prompts=setup["pairs"], store=ResultStore(tmp_path), log=logs.append)
        assert set(status.values()) == {"ok"}
    (rm,) = (tmp_path / "rm").iterdir()
    info = json.loads((rm / "rm.json").read_text())
    assert sum("held-out pairwise accuracy" in line for line in logs) == 1  # trained once
    evals = ResultStore(tmp_path).read("evals")
    acc = evals[evals["metric"] == "rm_heldout_accuracy"]
    assert set(acc["value"]) == {info["heldout_accuracy"]} and set(acc["reward_model"]) == {str(rm)}
    assert set(evals["eval_hash"]) == {config_hash(cfg)}  # the id the suite runner compares


def test_reward_model_shorthand_and_recipe_errors():
    from harness.errors import ConfigError

    assert EvalConfig.from_mapping({"reward_model": "some/dir"}).reward.path == "some/dir"
    with pytest.raises(ConfigError, match=r"^eval: reward_model.train.lrr: unknown key \(did you mean 'lr'\?\)"):
        EvalConfig.from_mapping({"reward_model": {"train": {"data": "arith", "lrr": 1.0}}})
    with pytest.raises(ConfigError, match=r"reward_model.path: give either path .* or train"):
        EvalConfig.from_mapping({"reward_model": {"batch_size": 4}})
