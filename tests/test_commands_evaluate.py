"""`harness eval`: targets, reference, config overrides, summary, exit codes."""

from __future__ import annotations

import pytest

from harness.cli import main
from harness.commands.evaluate import load_eval_config, split_target

pytest.importorskip("torch")


def test_target_ids():
    assert split_target("dpo=ckpt/a") == ("dpo", "ckpt/a")
    assert split_target("results/x/checkpoints/abc123/final") == ("abc123", "results/x/checkpoints/abc123/final")
    assert split_target("models/sft") == ("sft", "models/sft")


def test_config_file_and_overrides(tmp_path):
    cfg_file = tmp_path / "suite.yaml"
    cfg_file.write_text("name: s\neval:\n  generation: {backend: hf, n_prompts: 8}\n  kl: false\n")
    cfg = load_eval_config(str(cfg_file), ["generation.n_prompts=3", "lmeval.tasks=[harness_arith]"])
    assert (cfg.generation.backend, cfg.generation.n_prompts, cfg.kl, cfg.lmeval.tasks) == ("hf", 3, False, ["harness_arith"])


def test_eval_command_end_to_end(tmp_path, capsys):
    from harness.models.tiny import build
    from harness.results.store import ResultStore

    opts = {"hidden_size": 64, "num_attention_heads": 2, "intermediate_size": 128}
    ref = build(texts=[], seed=0, options=opts, cache_dir=tmp_path)
    pol = build(texts=[], seed=1, options=opts, cache_dir=tmp_path)
    out = tmp_path / "results"
    common = ["--out", str(out), "--prompts", "arith", "--backend", "hf", "--set", "prompts.options={split: test, n_pairs: 3}",
              "--set", "generation.n_prompts=3", "--set", "generation.max_new_tokens=8", "--set", "bootstrap_iters=50"]
    rc = main(["eval", f"pol={pol}", "--reference", f"ref={ref}", *common])
    printed = capsys.readouterr().out
    assert rc == 0 and "pol: ok" in printed and "ref: ok" in printed and "kl_mean=" in printed
    assert sorted(ResultStore(out).read("generations")["run_id"].unique()) == ["pol", "ref"]

    rc = main(["eval", f"gone={tmp_path / 'gone'}", "--reference", f"ref={ref}", *common])
    assert rc == 1 and "gone: failed" in capsys.readouterr().out

    rc = main(["eval", f"pol={pol}", "--reference", str(tmp_path / "no-ref"), *common])
    assert rc == 2 and "error: reference model" in capsys.readouterr().err
