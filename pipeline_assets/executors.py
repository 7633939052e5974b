"""Where a run's steps execute: in forked processes, in the run worker, as tasks on Celery workers, or as
Kubernetes Jobs (each sized per stage by deploy/helm/step-resources.yaml).

Every executor is fixed by the deployment (SHORTS_STEP_EXECUTION and the SHORTS_CELERY_* settings): its launch
config schema is empty, so a run config can neither preload modules nor point the steps at another broker.
With Celery, a stage on a local engine goes to the CPU queue and every other step (cloud AI, downloads,
publishing, analytics) to the API queue; the per-API pools still hold, since the run's orchestrator claims a
step's pool slot in the instance before it sends the task to a worker.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from dagster import ExecutorDefinition, in_process_executor, multiprocess_executor
from dagster_celery import celery_executor
from dagster_k8s import k8s_job_executor

from resources.errors import ConfigurationError
from resources.settings import PipelineSettings

# Providers that compute on the worker's own CPU (the offline engines); the others wait on an API or a download.
CPU_PROVIDERS = frozenset({"local", "piper", "espeak", "ffmpeg"})

# Step processes fork from a server that imported the code location once, instead of each importing dagster and
# every engine again (~2.4 s of CPU per step with bytecode, 7 s without).
forkserver_executor: ExecutorDefinition = multiprocess_executor.configured(
    lambda _: {"start_method": {"forkserver": {}}}, name="multiprocess_forkserver", config_schema={}
)
in_process: ExecutorDefinition = in_process_executor.configured(lambda _: {}, name="in_process", config_schema={})


def queue_for(settings: PipelineSettings, provider: str) -> str:
    """The Celery queue of a stage whose resource uses `provider`."""
    return settings.celery_cpu_queue if provider in CPU_PROVIDERS else settings.celery_api_queue


def stage_queues(settings: PipelineSettings) -> dict[str, str]:
    """The Celery queue of every stage, from its configured provider."""
    return {stage: queue_for(settings, provider) for stage, provider in settings.stage_providers().items()}


def celery_workers_executor(settings: PipelineSettings) -> ExecutorDefinition:
    """dagster-celery's executor on the configured broker; untagged steps (posts, analytics) go to the API queue."""
    config = {
        "broker": settings.celery_broker,
        "backend": settings.celery_backend,
        "config_source": {"task_default_queue": settings.celery_api_queue},
    }
    return celery_executor.configured(config, name="celery", config_schema={})


STEP_RESOURCES = Path(__file__).resolve().parent.parent / "deploy" / "helm" / "step-resources.yaml"


def k8s_step_executor(path: Path = STEP_RESOURCES) -> ExecutorDefinition:
    """dagster-k8s's k8s_job_executor: every step its own Job, with the requests and limits of its stage (`steps`,
    merged over `default`) from `path`; fixed by the deployment like the others."""
    sizes = yaml.safe_load(path.read_text())
    config = {"step_k8s_config": sizes["default"], "per_step_k8s_config": sizes["steps"]}
    return k8s_job_executor.configured(config, name="k8s_steps", config_schema={})


def executor_for(settings: PipelineSettings, dagster_home: str) -> ExecutorDefinition:
    """The executor SHORTS_STEP_EXECUTION names; Celery only on an instance (in `dagster_home`) every worker shares."""
    if settings.step_execution == "in_process":
        return in_process
    if settings.step_execution == "celery":
        refuse_a_local_instance(dagster_home)
        return celery_workers_executor(settings)
    if settings.step_execution == "k8s":
        refuse_a_local_instance(dagster_home, "k8s")
        return k8s_step_executor()
    return forkserver_executor


def refuse_a_local_instance(dagster_home: str, mode: str = "celery") -> None:
    """Raise unless $DAGSTER_HOME/dagster.yaml keeps runs and events in PostgreSQL (or MySQL).

    Celery workers write each step's events into the instance; with SQLite (Dagster's default) they would write
    them into files on their own hosts, and the run would never hear of its steps.
    """
    fix = "set `storage: postgres:` in dagster.yaml (deploy/dagster.yaml shows it)"
    if not dagster_home:
        raise ConfigurationError(f"SHORTS_STEP_EXECUTION={mode}: DAGSTER_HOME is not set; point it at the instance "
                                 f"every worker shares and {fix}")  # fmt: skip
    path = Path(dagster_home) / "dagster.yaml"
    config = (yaml.safe_load(path.read_text()) if path.exists() else None) or {}
    storage = config.get("storage") or {}
    shared = {"postgres", "mysql"} & set(storage) or all(
        any(name in str((config.get(section) or {}).get("module", "")) for name in ("postgres", "mysql"))
        for section in ("run_storage", "event_log_storage", "schedule_storage")
    )
    if not shared:
        raise ConfigurationError(
            f"SHORTS_STEP_EXECUTION={mode}: the instance in {path} keeps runs and events in SQLite on this host, "
            f"where workers on other hosts cannot write their steps' events; {fix}"
        )
