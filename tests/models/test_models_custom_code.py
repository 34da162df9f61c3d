"""A model folder that needs custom code (`auto_map` pointing at its own Python file) is refused
while `trust_remote_code` is off, and its code never runs, even in a terminal where transformers
would ask "Do you wish to run the custom code? [y/N]" and the answer is `y` (harness.models.custom_code).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from builders import evil_model

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "suites" / "examples" / "train-tiny.yaml"
FAST = ["train.steps=1", "train.warmup_steps=0", "train.eval_every=0", "train.checkpoint_every=0"]


def _in_a_terminal(argv: list[str], env: dict, answer: bytes = b"y\n", timeout: float = 240) -> tuple[int, str]:
    """Run `python -m harness.cli ARGV` with a pseudo-terminal as stdin/stdout/stderr (where
    transformers would ask "Do you wish to run the custom code? [y/N]"), answering `y`."""
    import os
    import select
    import subprocess
    import sys
    import time

    master, slave = os.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", *argv], stdin=slave, stdout=slave, stderr=slave,
                            env=env, close_fds=True)
    os.close(slave)
    out, deadline = b"", time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                out += chunk
                if b"[y/N]" in chunk:
                    os.write(master, answer)
            elif proc.poll() is not None:
                break
        return proc.wait(timeout=30), out.decode(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)


@pytest.mark.parametrize("command", ["eval", "train"])
def test_a_model_needing_custom_code_is_refused_and_never_runs(tmp_path, command):
    import os
    import subprocess
    import sys

    model, mark = evil_model(tmp_path)
    env = {**os.environ, "HF_MODULES_CACHE": str(tmp_path / "modules")}
    argv = (["eval", str(model), "--reference", "tiny-arith-sft", "--backend", "hf", "--prompts", "arith",
             "--set", "generation.n_prompts=2", "--out", str(tmp_path / "out")]
            if command == "eval" else ["train", str(TINY), f"model.init_from={model}", "--out", str(tmp_path / "out"), *FAST])
    code, out = _in_a_terminal(argv, env)
    assert code == 2, out
    assert "needs custom code" in out and str(model) in out and "Traceback" not in out, out
    assert ("model.trust_remote_code: true" if command == "train" else "never runs") in out, out
    assert not mark.exists()  # the folder's Python file was never imported
    assert not (tmp_path / "out" / "runs").exists()
    # the control: the same folder, trusted, does run its file (so the assertion above can fail)
    probe = "from transformers import AutoConfig; import sys; AutoConfig.from_pretrained(sys.argv[1], trust_remote_code=True)"
    subprocess.run([sys.executable, "-c", probe, str(model)], env=env, check=True, capture_output=True)
    assert mark.read_text() == "ran"
