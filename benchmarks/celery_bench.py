"""The same 4-short backfill on the multiprocess executor and on Celery with 1 and 2 CPU workers, side by side.

Run: .venv/bin/python -m benchmarks.celery_bench   (needs Redis at 127.0.0.1:6379 and PostgreSQL at 127.0.0.1:5432,
trust auth for `postgres`, as the system tests do)

One sample source with short speech (`tests.conftest.SHORT_NARRATION`, ≈12 s) is made once and registered as 4
partitions. Each configuration gets a scratch PostgreSQL instance and ledger, a bucket on one moto S3 server (media
and records on S3 for every configuration, so only the executor differs), and launches `short_pipeline_job` for the
4 partitions at once, each run orchestrated by a process of its own (as the run launcher would). Celery workers are
started, and ready, before the clock starts; the api worker runs 8 steps at once as in deploy/docker-compose.yml.

Prints one `name: value` line per figure:
  backfill_<config>_shorts_per_hour   4 shorts × 3600 / the wall time from the launch to the last run's end
  backfill_<config>_seconds           that wall time
  backfill_<config>_load_average      the machine's 1-minute load average when the configuration ended
  celery_step_overhead_s              median over every step of both Celery configurations: STEP_START minus the
                                      orchestrator's "Submitting celery task" event (claim made, task sent); it
                                      includes time queued behind a busy worker
  celery_step_overhead_min_s          the smallest of those: the transport and task start alone
  multiprocess_step_overhead_s        the same for the multiprocess executor ("Launching subprocess" to STEP_START)
  celery_<n>cpu_worker_busy           the cpu workers' step time / (wall time × workers): 1.0 = never idle
  celery_2cpu_vs_1cpu_speedup         2-cpu shorts per hour / 1-cpu shorts per hour
  steps_per_short                     steps in one run of the job
  celery_bench_load_start / _end      the 1-minute load average before the first and after the last configuration

On one 2-core machine two cpu workers share the two cores (and each render's ffmpeg already uses both), so the
speedup is bounded by the cores, not by Celery: it shows the overhead and whether the queue keeps workers busy.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
PARTITIONS = 4
BROKER = "redis://127.0.0.1:6379/6"  # this benchmark's Redis DB; queue names are unique per run on top of it
CONFIGURATIONS = {"multiprocess": 0, "celery_1cpu": 1, "celery_2cpu": 2}  # name -> cpu workers (0: no Celery)
API_CONCURRENCY = 8  # deploy/docker-compose.yml's worker-api
RUN_TIMEOUT_S = 900.0


def _progress(message: str) -> None:
    print(f"celery_bench: {message}", file=sys.stderr, flush=True)


@dataclass
class Outcome:
    """One configuration's backfill: its wall time, send-to-start seconds per step and cpu worker busy fraction."""

    seconds: float
    overheads: list[float]
    busy: float
    steps_per_run: int
    load: float


@contextmanager
def environment(env: dict[str, str]) -> Iterator[None]:
    """This process's environment replaced by `env` (the code location reads SHORTS_* from it), then restored."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def run_partition(key: str) -> int:
    """Orchestrate one run of the job for `key` on the instance in $DAGSTER_HOME (a process per run)."""
    from dagster import DagsterInstance, execute_job, reconstructable

    from tests.system.celery_cluster import full_job

    with DagsterInstance.get() as instance:
        result = execute_job(
            reconstructable(full_job), instance=instance, tags={"dagster/partition": key}, raise_on_error=False
        )
    return 0 if result.success else 1


def measure(name: str, cpu_workers: int, video: Path, endpoint: str, tmp: Path) -> Outcome:
    """Backfill the job for PARTITIONS partitions of `video` with `cpu_workers` Celery cpu workers (0: multiprocess)."""
    import sqlalchemy as sa
    from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus

    from pipeline_assets.pools import apply_pool_limits
    from resources.catalog import PARTITIONS_NAME
    from resources.database.engine import bring_up_to_date, database_url
    from resources.media.source_registry import register_source
    from resources.media.store import MediaStore
    from resources.records import SourceRequest
    from resources.settings import PipelineSettings
    from tests.conftest import scratch_database
    from tests.system import celery_cluster as cluster
    from tests.system.daemon import isolated_env, stop_process_group, tail, write_dagster_home

    setup_started = time.perf_counter()
    tag = uuid.uuid4().hex[:8]
    folder = tmp / name
    cpu_queue, api_queue = f"cpu-{tag}", f"api-{tag}"
    with ExitStack() as stack:
        instance_db = stack.enter_context(scratch_database("bench"))
        ledger = cluster.ledger_url(stack.enter_context(scratch_database("ledger")))
        home = folder / "dagster_home"
        write_dagster_home(home, instance_db)
        (folder / "inbox").mkdir()
        env = isolated_env(home, folder / "data-orchestrator", folder / "inbox")
        env["SHORTS_LOCAL_SOURCE_ROOTS"] = str(video.parent)
        env["PATH"] = f"{cluster.BIN}{os.pathsep}{env.get('PATH', '')}"
        env["PYTHONPATH"] = str(_ROOT)
        bucket = f"bench-{tag}"
        env.update(cluster.s3_env(endpoint, bucket, ledger))
        env.update(cluster.celery_env(BROKER, cpu_queue, api_queue) if cpu_workers else {})
        env.setdefault("SHORTS_STEP_EXECUTION", "multiprocess")
        cluster.create_bucket(endpoint, bucket)
        keys = [f"file-bench-{index}-{tag}" for index in range(PARTITIONS)]
        with environment(env):
            store = MediaStore.from_settings(PipelineSettings.from_env())
            for key in keys:
                register_source(store, SourceRequest(partition_key=key, source=str(video)))
        bring_up_to_date(sa.create_engine(database_url(ledger)))  # `shorts db upgrade`
        instance = stack.enter_context(DagsterInstance.from_config(str(home)))
        apply_pool_limits(instance)
        instance.add_dynamic_partitions(PARTITIONS_NAME, keys)

        stack.callback(cluster.forget_queues, BROKER, tag)
        queues = [(cpu_queue, f"cpu{n}-{tag}", 1) for n in range(cpu_workers)]
        queues += [(api_queue, f"api-{tag}", API_CONCURRENCY)] if cpu_workers else []

        def start(queue: str, worker_name: str, concurrency: int) -> cluster.Worker:
            worker_env = {**env, "SHORTS_DATA_DIR": str(folder / f"data-{worker_name}")}
            worker = cluster.start_worker(queue, worker_name, worker_env, folder / f"worker-{worker_name}.log",
                                          concurrency)  # fmt: skip
            stack.callback(stop_process_group, worker.process)
            return worker

        with ThreadPoolExecutor(max_workers=len(queues) or 1) as pool:  # each worker imports the code location
            workers = list(pool.map(lambda queue: start(*queue), queues))
        _progress(f"{name}: set up in {time.perf_counter() - setup_started:.0f} s")

        started = time.perf_counter()
        logs = [folder / f"run-{key}.log" for key in keys]
        runs = []
        for key, log in zip(keys, logs, strict=True):
            with log.open("wb") as out:
                command = [sys.executable, "-m", "benchmarks.celery_bench", "--run-partition", key]
                runs.append(subprocess.Popen(command, cwd=_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT))
        codes = [run.wait(timeout=RUN_TIMEOUT_S) for run in runs]
        seconds = time.perf_counter() - started
        load = os.getloadavg()[0]
        _progress(f"{name}: {PARTITIONS} runs in {seconds:.0f} s")
        if any(codes):
            failed = [tail(log) for log, code in zip(logs, codes, strict=True) if code]
            raise RuntimeError(f"{name}: {len(failed)} runs failed; the first:\n{failed[0]}\n" +
                               "\n".join(tail(worker.log, 20) for worker in workers))  # fmt: skip

        overheads: list[float] = []
        cpu_step_seconds = 0.0
        records = instance.get_runs()
        assert len(records) == PARTITIONS and all(r.status == DagsterRunStatus.SUCCESS for r in records), records
        steps_per_run = 0
        for run in records:
            overheads += (
                cluster.overheads(instance, run.run_id)
                if cpu_workers  # the multiprocess executor's own "sent": the event before it forks the step
                else cluster.overheads(
                    instance, run.run_id, "Launching subprocess", DagsterEventType.STEP_WORKER_STARTING
                )
            ).values()
            steps_per_run = len(cluster.step_keys(instance, run.run_id, DagsterEventType.STEP_START))
            on_cpu = {step for step, worker in cluster.workers_of_steps(instance, run.run_id).items()
                      if worker.startswith("cpu")}  # fmt: skip
            starts = {r.event_log_entry.step_key: r.event_log_entry.timestamp
                      for r in cluster.records(instance, run.run_id, DagsterEventType.STEP_START)}  # fmt: skip
            for end in cluster.records(instance, run.run_id, DagsterEventType.STEP_SUCCESS):
                if end.event_log_entry.step_key in on_cpu:
                    cpu_step_seconds += end.event_log_entry.timestamp - starts[end.event_log_entry.step_key]
        busy = cpu_step_seconds / (seconds * cpu_workers) if cpu_workers else 0.0
        return Outcome(seconds, overheads, busy, steps_per_run, load)


def main() -> int:
    from cli.sample_source import make_sample_source
    from tests.conftest import SHORT_NARRATION
    from tests.system.celery_cluster import s3_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request otherwise
    load_start = os.getloadavg()[0]
    outcomes: dict[str, Outcome] = {}
    with tempfile.TemporaryDirectory(prefix="celery_bench_") as scratch, s3_server() as endpoint:
        tmp = Path(scratch)
        made = time.perf_counter()
        video = make_sample_source(tmp / "made" / "clip.mp4", narration=SHORT_NARRATION)
        _progress(f"sample source made in {time.perf_counter() - made:.0f} s")
        for name, cpu_workers in CONFIGURATIONS.items():
            outcomes[name] = outcome = measure(name, cpu_workers, video, endpoint, tmp)
            print(f"backfill_{name}_shorts_per_hour: {PARTITIONS * 3600 / outcome.seconds:.1f}")
            print(f"backfill_{name}_seconds: {outcome.seconds:.1f}")
            print(f"backfill_{name}_load_average: {outcome.load:.1f}", flush=True)
    celery = [s for name, o in outcomes.items() if name.startswith("celery") for s in o.overheads]
    print(f"celery_step_overhead_s: {statistics.median(celery):.2f}")
    print(f"celery_step_overhead_min_s: {min(celery):.2f}")
    print(f"multiprocess_step_overhead_s: {statistics.median(outcomes['multiprocess'].overheads):.2f}")
    for name in ("celery_1cpu", "celery_2cpu"):
        print(f"{name}_worker_busy: {outcomes[name].busy:.2f}")
    print(f"celery_2cpu_vs_1cpu_speedup: {outcomes['celery_1cpu'].seconds / outcomes['celery_2cpu'].seconds:.2f}")
    print(f"steps_per_short: {outcomes['multiprocess'].steps_per_run}")
    print(f"celery_bench_load_start: {load_start:.1f}")
    print(f"celery_bench_load_end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-partition", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.exit(run_partition(args.run_partition) if args.run_partition else main())
