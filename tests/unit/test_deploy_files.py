"""The Dockerfile and instance files, checked statically (no Docker engine here); built only where one runs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_dockerfile_installs_the_locked_deps_and_copies_every_package() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "uv sync --frozen" in text and "COPY pyproject.toml uv.lock" in text
    for package in ["cli", "pipeline_assets", "resources", "sensors"]:
        assert f"COPY {package} ./{package}" in text
    assert "COPY definitions.py" in text
    assert "apt-get install" in text and " ffmpeg " in text
    assert "definitions" in text
    assert "dagster.yaml" in text


def test_workspace_points_at_the_definitions_module() -> None:
    workspace = yaml.safe_load((ROOT / "workspace.yaml").read_text())
    module = workspace["load_from"][0]["python_module"]
    assert module["module_name"] == "definitions" and module["attribute"] == "defs"


def test_local_dagster_yaml_is_valid_instance_config(tmp_path: Path) -> None:
    from dagster import DagsterInstance

    shutil.copyfile(ROOT / "dagster.yaml", tmp_path / "dagster.yaml")
    instance = DagsterInstance.from_config(str(tmp_path))
    assert instance.get_concurrency_config().pool_config.default_pool_limit == 2
    # The daemon's run queue applies this: one run per partition at a time.
    assert {"key": "dagster/partition", "value": {"applyLimitPerUniqueValue": True}, "limit": 1} in (
        instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
    )


def test_pyproject_points_dg_at_the_definitions() -> None:
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert config["tool"]["dg"]["project"]["code_location_target_module"] == "definitions"


@pytest.mark.needs_docker_engine
@pytest.mark.skipif(
    shutil.which("docker") is None
    or subprocess.run(["docker", "info"], capture_output=True, check=False).returncode != 0,
    reason="no Docker engine on this machine",
)
def test_image_builds_and_loads_the_definitions() -> None:
    subprocess.run(["docker", "build", "-t", "viral-shorts:test", str(ROOT)], check=True, timeout=3000)
    subprocess.run(
        ["docker", "run", "--rm", "viral-shorts:test",
         "dagster", "definitions", "validate", "-m", "definitions"],
        check=True, timeout=600,
    )  # fmt: skip


@pytest.mark.parametrize("config", ["dagster.yaml", "deploy/dagster.yaml"])
def test_the_run_queue_runs_one_run_per_partition_at_a_time(config: str) -> None:
    runs = yaml.safe_load((ROOT / config).read_text())["concurrency"]["runs"]
    limits = {limit["key"]: limit for limit in runs["tag_concurrency_limits"]}
    partition = limits["dagster/partition"]
    assert partition["limit"] == 1 and partition["value"] == {"applyLimitPerUniqueValue": True}


# --- Celery workers (SHORTS_STEP_EXECUTION=celery) ----------------------------------------------------------------
WORKERS = {"worker-cpu": "celery_cpu_queue", "worker-api": "celery_api_queue"}


def compose_services() -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load((ROOT / "deploy" / "docker-compose.yml").read_text())["services"]
    return services


def test_the_compose_file_with_its_workers_follows_the_compose_specification() -> None:
    import json

    import jsonschema

    compose = yaml.safe_load((ROOT / "deploy" / "docker-compose.yml").read_text())
    schema = json.loads((ROOT / "tests" / "data" / "compose-spec.json").read_text())
    errors = [f"{e.json_path}: {e.message}" for e in jsonschema.Draft7Validator(schema).iter_errors(compose)]
    assert errors == []


@pytest.mark.parametrize("name", sorted(WORKERS))
def test_each_worker_listens_on_its_settings_queue_with_the_deploy_broker_config(name: str) -> None:
    from dagster_celery.cli import main

    from resources.settings import PipelineSettings

    worker = compose_services()[name]
    command = [str(part) for part in worker["command"]]
    assert command[:3] == ["dagster-celery", "worker", "start"]
    mounts = {target: source for source, target, *_ in (v.split(":") for v in worker["volumes"])}
    config_at = command.index("-y") + 1
    assert mounts[command[config_at]] == "./celery.yaml"
    command[config_at] = str(ROOT / "deploy" / "celery.yaml")  # the bind mount's source: parse against it
    context = main.commands["worker"].commands["start"].make_context("start", command[3:])
    assert context.params["app"] == "dagster_celery.app"
    assert context.params["queue"] == (PipelineSettings.model_fields[WORKERS[name]].default,)
    assert context.params["includes"] == ("definitions",)  # the code location, imported before the pool forks


@pytest.mark.parametrize("name", sorted(WORKERS))
def test_workers_run_as_the_code_server_does_and_scale(name: str) -> None:
    services = compose_services()
    worker, code = services[name], services["user_code"]
    for key in ("image", "build", "env_file", "restart"):
        assert worker[key] == code[key], key
    # The instance (PostgreSQL) and the data volume are the code server's; nothing pins one container.
    assert set(code["volumes"]) - {"./workspace.docker.yaml:/opt/dagster/app/deploy/workspace.docker.yaml:ro"} <= set(
        worker["volumes"]
    )
    assert "container_name" not in worker and "ports" not in worker  # `--scale worker-cpu=N` needs both absent
    # Where run containers are (Postgres, MinIO, Redis, the internet); not on `control` with the daemon and UI.
    assert worker["networks"] == ["default"]
    assert worker["depends_on"]["redis"] == {"condition": "service_healthy"}
    test = worker["healthcheck"]["test"]
    assert test[0] == "CMD-SHELL" and "inspect ping" in test[1] and "$$SHORTS_CELERY_BROKER" in test[1]


def test_redis_is_where_the_runs_and_workers_are() -> None:
    redis = compose_services()["redis"]
    assert redis["networks"] == ["default"] and "ports" not in redis
    assert redis["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert "--appendonly" in redis["command"]  # queued tasks survive a restart


def test_the_workers_broker_config_reads_the_code_locations_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from dagster_celery.cli import get_validated_config

    monkeypatch.setenv("SHORTS_CELERY_BROKER", "redis://redis:6379/0")
    monkeypatch.setenv("SHORTS_CELERY_BACKEND", "redis://redis:6379/1")
    config = get_validated_config(str(ROOT / "deploy" / "celery.yaml"))
    assert (config["broker"], config["backend"]) == ("redis://redis:6379/0", "redis://redis:6379/1")
