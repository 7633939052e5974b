"""The whole offline chain against ONE bare encode of the same short, side by side in one run.

Run: .venv/bin/python -m benchmarks.chain_bench [--repeats N] [--before PATH]

Each repeat runs the demo chain (source → transcript → script → voiceover → avatar → short, the offline
engines, a fresh data folder) in its own process, then one bare ffmpeg scale/crop/encode of the same source
to the short's length (`render_bench.bare_ffmpeg`, the encoder settings the render shipped with: veryfast,
crf 23). The order alternates between repeats, so load on the machine falls on both sides alike.

Prints one `name: value` line per figure (medians over the repeats):
  chain_stage_<stage>_seconds / …_cpu_seconds  per stage, from its step start to its step end
  chain_seconds / chain_cpu_seconds            the whole chain; CPU = the process and every child it waited for
  chain_bare_seconds / chain_bare_cpu_seconds  the bare encode of the same source and length
  chain_vs_bare_ratio / chain_vs_bare_cpu_ratio  chain per second of output / bare per second of output
  chain_peak_rss_mb                            the largest resident set of any process of the chain, ffmpeg included
  chain_load_average                           the machine's 1-minute load average at the end

`--before PATH` also runs the chain of another checkout (e.g. `git worktree add /tmp/before HEAD~3`), interleaved
with this one, and prints its figures with a `before_` prefix.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.render_bench import bare_ffmpeg

_ROOT = Path(__file__).resolve().parent.parent
_STEP_EVENTS = {"STEP_START", "STEP_SUCCESS", "STEP_FAILURE"}


def _cpu_now() -> float:
    """CPU seconds of this process (all threads) and of every child it has waited for."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def run_chain(sample: Path) -> dict[str, Any]:
    """Materialize the whole chain for `sample` in this process; per-step wall and CPU, totals and peak RSS."""
    from dagster import DagsterInstance

    from definitions import build_definitions
    from resources.catalog import PARTITIONS_NAME, PIPELINE_JOB
    from resources.media.source_registry import register_source
    from resources.media.store import MediaStore
    from resources.partition_keys import key_for_file
    from resources.records import ShortVideo, SourceRequest
    from resources.settings import PipelineSettings

    with tempfile.TemporaryDirectory(prefix="chain_bench_") as tmp:
        local = Path(tmp) / sample.name
        shutil.copy(sample, local)
        settings = PipelineSettings(data_dir=str(Path(tmp) / "data"), local_source_roots=tmp)
        key = key_for_file(local)
        defs = build_definitions(settings)
        register_source(MediaStore.from_settings(settings), SourceRequest(partition_key=key, source=str(local)))
        instance = DagsterInstance.ephemeral()
        instance.add_dynamic_partitions(PARTITIONS_NAME, [key])

        # Each step's start and end, stamped as Dagster stores the event (the in-process executor runs the steps
        # one after another in this thread, so the CPU between two stamps is that step's).
        marks: dict[str, dict[str, tuple[float, float]]] = {}
        store_event = instance.handle_new_event

        def stamped(event: Any, **kwargs: Any) -> None:
            dagster_event = event.dagster_event
            if dagster_event is not None and dagster_event.event_type_value in _STEP_EVENTS and event.step_key:
                edge = "start" if dagster_event.event_type_value == "STEP_START" else "end"
                marks.setdefault(event.step_key, {})[edge] = (time.perf_counter(), _cpu_now())
            store_event(event, **kwargs)

        instance.handle_new_event = stamped  # type: ignore[method-assign]
        wall0, cpu0 = time.perf_counter(), _cpu_now()
        result = defs.resolve_job_def(PIPELINE_JOB).execute_in_process(
            instance=instance,
            partition_key=key,
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        )
        wall, cpu = time.perf_counter() - wall0, _cpu_now() - cpu0
        short = result.output_for_node("short_video")
        assert isinstance(short, ShortVideo)
    stages = {
        step: {"wall": edges["end"][0] - edges["start"][0], "cpu": edges["end"][1] - edges["start"][1]}
        for step, edges in marks.items()
        if "start" in edges and "end" in edges
    }
    # ru_maxrss is in KiB on Linux; for children it is the largest single child (or grandchild) waited for.
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {
        "stages": stages,
        "wall": wall,
        "cpu": cpu,
        "duration": short.facts.duration_s,
        "peak_rss_mb": max(own, children) / 1024,
    }


def _chain_in_process(tree: Path, sample: Path) -> dict[str, Any]:
    """Run `run_chain` in a fresh interpreter importing the code of `tree`; its JSON answer."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    code = (
        "import json, sys; from pathlib import Path; from benchmarks.chain_bench import run_chain; "
        "print('CHAIN ' + json.dumps(run_chain(Path(sys.argv[1]))))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(sample)], cwd=tree, env=env, capture_output=True, text=True, check=False
    )
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("CHAIN ")), None)
    if proc.returncode != 0 or line is None:
        raise SystemExit(f"chain_bench: the chain failed in {tree}:\n{proc.stderr[-3000:]}")
    answer: dict[str, Any] = json.loads(line[len("CHAIN ") :])
    return answer


def _bare(sample: Path, duration_s: float, out: Path) -> dict[str, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    bare_ffmpeg(sample, out, duration_s, preset="veryfast", crf=23)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": wall, "cpu": cpu}


def _report(prefix: str, chains: list[dict[str, Any]], bares: list[dict[str, float]]) -> None:
    def med(values: list[float]) -> float:
        return statistics.median(values)

    from resources.catalog import STAGES

    for stage in STAGES:
        print(f"{prefix}chain_stage_{stage}_seconds: {med([c['stages'][stage]['wall'] for c in chains]):.2f}")
        print(f"{prefix}chain_stage_{stage}_cpu_seconds: {med([c['stages'][stage]['cpu'] for c in chains]):.2f}")
    duration = med([c["duration"] for c in chains])
    wall, cpu = med([c["wall"] for c in chains]), med([c["cpu"] for c in chains])
    bare_wall, bare_cpu = med([b["wall"] for b in bares]), med([b["cpu"] for b in bares])
    print(f"{prefix}chain_short_seconds: {duration:.2f}")
    print(f"{prefix}chain_seconds: {wall:.2f}")
    print(f"{prefix}chain_cpu_seconds: {cpu:.2f}")
    print(f"{prefix}chain_bare_seconds: {bare_wall:.2f}")
    print(f"{prefix}chain_bare_cpu_seconds: {bare_cpu:.2f}")
    # The bare encode runs on the same source for the short's length, so per second of output is the plain ratio.
    print(f"{prefix}chain_vs_bare_ratio: {wall / bare_wall:.2f}")
    print(f"{prefix}chain_vs_bare_cpu_ratio: {cpu / bare_cpu:.2f}")
    print(f"{prefix}chain_peak_rss_mb: {max(c['peak_rss_mb'] for c in chains):.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--before", type=Path, default=None, help="another checkout to run interleaved")
    opts = parser.parse_args()
    from cli.sample_source import make_sample_source

    trees = {"": _ROOT}
    if opts.before is not None:
        trees["before_"] = opts.before.resolve()
    with tempfile.TemporaryDirectory(prefix="chain_bench_") as tmp:
        sample = make_sample_source(Path(tmp) / "sample.mp4")
        chains: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
        bares: list[dict[str, float]] = []
        for repeat in range(opts.repeats):
            jobs = [*trees, "bare"]
            if repeat % 2:
                jobs.reverse()
            for job in jobs:
                if job == "bare":
                    duration = (chains[""] or [{"duration": 0.0}])[-1]["duration"] or _sample_voice_s(sample)
                    bares.append(_bare(sample, duration, Path(tmp) / "bare.mp4"))
                else:
                    chains[job].append(_chain_in_process(trees[job], sample))
        for prefix, runs in chains.items():
            _report(prefix, runs, bares)
    print(f"chain_load_average: {os.getloadavg()[0]:.1f}")


def _sample_voice_s(sample: Path) -> float:
    """The short's length when the bare pass runs first: the sample's narration, which ends 0.5 s before it."""
    from resources.media.probe import probe

    return max(probe(sample).duration_s - 0.5, 1.0)


if __name__ == "__main__":
    main()
