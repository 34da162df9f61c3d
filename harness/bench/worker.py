"""`python -m harness.bench.worker NAME CONFIG_JSON`: run one benchmark side in this process and
print its metrics (plus peak memory and the process's wall time) as one `BENCH_RESULT {...}` line."""

from __future__ import annotations

import json
import resource
import sys
import time

from harness.bench.common import MARKER, WORKERS

START = time.perf_counter()  # process start, give or take the interpreter's start-up and light imports


def main(argv: list[str]) -> int:
    name, config = argv[0], json.loads(argv[1])
    result = dict(WORKERS.get(name)(config))
    # wall time of the whole process: imports, loading, the work; what a user waits for
    result["process_wall_s"] = time.perf_counter() - START
    # ru_maxrss is in KiB on Linux: the high-water mark of this whole process.
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if "torch" in sys.modules:
        import torch

        if torch.cuda.is_available():
            result["peak_cuda_mb"] = torch.cuda.max_memory_allocated() / 2**20
    print(MARKER + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
