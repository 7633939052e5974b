"""Benchmark of what every run worker and step process pays before it does any work: loading the code location.

Side by side in one run, each the median of three fresh interpreters:
- `import definitions` with the bytecode `make setup` compiles (uv `--compile-bytecode`), and
  with none: PYTHONPYCACHEPREFIX points at an empty folder, which is what every process met while
  PYTHONDONTWRITEBYTECODE (set on this machine and in the image) kept Python from caching its compiles;
- a child process started as the multiprocess executor starts a step: `spawn` (a new interpreter importing the
  code location, Python's and Dagster's default) against `forkserver` with the code location preloaded (ours).

    .venv/bin/python -m benchmarks.process_start_bench
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

MODULE = "definitions"
REPEATS = 3


def import_seconds(extra_env: dict[str, str]) -> float:
    """Median wall seconds of a fresh interpreter importing the code location."""
    env = {**os.environ, **extra_env}
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", f"import {MODULE}"], env=env, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _step(queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    __import__(MODULE)  # what a step process needs before it can run an asset
    queue.put(os.getpid())


def child_seconds(method: str) -> float:
    """Median wall seconds to start a child that has the code location loaded, after the first (warm-up) one."""
    context: Any = multiprocessing.get_context(method)
    if method == "forkserver":
        context.set_forkserver_preload([MODULE])
    queue = context.Queue()
    times = []
    for _ in range(REPEATS + 1):
        started = time.perf_counter()
        child = context.Process(target=_step, args=(queue,))
        child.start()
        queue.get(timeout=120)
        child.join()
        times.append(time.perf_counter() - started)
    return statistics.median(times[1:])  # the first forkserver start pays its one preload


def main() -> None:
    compiled = import_seconds({})
    with tempfile.TemporaryDirectory() as empty:
        uncached = import_seconds({"PYTHONPYCACHEPREFIX": empty, "PYTHONDONTWRITEBYTECODE": "1"})
    print(f"code_location_import_seconds: {compiled:.2f}")
    print(f"code_location_import_uncached_seconds: {uncached:.2f}")
    print(f"import_uncached_vs_compiled_ratio: {uncached / compiled:.2f}")
    spawn, forkserver = child_seconds("spawn"), child_seconds("forkserver")
    print(f"step_process_spawn_seconds: {spawn:.2f}")
    print(f"step_process_forkserver_seconds: {forkserver:.3f}")
    print(f"step_process_spawn_vs_forkserver_ratio: {spawn / forkserver:.1f}")


if __name__ == "__main__":
    main()
