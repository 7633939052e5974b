"""Steps on Celery workers: the offline chain of one partition runs as tasks on two real workers (one per queue),
a worker process killed mid-render fails the run, and re-execution from failure on a new worker redoes only the
unfinished steps.

Distributed shape on one machine: Redis (a DB of its own, queue names unique to this test), the instance on a
scratch PostgreSQL database, media and records on moto's S3 server, the ledger in PostgreSQL, and each worker with
a data folder of its own, so nothing passes between steps through a shared disk. Workers are started the way the
deployment starts them (`dagster-celery worker start -A dagster_celery.app -q <queue> -y deploy/celery.yaml`).

The run's orchestrator is this test process (execute_job); it claims each step's pool slot in the instance before
it sends the task, so the per-API pools hold across workers. The kill: the worker's pool process that runs
`short_video` (the pid its STEP_START reports), with its ffmpeg, gets SIGKILL; the worker's main process reports the
task lost (WorkerLostError), and the orchestrator fails the run.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import sqlalchemy as sa
from dagster import (
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    EventLogRecord,
    ReexecutionOptions,
    execute_job,
    reconstructable,
)

from cli.sample_source import make_sample_source
from pipeline_assets.partitions import source_videos
from pipeline_assets.pools import apply_pool_limits
from resources.database.engine import bring_up_to_date, database_url
from resources.media.probe import probe
from resources.media.source_registry import register_source
from resources.media.store import MediaStore
from resources.partition_keys import key_for_file
from resources.records import SourceRequest
from resources.settings import PipelineSettings
from tests.conftest import SHORT_NARRATION, scratch_database
from tests.system.celery_cluster import (
    BIN,
    Worker,
    celery_env,
    create_bucket,
    forget_queues,
    full_job,
    ledger_url,
    overheads,
    records,
    s3_env,
    s3_server,
    step_keys,
    workers_of_steps,
)
from tests.system.celery_cluster import start_worker as start_cluster_worker
from tests.system.daemon import isolated_env, stop_process_group, tail, write_dagster_home
from tests.system.test_kill_and_resume import kill_process_tree, parent_pids

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(900)]

BROKER = "redis://127.0.0.1:6379/5"  # this test's Redis DB; queue names are unique per run on top of it
KILLED_STAGE = "short_video"
UPSTREAM = ["source_video", "transcript", "script", "voiceover", "avatar_video"]
CPU_STEPS = {"transcript", "script", "voiceover", "avatar_video", "short_video"}  # the offline engines
RENDER_START_S = 420.0  # five stages on a busy 2-core machine, each a task picked up by a worker
RUN_END_S = 180.0


def descendants(worker: Worker) -> set[int]:
    """Every process under the worker's main process (its pool processes and their ffmpeg)."""
    parents = parent_pids()
    tree, frontier = set(), [worker.process.pid]
    while frontier:
        pid = frontier.pop()
        children = [child for child, parent in parents.items() if parent == pid]
        tree.update(children)
        frontier.extend(children)
    return tree


def start_worker(queue: str, name: str, env: dict[str, str], log: Path) -> Worker:
    """One step at a time on a cpu queue (as in the deployment, one per core), two on the api queue."""
    try:
        return start_cluster_worker(queue, name, env, log, concurrency=1 if queue.startswith("cpu") else 2)
    except RuntimeError as exc:
        pytest.fail(str(exc))


@pytest.fixture
def ledger_db() -> Iterator[str]:
    """The pipeline's database, apart from the instance's: both keep their schema version in `alembic_version`."""
    with scratch_database("ledger") as name:
        yield ledger_url(name)


@pytest.fixture
def s3_endpoint() -> Iterator[str]:
    with s3_server() as endpoint:
        yield endpoint


def step_event(instance: DagsterInstance, run_id: str, event_type: DagsterEventType, step: str) -> EventLogRecord:
    [record] = [r for r in records(instance, run_id, event_type) if r.event_log_entry.step_key == step]
    return record


def wait_for_run_id(instance: DagsterInstance, thread: threading.Thread) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        runs = instance.get_runs()
        if runs:
            return runs[0].run_id
        assert thread.is_alive(), "the run ended before it was recorded"
        time.sleep(0.2)
    pytest.fail("the run was not created within 60 s")


def wait_for_step_start(instance: DagsterInstance, run_id: str, step: str, logs: list[Path]) -> None:
    deadline = time.monotonic() + RENDER_START_S
    while time.monotonic() < deadline:
        if step in step_keys(instance, run_id, DagsterEventType.STEP_START):
            return
        run = instance.get_run_by_id(run_id)
        if run is not None and run.is_finished:
            pytest.fail(f"run {run_id} ended ({run.status.value}) before {step} started:\n" + tail(logs[0]))
        time.sleep(0.2)
    pytest.fail(f"{step} did not start within {RENDER_START_S:.0f} s:\n" + "\n".join(tail(log) for log in logs))


def test_steps_run_on_the_workers_of_their_queue_and_a_lost_worker_process_is_resumed_on_a_new_worker(
    postgres_db: str, ledger_db: str, tmp_path: Path, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, inbox = tmp_path / "dagster_home", tmp_path / "inbox"
    write_dagster_home(home, postgres_db)
    inbox.mkdir()
    run_tag = uuid.uuid4().hex[:8]
    cpu_queue, api_queue = f"cpu-{run_tag}", f"api-{run_tag}"
    bucket = f"shorts-{run_tag}"
    env = isolated_env(home, tmp_path / "data-orchestrator", inbox)
    env.update(celery_env(BROKER, cpu_queue, api_queue))
    env.update(s3_env(s3_endpoint, bucket, ledger_db))
    create_bucket(s3_endpoint, bucket)
    # The test process orchestrates the runs: it needs the code location's environment too.
    for name in [name for name in os.environ if name.startswith("SHORTS_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        if name.startswith(("SHORTS_", "AWS_")) or name == "DAGSTER_HOME":
            monkeypatch.setenv(name, value)
    store = MediaStore.from_settings(PipelineSettings.from_env())
    video = make_sample_source(tmp_path / "made" / "clip.mp4", narration=SHORT_NARRATION)
    key = key_for_file(video)
    register_source(store, SourceRequest(partition_key=key, source=str(video)))
    # Each worker has a data folder of its own: media and records travel through S3 only.
    # `dagster-celery worker start` runs `celery` from the PATH: this environment's.
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    worker_env = {
        queue: {**env, "SHORTS_DATA_DIR": str(tmp_path / f"data-{queue}")} for queue in [cpu_queue, api_queue]
    }

    workers: list[Worker] = []
    try:
        with DagsterInstance.from_config(str(home)) as instance:
            bring_up_to_date(sa.create_engine(database_url(env["SHORTS_LEDGER_URL"])))  # `shorts db upgrade`
            apply_pool_limits(instance)
            instance.add_dynamic_partitions(source_videos.name or "source_videos", [key])
            cpu = start_worker(cpu_queue, f"cpu-{run_tag}", worker_env[cpu_queue], tmp_path / "worker-cpu.log")
            api = start_worker(api_queue, f"api-{run_tag}", worker_env[api_queue], tmp_path / "worker-api.log")
            workers += [cpu, api]
            logs = [cpu.log, api.log]

            outcome: dict[str, object] = {}

            def run_chain() -> None:
                try:
                    with DagsterInstance.from_config(str(home)) as own:
                        outcome["result"] = execute_job(
                            reconstructable(full_job), instance=own, tags={"dagster/partition": key}
                        )
                except BaseException as exc:  # reported by the test below
                    outcome["result"] = exc

            first = threading.Thread(target=run_chain, daemon=True)
            first.start()
            run_id = wait_for_run_id(instance, first)
            wait_for_step_start(instance, run_id, KILLED_STAGE, logs)

            # The render holds its local_cpu slot in the instance while it runs on the worker.
            claimed = instance.event_log_storage.get_concurrency_info("local_cpu").claimed_slots
            assert (run_id, KILLED_STAGE) in {(slot.run_id, slot.step_key) for slot in claimed}
            render_pid = step_event(instance, run_id, DagsterEventType.STEP_START, KILLED_STAGE).event_log_entry
            pid = render_pid.dagster_event.pid if render_pid.dagster_event else None
            assert pid in descendants(cpu), f"render pid {pid} is not a process of the cpu worker"
            killed = kill_process_tree(pid)

            first.join(RUN_END_S)
            assert not first.is_alive(), f"the run did not end {RUN_END_S:.0f} s after the kill:\n{tail(cpu.log)}"
            failed = instance.get_run_by_id(run_id)
            assert failed is not None and failed.status == DagsterRunStatus.FAILURE, outcome
            assert "WorkerLostError" in tail(cpu.log, 400) or "signal 9" in tail(cpu.log, 400)
            assert step_keys(instance, run_id, DagsterEventType.STEP_SUCCESS) == set(UPSTREAM)
            first_workers = workers_of_steps(instance, run_id)
            for step in UPSTREAM:
                expected = cpu.name if step in CPU_STEPS else api.name
                assert first_workers[step].startswith(f"{expected}@"), (step, first_workers)
            for step in UPSTREAM:  # ... and in its processes, not in this one
                started = step_event(instance, run_id, DagsterEventType.STEP_START, step).event_log_entry
                assert started.dagster_event is not None and started.dagster_event.pid != os.getpid(), step
            first_overheads = overheads(instance, run_id)
            # The lost step's slot stays claimed by the failed run (the orchestrator never heard it end): the daemon
            # frees it after run_monitoring.free_slots_after_run_end_seconds; here the test does what it does.
            claimed = instance.event_log_storage.get_concurrency_info("local_cpu").claimed_slots
            assert (run_id, KILLED_STAGE) in {(slot.run_id, slot.step_key) for slot in claimed}
            instance.event_log_storage.free_concurrency_slots_for_run(run_id)

            # The cpu worker goes (as its host would), a new one takes its queue.
            stop_process_group(cpu.process)
            new_cpu = start_worker(cpu_queue, f"cpu2-{run_tag}", worker_env[cpu_queue], tmp_path / "worker-cpu2.log")
            workers.append(new_cpu)
            result = execute_job(
                reconstructable(full_job),
                instance=instance,
                tags={"dagster/partition": key},
                reexecution_options=ReexecutionOptions.from_failure(run_id, instance),
            )
            assert result.success, tail(new_cpu.log) + tail(api.log)
            redone = step_keys(instance, result.run_id, DagsterEventType.STEP_START)
            all_steps = {node.name for node in full_job().nodes}
            assert redone == all_steps - set(UPSTREAM), f"upstream steps ran again: {redone & set(UPSTREAM)}"
            second_workers = workers_of_steps(instance, result.run_id)
            assert second_workers[KILLED_STAGE].startswith(f"{new_cpu.name}@"), second_workers
            assert all(second_workers[step].startswith(f"{api.name}@") for step in redone - CPU_STEPS), second_workers
            for pool in ("local_cpu", "download", *(f"{p}_api" for p in ("youtube", "x"))):
                assert instance.event_log_storage.get_concurrency_info(pool).claimed_slots == [], pool
            second_overheads = overheads(instance, result.run_id)
    finally:
        for worker in workers:
            stop_process_group(worker.process)
        forget_queues(BROKER, run_tag)

    print(f"killed {killed}; send-to-start overhead per step (s): first run {first_overheads}, "
          f"re-execution {second_overheads}")  # fmt: skip
    # The finished short is in the bucket, where any host finds it.
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    names = [item["Key"] for item in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    [short_name] = [name for name in names if f"/{KILLED_STAGE}/" in name and name.endswith("short.mp4")]
    s3.download_file(bucket, short_name, str(tmp_path / "short.mp4"))
    facts = probe(tmp_path / "short.mp4")
    assert (facts.width, facts.height) == (1080, 1920)
