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
    assert rc == 2 and f"gone={tmp_path / 'gone'}: no such folder" in capsys.readouterr().err  # before any model

    rc = main(["eval", f"pol={pol}", "--reference", str(tmp_path / "no-ref"), *common])
    assert rc == 2 and "error: reference model" in capsys.readouterr().err


def test_every_missing_target_is_named_before_any_model_loads(tmp_path, capsys, monkeypatch):
    """An unknown run id, a checkpoint folder without weights and a deleted checkpoint: one exit 2
    naming all three, and evaluate_runs (which loads the reference first) is never reached."""
    import harness.evaluation
    from harness.results.store import ResultStore

    def must_not_run(*a, **k):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr(harness.evaluation, "evaluate_runs", must_not_run)
    results = tmp_path / "results"
    store = ResultStore(results)
    for rid in ("emptyrun", "deletedrun"):
        store.write("runs", rid, [{"run_id": rid, "status": "completed", "checkpoint": f"checkpoints/{rid}/final"}])
    (results / "checkpoints" / "emptyrun" / "final").mkdir(parents=True)
    (results / "checkpoints" / "emptyrun" / "final" / "config.json").write_text("{}")
    ref = tmp_path / "ref"
    ref.mkdir()
    (ref / "model.safetensors").write_bytes(b"")
    gone = f"gone={tmp_path / 'gone'}"
    rc = main(["eval", "nosuchrun", "emptyrun", "deletedrun", gone, "--reference", str(ref), "--results", str(results),
               "--out", str(tmp_path / "out"), "--prompts", "arith", "--backend", "hf"])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: ") and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    for words in ("4 of 4 target(s) cannot be evaluated", f"nosuchrun: not a run id of {results}",
                  "emptyrun: ", "holds no model weights", "deletedrun: run deletedrun's checkpoint",
                  "does not exist", f"{gone}: no such folder"):
        assert words in err, (words, err)
    assert not (tmp_path / "out").exists()
