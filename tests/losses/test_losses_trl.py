"""Cross-check against TRL 1.16's `DPOTrainer` on the loss definitions the two share.

TRL 1.16 computes every loss inline in `DPOTrainer._compute_loss` (there is no `dpo_loss()`
function to call on log-prob tensors any more), so the check runs the real trainer: one step on a
tiny random Llama (hidden 64, 2 layers, 2 heads) with a word-level tokenizer trained here, a
*different* random reference model (so log-ratios are not all zero), and
`precompute_ref_log_probs=True`. TRL's logged loss and rewards on that single batch (the whole
8-pair dataset, so batch order cannot matter) are compared with `harness.losses` evaluated on
per-sequence log-probs this test computes itself, in float64, one unpadded sequence at a time.

Mapping and known differences (read from trl/trainer/dpo_trainer.py, `_compute_loss`):

- `sigmoid` ↔ `dpo`; `hinge` ↔ `hinge`; `robust` ↔ `rdpo` (same label_smoothing).
- `ipo` ↔ `ipo` with `length_normalize=True`. TRL divides each log-ratio by its completion token
  count (EOS included) before forming h, "confirmed with the IPO authors"; the paper's Eq. 17 as
  written, and our default, uses the summed log-ratios. The two differ whenever lengths are not 1,
  which the test also asserts.
- `sigmoid` + `label_smoothing`: up to TRL 0.28 this was conservative DPO (our `cdpo`). In 1.16
  the sigmoid branch ignores `label_smoothing` (it only feeds robust, exo_pair and aot), so TRL's
  loss equals our `dpo` and differs from our `cdpo`; the test pins that, so a TRL upgrade that
  brings cDPO back shows up here.
- MinorDPO, DPOP, SimPO, RPO (as a single loss) and our `sft` have no TRL DPOTrainer counterpart.
"""

from __future__ import annotations

import copy
import math
import random

import pytest
import torch

from harness.losses import get_loss

trl = pytest.importorskip("trl")
if not trl.__version__.startswith("1.16."):
    pytest.skip(f"written against TRL 1.16's DPOTrainer source, found {trl.__version__}", allow_module_level=True)

BETA = 0.5
N_PAIRS = 8
WORDS = "the cat dog sat ran on a mat big small red blue yes no one two".split()


@pytest.fixture(scope="module")
def setup():
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    torch.set_num_threads(1)
    rng = random.Random(0)

    def sentence(n):
        return " ".join(rng.choice(WORDS) for _ in range(n))

    # lengths differ between chosen and rejected so the IPO length normalisation matters
    rows = [{"prompt": sentence(rng.randint(3, 6)) + " :", "chosen": " " + sentence(rng.randint(1, 7)),
             "rejected": " " + sentence(rng.randint(1, 7))} for _ in range(N_PAIRS)]
    raw = Tokenizer(models.WordLevel(unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.Whitespace()
    raw.train_from_iterator(WORDS + [":"], trainers.WordLevelTrainer(special_tokens=["<pad>", "<unk>", "</s>"]))
    tok = PreTrainedTokenizerFast(tokenizer_object=raw, pad_token="<pad>", unk_token="<unk>", eos_token="</s>")
    # initializer_range 0.5 (not 0.02) gives log-ratios of a few nats, so the hinge has pairs on both
    # sides of its kink and the losses are far from their r = 0 values
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64,
                      initializer_range=0.5, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                      bos_token_id=None)
    torch.manual_seed(0)
    policy = LlamaForCausalLM(cfg)
    torch.manual_seed(1)
    ref = LlamaForCausalLM(cfg)
    return {"rows": rows, "tok": tok, "cfg": cfg, "policy": policy, "ref": ref,
            "initial": copy.deepcopy(policy.state_dict()), "ref_weights": copy.deepcopy(ref.state_dict())}


def trl_step(setup, tmp_path, loss_type: str, label_smoothing: float = 0.0):
    """One DPOTrainer step from the initial weights; returns (first log entry, tokenized dataset)."""
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    policy = setup["policy"]
    policy.load_state_dict(setup["initial"])
    args = DPOConfig(
        output_dir=str(tmp_path), loss_type=[loss_type], label_smoothing=label_smoothing, beta=BETA,
        per_device_train_batch_size=N_PAIRS, max_steps=1, logging_steps=1, learning_rate=1e-3,
        bf16=False, gradient_checkpointing=False, precompute_ref_log_probs=True, use_cpu=True,
        report_to="none", save_strategy="no", disable_tqdm=True, dataloader_num_workers=0, seed=0,
    )
    trainer = DPOTrainer(model=policy, ref_model=setup["ref"], args=args,
                         train_dataset=Dataset.from_list(setup["rows"]), processing_class=setup["tok"])
    trainer.train()
    log = trainer.state.log_history[0]
    assert log["step"] == 1 and math.isfinite(log["loss"])
    return log, trainer.train_dataset


def summed_logps(model, prompt_ids, completion_ids) -> float:
    """Sum of log p(completion token | everything before it), float64, one unpadded sequence."""
    ids = torch.tensor([prompt_ids + completion_ids])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0].double()
    logp = torch.log_softmax(logits[:-1], dim=-1).gather(1, ids[0, 1:, None])[:, 0]
    return float(logp[len(prompt_ids) - 1:].sum())


def our_inputs(setup, dataset):
    """Per-pair log-probs from the *initial* policy and the reference, plus completion lengths."""
    from transformers import LlamaForCausalLM

    # Fresh models from the saved weights: the trainer patches the forward of the instances it was
    # given (fused LM head), so a deepcopy of those would still run the trained policy.
    policy, ref = LlamaForCausalLM(setup["cfg"]), LlamaForCausalLM(setup["cfg"])
    policy.load_state_dict(setup["initial"])
    ref.load_state_dict(setup["ref_weights"])
    policy, ref = policy.double().eval(), ref.double().eval()
    cols = {k: [] for k in ("pc", "pr", "rc", "rr", "trl_rc", "trl_rr", "lc", "lr")}
    for ex in dataset:
        cols["pc"].append(summed_logps(policy, ex["prompt_ids"], ex["chosen_ids"]))
        cols["pr"].append(summed_logps(policy, ex["prompt_ids"], ex["rejected_ids"]))
        cols["rc"].append(summed_logps(ref, ex["prompt_ids"], ex["chosen_ids"]))
        cols["rr"].append(summed_logps(ref, ex["prompt_ids"], ex["rejected_ids"]))
        cols["trl_rc"].append(ex["ref_chosen_logps"])
        cols["trl_rr"].append(ex["ref_rejected_logps"])
        cols["lc"].append(len(ex["chosen_ids"]))
        cols["lr"].append(len(ex["rejected_ids"]))
    return {k: torch.tensor(v, dtype=torch.float64) for k, v in cols.items()}


def ours(x, name: str, **params) -> tuple[float, torch.Tensor, torch.Tensor]:
    out = get_loss(name)(x["pc"], x["pr"], x["rc"], x["rr"], beta=BETA, chosen_lengths=x["lc"],
                         rejected_lengths=x["lr"], **params)
    return float(out.losses.mean()), out.chosen_rewards, out.rejected_rewards


# TRL loss_type, label_smoothing, our loss, our params
CASES = [
    ("sigmoid", 0.0, "dpo", {}),
    ("hinge", 0.0, "hinge", {}),
    ("robust", 0.2, "rdpo", {"label_smoothing": 0.2}),
    ("ipo", 0.0, "ipo", {"length_normalize": True}),
]


def test_trl_cross_check(setup, tmp_path):
    """All shared definitions in one test so TRL's import and the fixture are paid for once."""
    x = None
    for loss_type, ls, name, params in CASES:
        log, dataset = trl_step(setup, tmp_path, loss_type, ls)
        if x is None:
            x = our_inputs(setup, dataset)
            # our reference log-probs are the ones TRL precomputed (float32 vs our float64)
            torch.testing.assert_close(x["rc"], x["trl_rc"], rtol=1e-5, atol=1e-4)
            torch.testing.assert_close(x["rr"], x["trl_rr"], rtol=1e-5, atol=1e-4)
            h = (x["pc"] - x["rc"]) - (x["pr"] - x["rr"])
            assert (1 - BETA * h > 0).any() and (1 - BETA * h < 0).any(), "hinge kink not straddled"
            assert (x["lc"] != x["lr"]).any()
        loss, rw, rl = ours(x, name, **params)
        assert log["loss"] == pytest.approx(loss, rel=1e-5, abs=1e-6), (loss_type, log["loss"], loss)
        # TRL logs batch means of beta * log-ratio, the same definition as our rewards
        assert log["rewards/chosen"] == pytest.approx(float(rw.mean()), rel=1e-5, abs=1e-5)
        assert log["rewards/rejected"] == pytest.approx(float(rl.mean()), rel=1e-5, abs=1e-5)
        assert log["rewards/margins"] == pytest.approx(float((rw - rl).mean()), rel=1e-5, abs=1e-5)
        assert log["logps/chosen"] == pytest.approx(float(x["pc"].mean()), rel=1e-5)

        if loss_type == "ipo":  # the paper's summed IPO is a different number on the same batch
            assert ours(x, "ipo")[0] != pytest.approx(loss, rel=1e-2)

    # sigmoid + label_smoothing: TRL 1.16 ignores the smoothing (no cDPO any more)
    log, _ = trl_step(setup, tmp_path, "sigmoid", 0.1)
    assert log["loss"] == pytest.approx(ours(x, "dpo")[0], rel=1e-5)
    assert log["loss"] != pytest.approx(ours(x, "cdpo", label_smoothing=0.1)[0], rel=1e-3)
