"""The training loop on the tiny model: DPO learns, MinorDPO's gate, SFT, LoRA, metrics contract."""

from __future__ import annotations

import math

import pytest
import torch

from harness.config import from_dict
from harness.results import ResultStore
from harness.results.schema import TABLES
from harness.trainer import train_run
from harness.trainer.config import RunConfig


def make_cfg(**sections) -> RunConfig:
    base = {"name": "t", "model": {"name": "tiny"},
            "data": {"train": "arith", "options": {"n_pairs": 64}, "eval_size": 16,
                     "max_prompt_len": 16, "max_response_len": 32},
            "loss": {"name": "dpo", "beta": 0.1},
            "train": {"steps": 4, "batch_size": 8, "learning_rate": 2e-3, "threads": 1}}
    for key, value in sections.items():
        base[key] = {**base.get(key, {}), **value} if isinstance(value, dict) else value
    return from_dict(RunConfig, base)


def train_rows(out, run_id):
    df = ResultStore(out).read("steps", run_id)
    return df[df.split == "train"].sort_values("step"), df[df.split == "eval"].sort_values("step")


def test_dpo_loss_falls_and_reward_accuracy_rises(tmp_path):
    cfg = make_cfg(train={"steps": 40, "batch_size": 16, "eval_every": 20, "save_final": False})
    result = train_run(cfg, tmp_path)
    assert result.status == "completed" and result.steps == 40
    train, evals = train_rows(tmp_path, result.run_id)
    first, last = train.head(5), train.tail(5)
    assert last.loss.mean() < first.loss.mean() - 0.2
    assert last.reward_accuracy.mean() > first.reward_accuracy.mean() + 0.2
    assert train.step.tolist() == list(range(1, 41)) and evals.step.tolist() == [20, 40]
    assert train.iloc[0].logratio_chosen == pytest.approx(0, abs=1e-4)  # step 1: policy == reference
    assert (train.learning_rate > 0).all() and train.learning_rate.is_monotonic_decreasing


def test_steps_and_runs_rows_follow_the_contract(tmp_path):
    result = train_run(make_cfg(train={"steps": 3, "eval_every": 3}), tmp_path, suite="s1")
    steps = ResultStore(tmp_path).read("steps")
    assert set(TABLES["steps"]) <= set(steps.columns)
    per_update = ("grad_norm", "learning_rate", "step_s")  # undefined for eval rows (NaN there)
    assert steps[steps.split == "train"][list(TABLES["steps"])].notna().all().all()
    assert steps[steps.split == "eval"][[c for c in TABLES["steps"] if c not in per_update]].notna().all().all()
    assert (steps.tokens > 0).all() and sorted(steps.split.unique()) == ["eval", "train"]
    runs = ResultStore(tmp_path).read("runs")
    assert set(TABLES["runs"]) <= set(runs.columns) and len(runs) == 1
    row = runs.iloc[0]
    assert (row.run_id, row.suite, row.status, row.steps, row.loss_name) == (result.run_id, "s1", "completed", 3, "dpo")
    assert '"beta":0.1' in row.config_json and "torch" in row.env_json
    assert result.checkpoint is not None and (result.checkpoint / "model.safetensors").is_file()
    assert (result.checkpoint / "tokenizer.json").is_file()


def test_minor_dpo_with_every_rejected_below_reference_updates_like_the_chosen_term_alone():
    """With r_l < 0 on every pair, MinorDPO's gradient, and so the AdamW update, is that of
    -log sigma(beta * r_w): the rejected responses get no gradient at all."""
    from harness.data.arith import generate
    from harness.data.tokenize import collate, tokenize_pairs
    from harness.logprobs.logps import sequence_logps, split_pairs
    from harness.losses import get_loss
    from harness.models import load_causal_lm, load_tokenizer, model_dir
    from harness.trainer.config import ModelConfig, TrainConfig
    from harness.trainer.optim import build_optimizer

    path = model_dir(ModelConfig(name="tiny"))
    tok = load_tokenizer(path)
    pairs, _ = tokenize_pairs(generate("train", n_pairs=8), tok, max_prompt_len=16, max_response_len=32)
    batch = collate(pairs, tok.pad_token_id)
    beta = 0.5
    with torch.no_grad():
        pc0, pr0 = split_pairs(sequence_logps(load_causal_lm(path), batch).logps)
    ref_c, ref_r = pc0 - 0.3, pr0 + torch.linspace(0.5, 2.0, len(pairs))  # r_w = 0.3, r_l in [-2, -0.5]

    def one_step(loss_fn):
        model = load_causal_lm(path).train()
        opt = build_optimizer(model, TrainConfig(learning_rate=1e-2))
        pc, pr = split_pairs(sequence_logps(model, batch).logps)
        loss_fn(pc, pr).mean().backward()
        grads = [p.grad.clone() for p in model.parameters()]
        opt.step()
        return grads, [p.detach().clone() for p in model.parameters()]

    minor = get_loss("minor_dpo")
    g_minor, p_minor = one_step(lambda pc, pr: minor(pc, pr, ref_c, ref_r, beta=beta).losses)
    g_chosen, p_chosen = one_step(lambda pc, pr: -torch.nn.functional.logsigmoid(beta * (pc - ref_c)))
    g_dpo, _ = one_step(lambda pc, pr: get_loss("dpo")(pc, pr, ref_c, ref_r, beta=beta).losses)
    for a, b in zip(g_minor, g_chosen, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-8)
    for a, b in zip(p_minor, p_chosen, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-8)
    assert max((a - b).abs().max().item() for a, b in zip(g_minor, g_dpo, strict=True)) > 1e-4  # DPO differs: not vacuous


def test_sft_trains_on_chosen_through_the_same_loop_and_reports_log_ratios(tmp_path):
    cfg = make_cfg(loss={"name": "sft"}, train={"steps": 30, "batch_size": 16, "learning_rate": 3e-3,
                                                "save_final": False})
    result = train_run(cfg, tmp_path)
    train, _ = train_rows(tmp_path, result.run_id)
    assert result.status == "completed" and result.ref_cache_hit is False  # cheap model: reference computed
    assert train.tail(5).loss.mean() < train.head(5).loss.mean() - 0.5
    assert train.tail(5).logps_chosen.mean() > train.head(5).logps_chosen.mean()
    assert train.logratio_chosen.notna().all() and train.tail(5).logratio_chosen.mean() > 0


def test_lora_run_saves_adapter_and_merged_weights_that_agree(tmp_path):
    from peft import PeftModel
    from safetensors import safe_open

    from harness.data.arith import generate
    from harness.data.tokenize import collate, tokenize_pairs
    from harness.logprobs.logps import sequence_logps
    from harness.models import load_causal_lm, load_tokenizer

    cfg = make_cfg(model={"name": "tiny", "lora": {"r": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj"]}},
                   train={"steps": 3, "learning_rate": 1e-2})
    result = train_run(cfg, tmp_path)
    assert result.status == "completed"
    final = result.checkpoint
    with safe_open(final / "model.safetensors", "pt") as f:
        assert not [k for k in f.keys() if "lora" in k]  # merged, plain weights
    assert (final.parent / "adapter" / "adapter_config.json").is_file()
    runs = ResultStore(tmp_path).read("runs")
    base = runs.iloc[0].model_dir
    tok = load_tokenizer(final)
    pairs, _ = tokenize_pairs(generate("test", n_pairs=4), tok, max_prompt_len=16, max_response_len=32)
    batch = collate(pairs, tok.pad_token_id)
    with torch.no_grad():
        merged = sequence_logps(load_causal_lm(final), batch).logps
        adapter = sequence_logps(PeftModel.from_pretrained(load_causal_lm(base), final.parent / "adapter"), batch).logps
        untouched = sequence_logps(load_causal_lm(base), batch).logps
    torch.testing.assert_close(merged, adapter, rtol=1e-4, atol=1e-3)
    assert (merged - untouched).abs().max() > 1e-3  # training changed the model


def test_grad_accumulation_matches_one_big_batch(tmp_path):
    """2 x 4 pairs accumulated == the same 8 pairs in one micro-batch (same loss and gradient).

    Gradients, not the AdamW update, are compared: Adam's first step is ~lr * sign(g), which
    turns float noise in near-zero gradient entries into full-size differences."""
    from harness.trainer.loop import Loop
    from harness.trainer.setup import prepare

    def first_step(batch_size, accum):
        cfg = make_cfg(train={"steps": 1, "batch_size": batch_size, "grad_accum": accum, "threads": 1})
        session = prepare(cfg, tmp_path)
        loop = Loop(session, cfg, folder=tmp_path / "ck", run_id="x")
        loop.micro_batch = lambda k: list(range(k * batch_size, (k + 1) * batch_size))  # the same 8 pairs
        row = loop.train_step(0)
        return row, [p.grad.clone() for p in session.model.parameters()]

    row_a, grads_a = first_step(8, 1)
    row_b, grads_b = first_step(4, 2)
    assert row_a["loss"] == pytest.approx(row_b["loss"], rel=1e-5)
    assert row_a["tokens"] == row_b["tokens"] > 0
    assert math.isclose(row_a["grad_norm"], row_b["grad_norm"], rel_tol=1e-4)
    for a, b in zip(grads_a, grads_b, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-7)


def test_gradient_checkpointing_gives_the_same_step(tmp_path):
    from harness.trainer.loop import Loop
    from harness.trainer.setup import prepare

    def first_row(checkpointing):
        cfg = make_cfg(model={"name": "tiny", "gradient_checkpointing": checkpointing})
        loop = Loop(prepare(cfg, tmp_path), cfg, folder=tmp_path / "ck", run_id="x")
        assert loop.model.is_gradient_checkpointing == checkpointing
        return loop.train_step(0)

    plain, recomputed = first_row(False), first_row(True)
    assert plain["loss"] == pytest.approx(recomputed["loss"], rel=1e-6)
    assert plain["grad_norm"] == pytest.approx(recomputed["grad_norm"], rel=1e-5)
