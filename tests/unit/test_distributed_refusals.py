"""Steps on Celery workers (other hosts) need what every host sees: the refusals at load, and the executor they get.

A setup that cannot work distributed fails when the code location loads, naming what to configure, instead of
failing a run later on a worker that cannot find a file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from dagster import validate_run_config
from dagster._core.errors import DagsterInvalidConfigError

from definitions import build_definitions
from pipeline_assets.executors import executor_for, refuse_a_local_instance
from resources.errors import ConfigurationError
from resources.settings import PipelineSettings

DISTRIBUTED: dict[str, str] = {
    "SHORTS_STEP_EXECUTION": "celery",
    "SHORTS_CELERY_BROKER": "redis://redis:6379/0",
    "SHORTS_CELERY_BACKEND": "redis://redis:6379/1",
    "SHORTS_MEDIA_BACKEND": "s3",
    "SHORTS_S3_BUCKET": "shorts-media",
    "SHORTS_LEDGER_URL": "postgresql+psycopg2://shorts:pw@db:5432/shorts",
}
POSTGRES_STORAGE = {
    "storage": {"postgres": {"postgres_db": {"username": "u", "password": "p", "hostname": "db", "db_name": "d"}}}
}


def dagster_home(tmp_path: Path, config: dict[str, Any] | None) -> str:
    if config is not None:
        (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(config))
    return str(tmp_path)


def test_celery_with_the_local_media_folder_is_refused_naming_the_media_backend() -> None:
    with pytest.raises(ConfigurationError, match=r"SHORTS_MEDIA_BACKEND=s3 or gcs"):
        PipelineSettings.from_env({**DISTRIBUTED, "SHORTS_MEDIA_BACKEND": "local"})


def test_celery_with_the_sqlite_ledger_is_refused_naming_the_ledger_url() -> None:
    for ledger in ["", "sqlite:////opt/dagster/data/ledger.sqlite3"]:
        with pytest.raises(ConfigurationError, match=r"SHORTS_LEDGER_URL=postgresql"):
            PipelineSettings.from_env({**DISTRIBUTED, "SHORTS_LEDGER_URL": ledger})


def test_celery_without_a_broker_or_backend_is_refused_naming_both() -> None:
    for missing in ["SHORTS_CELERY_BROKER", "SHORTS_CELERY_BACKEND"]:
        with pytest.raises(ConfigurationError, match=r"SHORTS_CELERY_BROKER=redis://.* and SHORTS_CELERY_BACKEND="):
            PipelineSettings.from_env({**DISTRIBUTED, missing: ""})


def test_one_refusal_names_every_missing_piece() -> None:
    with pytest.raises(ConfigurationError) as refused:
        PipelineSettings(step_execution="celery")
    message = str(refused.value)
    assert "SHORTS_STEP_EXECUTION=celery" in message
    assert all(name in message for name in ["SHORTS_MEDIA_BACKEND", "SHORTS_LEDGER_URL", "SHORTS_CELERY_BROKER"])


def test_local_storage_is_fine_on_one_host() -> None:
    for execution in ["multiprocess", "in_process"]:
        assert PipelineSettings.from_env({"SHORTS_STEP_EXECUTION": execution}).media_backend == "local"


@pytest.mark.parametrize(
    ("case", "config"),
    [
        ("no dagster.yaml (SQLite by default)", None),
        ("no storage section", {"telemetry": {"enabled": False}}),
        ("sqlite storage", {"storage": {"sqlite": {"base_dir": "/opt/dagster/dagster_home"}}}),
    ],
)
def test_celery_on_a_sqlite_instance_is_refused_naming_the_storage_section(
    tmp_path: Path, case: str, config: dict[str, Any] | None
) -> None:
    with pytest.raises(ConfigurationError, match=r"SQLite on this host.*`storage: postgres:` in dagster.yaml"):
        refuse_a_local_instance(dagster_home(tmp_path, config))


def test_celery_without_dagster_home_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"DAGSTER_HOME is not set"):
        refuse_a_local_instance("")


def test_the_definitions_refuse_celery_on_a_sqlite_instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAGSTER_HOME", dagster_home(tmp_path, {"telemetry": {"enabled": False}}))
    with pytest.raises(ConfigurationError, match=r"SHORTS_STEP_EXECUTION=celery: the instance in"):
        build_definitions(PipelineSettings.from_env(DISTRIBUTED))


def test_a_postgres_instance_gets_the_celery_executor(tmp_path: Path) -> None:
    executor = executor_for(PipelineSettings.from_env(DISTRIBUTED), dagster_home(tmp_path, POSTGRES_STORAGE))
    assert executor.name == "celery"


@pytest.fixture
def celery_job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("DAGSTER_HOME", dagster_home(tmp_path, POSTGRES_STORAGE))
    return build_definitions(PipelineSettings.from_env(DISTRIBUTED)).resolve_job_def("short_pipeline_job")


def test_each_stage_goes_to_the_queue_of_its_engine(celery_job: Any) -> None:
    queues = {node.name: node.tags.get("dagster-celery/queue") for node in celery_job.nodes}
    assert {name for name, queue in queues.items() if queue == "cpu"} == {
        "transcript", "script", "voiceover", "avatar_video", "short_video"
    }  # fmt: skip
    assert queues["source_video"] == "api"  # a download waits on the network
    # Posts carry no tag: the executor's default queue is the API queue.
    assert queues["youtube_post"] is None


def test_cloud_providers_move_their_stage_to_the_api_queue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAGSTER_HOME", dagster_home(tmp_path, POSTGRES_STORAGE))
    cloud = {**DISTRIBUTED, "SHORTS_TRANSCRIBE_PROVIDER": "openai", "SHORTS_VOICE_PROVIDER": "elevenlabs"}
    job = build_definitions(PipelineSettings.from_env(cloud)).resolve_job_def("short_pipeline_job")
    queues = {node.name: node.tags.get("dagster-celery/queue") for node in job.nodes}
    assert (queues["transcript"], queues["voiceover"], queues["short_video"]) == ("api", "api", "cpu")


@pytest.mark.parametrize(
    "execution",
    [
        {"broker": "redis://evil.example:6379/0"},
        {"backend": "redis://evil.example:6379/1"},
        {"config_source": {"task_default_queue": "elsewhere"}},
        {"include": ["os"]},
    ],
)
def test_a_run_config_cannot_redirect_the_broker_or_the_queues(celery_job: Any, execution: dict[str, Any]) -> None:
    with pytest.raises(DagsterInvalidConfigError, match=r"unexpected config entr.*root:execution:config"):
        validate_run_config(celery_job, {"execution": {"config": execution}})


K8S = {**DISTRIBUTED, "SHORTS_STEP_EXECUTION": "k8s"}


def test_k8s_steps_get_the_sizes_of_deploy_helm_step_resources(tmp_path: Path) -> None:
    executor = executor_for(PipelineSettings.from_env(K8S), dagster_home(tmp_path, POSTGRES_STORAGE))
    assert executor.name == "k8s_steps"
    sizes = yaml.safe_load((Path(__file__).parents[2] / "deploy" / "helm" / "step-resources.yaml").read_text())
    render = sizes["steps"]["short_video"]["container_config"]["resources"]["requests"]
    assert render["cpu"] == "2"  # the render's ffmpeg uses both cores (README, Performance)
    assert executor.config_schema.as_field().config_type.fields == {}  # nothing a launch can change


def test_k8s_with_local_media_or_a_sqlite_instance_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="SHORTS_MEDIA_BACKEND"):
        PipelineSettings.from_env({**K8S, "SHORTS_MEDIA_BACKEND": "local"})
    with pytest.raises(ConfigurationError, match=r"SHORTS_STEP_EXECUTION=k8s: the instance in"):
        executor_for(PipelineSettings.from_env(K8S), dagster_home(tmp_path, {"telemetry": {"enabled": False}}))
