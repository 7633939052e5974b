"""A Celery cluster on one machine, for the live Celery test and `benchmarks/celery_bench.py`: scratch PostgreSQL
databases, moto's S3 server, the code location's Celery environment, dagster-celery workers started the way the
deployment starts them, and what a run's event log says about where and when its steps ran."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import redis
from dagster import DagsterEventType, DagsterInstance, EventLogRecord, JobDefinition
from moto.server import ThreadedMotoServer

from definitions import build_definitions
from resources.settings import PROJECT_ROOT, PipelineSettings
from tests.system.daemon import start_process, stop_process_group, tail

BIN = Path(sys.executable).parent
JOB = "short_pipeline_job"
WORKER_READY_S = 180.0
CELERY_WORKER = "Celery worker"  # the metadata key of dagster-celery's "Executing steps ... in celery worker" event
SUBMITTED = "Submitting celery task"  # the orchestrator's engine event as it sends a step's task
AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def full_job() -> JobDefinition:
    """The job as the code location defines it, rebuilt from SHORTS_* by each worker process (reconstructable)."""
    return build_definitions(PipelineSettings.from_env()).resolve_job_def(JOB)


def ledger_url(db_name: str) -> str:
    return f"postgresql+psycopg2://postgres@127.0.0.1:5432/{db_name}"


@contextmanager
def s3_server() -> Iterator[str]:
    """moto's S3 server on a free port of 127.0.0.1; its endpoint URL."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def create_bucket(endpoint: str, bucket: str) -> None:
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                 aws_access_key_id="testing", aws_secret_access_key="testing").create_bucket(Bucket=bucket)  # fmt: skip


def s3_env(endpoint: str, bucket: str, ledger: str) -> dict[str, str]:
    """Media and records in `bucket` on `endpoint`, the ledger at `ledger`: nothing passes through a shared disk."""
    return {
        "SHORTS_MEDIA_BACKEND": "s3",
        "SHORTS_S3_BUCKET": bucket,
        "SHORTS_S3_ENDPOINT_URL": endpoint,
        "SHORTS_LEDGER_URL": ledger,
        **AWS,
    }


def celery_env(broker: str, cpu_queue: str, api_queue: str) -> dict[str, str]:
    """Steps as tasks on `broker` (also the result backend), local engines on `cpu_queue`, the rest on `api_queue`."""
    return {
        "SHORTS_STEP_EXECUTION": "celery",
        "SHORTS_CELERY_BROKER": broker,
        "SHORTS_CELERY_BACKEND": broker,
        "SHORTS_CELERY_CPU_QUEUE": cpu_queue,
        "SHORTS_CELERY_API_QUEUE": api_queue,
    }


def forget_queues(broker: str, tag: str) -> None:
    """Delete the broker's keys whose names contain `tag` (the queues and results of one test or benchmark)."""
    client = redis.Redis.from_url(broker)
    client.delete(*[name for name in client.scan_iter(f"*{tag}*")] or ["-"])


@dataclass
class Worker:
    """One `dagster-celery worker start` process: it runs `celery worker`, whose pool processes run the steps."""

    name: str
    queue: str
    log: Path
    process: subprocess.Popen[bytes] = field(repr=False)


def start_worker(queue: str, name: str, env: dict[str, str], log: Path, concurrency: int) -> Worker:
    """A worker on `queue` running `concurrency` steps at once, once it is ready; RuntimeError with its log if not.

    `env` needs this environment's bin folder first on PATH: `dagster-celery worker start` runs `celery` from it.
    """
    command = [
        str(BIN / "dagster-celery"), "worker", "start", "-A", "dagster_celery.app", "-q", queue, "-n", name,
        "-y", str(PROJECT_ROOT / "deploy" / "celery.yaml"),
        # The code location is imported once by the worker, before it forks its pool processes.
        "-i", "definitions", "-i", __name__,
        "--", f"--concurrency={concurrency}",
    ]  # fmt: skip
    worker = Worker(name, queue, log, start_process(command, env, log))
    deadline = time.monotonic() + WORKER_READY_S
    while f"{name}@" not in tail(log, 200) or " ready." not in tail(log, 200):
        if worker.process.poll() is not None or time.monotonic() > deadline:
            stop_process_group(worker.process)
            raise RuntimeError(f"worker {name} did not start:\n{tail(log)}")
        time.sleep(0.5)
    return worker


def records(instance: DagsterInstance, run_id: str, event_type: DagsterEventType) -> list[EventLogRecord]:
    return list(instance.get_records_for_run(run_id, of_type=event_type, limit=5000).records)


def step_keys(instance: DagsterInstance, run_id: str, event_type: DagsterEventType) -> set[str]:
    return {r.event_log_entry.step_key for r in records(instance, run_id, event_type) if r.event_log_entry.step_key}


def workers_of_steps(instance: DagsterInstance, run_id: str) -> dict[str, str]:
    """step -> the Celery worker that ran it, from the event each worker logs when it takes a step's task."""
    ran_on = {}
    for record in records(instance, run_id, DagsterEventType.ENGINE_EVENT):
        event = record.event_log_entry.dagster_event
        metadata = event.engine_event_data.metadata if event and event.engine_event_data else {}
        if CELERY_WORKER in metadata and record.event_log_entry.step_key:
            ran_on[record.event_log_entry.step_key] = str(metadata[CELERY_WORKER].value)
    return ran_on


def overheads(
    instance: DagsterInstance,
    run_id: str,
    sent_message: str = SUBMITTED,
    sent_type: DagsterEventType = DagsterEventType.ENGINE_EVENT,
) -> dict[str, float]:
    """step -> seconds from the orchestrator's `sent_type` event containing `sent_message` to the step's STEP_START."""
    sent = {
        r.event_log_entry.step_key: r.event_log_entry.timestamp
        for r in records(instance, run_id, sent_type)
        if r.event_log_entry.step_key and sent_message in r.event_log_entry.message
    }
    started = {
        r.event_log_entry.step_key: r.event_log_entry.timestamp
        for r in records(instance, run_id, DagsterEventType.STEP_START)
        if r.event_log_entry.step_key
    }
    return {step: round(started[step] - sent[step], 2) for step in started if step in sent}
