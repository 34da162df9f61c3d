"""`harness explain`: every config key explains itself, from its field metadata."""

from __future__ import annotations

from harness.cli import main
from harness.commands.explain import all_keys


def test_every_config_key_has_help_text():
    missing = [key for items in all_keys().values() for key, _, f in items if not f.metadata.get("help")]
    assert not missing, f"config fields without help (field(..., help=...)): {missing}"


def test_explain_prints_type_default_range_and_help(capsys):
    assert main(["explain", "train.learning_rate"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("train.learning_rate: float = 1e-05  (range > 0)") and "peak learning rate" in out
    assert main(["explain", "base.loss.beta"]) == 0  # a suite's partial run config takes the run keys
    assert "loss.beta: float = 0.1  (range > 0)" in capsys.readouterr().out
    assert main(["explain", "eval.generation"]) == 0  # a section: every key under it
    out = capsys.readouterr().out
    assert "eval.generation.backend" in out and "eval.generation.max_new_tokens" in out


def test_unknown_key_is_a_one_line_error_with_a_suggestion(capsys):
    assert main(["explain", "train.learnig_rate"]) == 2
    assert "did you mean 'train.learning_rate'?" in capsys.readouterr().err


def test_the_readme_suite_example_uses_only_explained_keys():
    """The README's suite example agrees with `harness explain` (keys that exist)."""
    import re
    from pathlib import Path

    import yaml

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = re.search(r"```yaml\n(name: my-study.*?)```", readme, re.S).group(1)
    doc = yaml.safe_load(block)
    known = {k for items in all_keys().values() for k, _, _ in items}

    def walk(d, prefix=""):
        for k, v in d.items():
            key = prefix + k
            if key in ("grid", "base", "sft", "variants") or key.startswith(("report.claims", "eval.reward_model")):
                continue
            assert key in known, key
            if isinstance(v, dict) and any(k2.startswith(key + ".") for k2 in known):  # a section, not a mapping value
                walk(v, key + ".")

    walk(doc)
    from harness.suite.spec import suite_from_dict

    suite_from_dict(doc, source="README.md")  # and it validates
