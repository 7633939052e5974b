"""deploy/helm: the values against the chart's published schema, and the instance config the chart renders from them.

The schema is kept in tests/data/helm (see its README for origin and version). Its `$ref`s to
kubernetesjsonschema.dev (Kubernetes object shapes) cannot be fetched offline: the registry below serves a stand-in
document in which every pointer the schema uses resolves to the permissive schema `{}`.
"""

from __future__ import annotations

import copy
import importlib
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from dagster._config import validate_config
from dagster._core.instance.config import dagster_instance_config
from dagster_k8s import k8s_job_executor
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from resources.catalog import chain_assets

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PATH = ROOT / "tests" / "data" / "helm" / "dagster-bdb8547" / "values.schema.json"
VALUES_PATH = ROOT / "deploy" / "helm" / "values.yaml"
STEP_RESOURCES_PATH = ROOT / "deploy" / "helm" / "step-resources.yaml"
K8S_SCHEMA_URL = "https://kubernetesjsonschema.dev/v1.18.0/_definitions.json"


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _kubernetes_stand_in(schema: dict[str, Any]) -> dict[str, Any]:
    """A document where each JSON pointer the schema uses into the Kubernetes definitions is `{}` (accept all)."""
    document: dict[str, Any] = {}
    for ref in _refs(schema):
        url, _, pointer = ref.partition("#")
        if url != K8S_SCHEMA_URL:
            continue
        node = document
        for part in pointer.strip("/").split("/"):
            node = node.setdefault(part, {})
    return document


def _validator() -> jsonschema.Draft7Validator:
    schema = yaml.safe_load(SCHEMA_PATH.read_text())
    stand_in = Resource.from_contents(_kubernetes_stand_in(schema), default_specification=DRAFT7)
    return jsonschema.Draft7Validator(schema, registry=Registry().with_resource(K8S_SCHEMA_URL, stand_in))


def _values() -> dict[str, Any]:
    return yaml.safe_load(VALUES_PATH.read_text())


def _errors(values: dict[str, Any]) -> list[str]:
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in _validator().iter_errors(values)]


# --- the chart's values schema ---------------------------------------------------------------------------------


def test_values_validate_against_the_charts_schema() -> None:
    assert _errors(_values()) == []


def test_the_kubernetes_refs_resolve_to_the_stand_in() -> None:
    # Every external $ref is served by the registry (an unresolvable one would raise while validating).
    schema = yaml.safe_load(SCHEMA_PATH.read_text())
    external = {ref for ref in _refs(schema) if not ref.startswith("#")}
    assert external and all(ref.startswith(K8S_SCHEMA_URL + "#") for ref in external)


def test_a_typo_under_the_k8s_run_launcher_is_refused() -> None:
    values = _values()
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    launcher["envSecret"] = launcher.pop("envSecrets")
    errors = _errors(values)
    assert any("envSecret" in error for error in errors), errors


def test_a_wrong_type_is_refused() -> None:
    values = _values()
    values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]["maxConcurrentRuns"] = [6]
    values["runLauncher"]["config"]["k8sRunLauncher"]["loadInclusterConfig"] = "yes"
    errors = _errors(values)
    assert any("maxConcurrentRuns" in error for error in errors), errors
    assert any("loadInclusterConfig" in error for error in errors), errors


def test_a_missing_required_section_is_refused() -> None:
    values = _values()
    del values["computeLogManager"]["config"]["s3ComputeLogManager"]
    assert _errors(values)


# --- the code location: same image and module as compose ------------------------------------------------------


def _dockerfile_cmd() -> list[str]:
    text = (ROOT / "Dockerfile").read_text()
    match = re.search(r"^CMD (\[.*\])$", text, re.MULTILINE)
    assert match, "Dockerfile has no exec-form CMD"
    return list(yaml.safe_load(match.group(1)))


def _flag(args: list[str], flag: str) -> str:
    return args[args.index(flag) + 1]


def test_the_user_deployment_loads_the_module_the_compose_code_server_loads() -> None:
    deployment = _values()["dagster-user-deployments"]["deployments"][0]
    compose = yaml.safe_load((ROOT / "deploy" / "docker-compose.yml").read_text())
    compose_command = compose["services"]["user_code"]["command"]
    module = _flag(deployment["dagsterApiGrpcArgs"], "-m")
    assert module == _flag(compose_command, "-m") == _flag(_dockerfile_cmd(), "-m") == "definitions"
    assert "-f" not in deployment["dagsterApiGrpcArgs"]


def test_the_user_deployment_serves_on_the_dockerfiles_port() -> None:
    deployment = _values()["dagster-user-deployments"]["deployments"][0]
    exposed = re.search(r"^EXPOSE (\d+)$", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert exposed and deployment["port"] == int(exposed.group(1)) == int(_flag(_dockerfile_cmd(), "-p"))


def test_every_dagster_service_runs_the_one_project_image() -> None:
    values = _values()
    images = [
        values["dagsterWebserver"]["image"],
        values["dagsterDaemon"]["image"],
        *(d["image"] for d in values["dagster-user-deployments"]["deployments"]),
    ]
    assert all(image == images[0] for image in images)
    assert str(images[0]["tag"]) not in ("", "latest")


def test_dagster_home_is_the_dockerfiles() -> None:
    match = re.search(r"DAGSTER_HOME=(\S+)", (ROOT / "Dockerfile").read_text())
    assert match and _values()["global"]["dagsterHome"] == match.group(1)


# --- no literal secrets ---------------------------------------------------------------------------------------

SENSITIVE = re.compile(r"pass(word|wd)?$|token|api_?key|access_?key|secret(_?key|_?access)?$|credential", re.I)


def _literal_secrets(node: Any, path: str = "") -> Iterator[str]:
    """Paths of sensitive-looking keys (password, token, API key, ...) that hold a non-empty literal."""
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{path}.{key}" if path else str(key)
            if (
                SENSITIVE.search(str(key))
                and isinstance(value, str | int)
                and not isinstance(value, bool)
                and value != ""
            ):
                yield here
            yield from _literal_secrets(value, here)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            # `NAME=value` strings (envVars) are literals too.
            if isinstance(item, str) and "=" in item:
                name, _, value = item.partition("=")
                if SENSITIVE.search(name) and value:
                    yield f"{path}[{index}]"
            yield from _literal_secrets(item, f"{path}[{index}]")


def test_values_hold_no_literal_secret() -> None:
    assert list(_literal_secrets(_values())) == []
    assert _values()["generatePostgresqlPasswordSecret"] is False
    assert _values()["global"]["postgresqlSecretName"]


def test_the_secret_scan_finds_a_planted_secret() -> None:
    values = _values()
    values["postgresql"]["postgresqlPassword"] = "hunter2"
    values["runLauncher"]["config"]["k8sRunLauncher"]["envVars"].append("OPENAI_API_KEY=sk-123")
    values["dagsterWebserver"]["env"] = {"YOUTUBE_REFRESH_TOKEN": "1//abc"}
    assert sorted(_literal_secrets(values)) == [
        "dagsterWebserver.env.YOUTUBE_REFRESH_TOKEN",
        "postgresql.postgresqlPassword",
        "runLauncher.config.k8sRunLauncher.envVars[2]",
    ]


# --- the instance config the chart renders --------------------------------------------------------------------


def _source(value: Any) -> Any:
    """The chart's `stringSource` helper: a literal string, or an `{env: NAME}` mapping passed through."""
    return value


def render_instance_config(values: dict[str, Any], namespace: str = "shorts") -> dict[str, Any]:
    """The `dagster.yaml` the chart's instance ConfigMap renders from `values`, for the fields we set.

    Mirrors templates/configmap-instance.yaml and templates/helpers/instance/_*.tpl (PostgreSQL storages,
    K8sRunLauncher, QueuedRunCoordinator, S3ComputeLogManager, run monitoring and retries, sensors/schedules,
    telemetry, retention): camelCase values become the snake_case instance keys, and the chart adds the env
    sources it sets itself (DAGSTER_HOME, the instance ConfigMap, the PostgreSQL password Secret).
    """
    pg = values["postgresql"]
    postgres = {
        "postgres_db": {
            "username": pg["postgresqlUsername"],
            "password": {"env": "DAGSTER_PG_PASSWORD"},
            "hostname": pg["postgresqlHost"],
            "db_name": pg["postgresqlDatabase"],
            "port": pg["service"]["port"],
            "params": pg["postgresqlParams"],
        }
    }
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    run_launcher_config: dict[str, Any] = {
        "load_incluster_config": launcher["loadInclusterConfig"],
        "job_namespace": launcher.get("jobNamespace") or namespace,
        "image_pull_policy": launcher["imagePullPolicy"],
        "service_account_name": values["global"]["serviceAccountName"],
        "dagster_home": {"env": "DAGSTER_HOME"},
        "instance_config_map": {"env": "DAGSTER_K8S_INSTANCE_CONFIG_MAP"},
        "postgres_password_secret": {"env": "DAGSTER_K8S_PG_PASSWORD_SECRET"},
        "env_config_maps": [
            {"env": "DAGSTER_K8S_PIPELINE_RUN_ENV_CONFIGMAP"},
            *(c["name"] for c in launcher["envConfigMaps"]),
        ],
    }
    optional: dict[str, tuple[str, Callable[[Any], Any]]] = {
        "envSecrets": ("env_secrets", lambda v: [s["name"] for s in v]),
        "envVars": ("env_vars", list),
        "volumeMounts": ("volume_mounts", list),
        "volumes": ("volumes", list),
        "labels": ("labels", dict),
        "failPodOnRunFailure": ("fail_pod_on_run_failure", bool),
        "resources": ("resources", dict),
        "schedulerName": ("scheduler_name", str),
        "securityContext": ("security_context", dict),
        "runK8sConfig": (
            "run_k8s_config",
            lambda v: {re.sub(r"[A-Z]", lambda m: "_" + m.group().lower(), k): c for k, c in v.items()},
        ),
    }
    for key, (instance_key, convert) in optional.items():
        if launcher.get(key):
            run_launcher_config[instance_key] = convert(launcher[key])

    daemon = values["dagsterDaemon"]
    queued = daemon["runCoordinator"]["config"]["queuedRunCoordinator"]
    coordinator_config = {
        "max_concurrent_runs": queued["maxConcurrentRuns"],
        "tag_concurrency_limits": queued["tagConcurrencyLimits"],
        "dequeue_interval_seconds": queued["dequeueIntervalSeconds"],
    }
    s3 = values["computeLogManager"]["config"]["s3ComputeLogManager"]
    s3_keys = {
        "prefix": "prefix",
        "region": "region",
        "endpointUrl": "endpoint_url",
        "uploadInterval": "upload_interval",
    }
    s3_config = {"bucket": _source(s3["bucket"])}
    s3_config |= {instance_key: _source(s3[key]) for key, instance_key in s3_keys.items() if s3.get(key)}
    monitoring, retries = daemon["runMonitoring"], daemon["runRetries"]
    retention = values["retention"]
    return {
        "scheduler": {"module": "dagster._core.scheduler", "class": "DagsterDaemonScheduler"},
        "schedule_storage": {
            "module": "dagster_postgres.schedule_storage",
            "class": "PostgresScheduleStorage",
            "config": postgres,
        },
        "run_launcher": {"module": "dagster_k8s", "class": "K8sRunLauncher", "config": run_launcher_config},
        "run_storage": {"module": "dagster_postgres.run_storage", "class": "PostgresRunStorage", "config": postgres},
        "event_log_storage": {
            "module": "dagster_postgres.event_log",
            "class": "PostgresEventLogStorage",
            "config": postgres,
        },
        "run_coordinator": {
            "module": "dagster._core.run_coordinator",
            "class": "QueuedRunCoordinator",
            "config": coordinator_config,
        },
        "compute_logs": {
            "module": "dagster_aws.s3.compute_log_manager",
            "class": "S3ComputeLogManager",
            "config": s3_config,
        },
        "run_monitoring": {
            "enabled": monitoring["enabled"],
            "start_timeout_seconds": monitoring["startTimeoutSeconds"],
            "max_resume_run_attempts": monitoring["maxResumeRunAttempts"],
            "poll_interval_seconds": monitoring["pollIntervalSeconds"],
        },
        "run_retries": {
            "enabled": retries["enabled"],
            "max_retries": retries["maxRetries"],
            "retry_on_asset_or_op_failure": retries["retryOnAssetOrOpFailure"],
        },
        "sensors": {"use_threads": daemon["sensors"]["useThreads"], "num_workers": daemon["sensors"]["numWorkers"]},
        "schedules": {
            "use_threads": daemon["schedules"]["useThreads"],
            "num_workers": daemon["schedules"]["numWorkers"],
        },
        "telemetry": {"enabled": values["telemetry"]["enabled"]},
        "retention": {
            "sensor": {"purge_after_days": retention["sensor"]["purgeAfterDays"]},
            "schedule": {"purge_after_days": retention["schedule"]["purgeAfterDays"]},
        },
    }


def test_the_rendered_instance_config_passes_dagsters_instance_schema(tmp_path: Path) -> None:
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(render_instance_config(_values())))
    config, custom_class = dagster_instance_config(str(tmp_path))
    assert custom_class is None
    assert config["run_launcher"]["class"] == "K8sRunLauncher"


@pytest.mark.parametrize(
    "section", ["run_launcher", "run_coordinator", "compute_logs", "run_storage", "event_log_storage"]
)
def test_each_rendered_class_imports_and_accepts_its_config(section: str) -> None:
    rendered = render_instance_config(_values())[section]
    cls = getattr(importlib.import_module(rendered["module"]), rendered["class"])
    result = validate_config(cls.config_type(), rendered["config"])
    assert result.success, [error.message for error in result.errors or []]


def test_the_rendered_launcher_refuses_a_key_dagster_k8s_does_not_know() -> None:
    from dagster_k8s import K8sRunLauncher

    config = copy.deepcopy(render_instance_config(_values())["run_launcher"]["config"])
    config["env_secret"] = config.pop("env_secrets")
    assert not validate_config(K8sRunLauncher.config_type(), config).success


def test_the_run_queue_has_the_limits_of_the_compose_instance() -> None:
    compose_instance = yaml.safe_load((ROOT / "deploy" / "dagster.yaml").read_text())
    runs = compose_instance["concurrency"]["runs"]
    rendered = render_instance_config(_values())["run_coordinator"]["config"]
    assert rendered["max_concurrent_runs"] == runs["max_concurrent_runs"]
    assert rendered["tag_concurrency_limits"] == runs["tag_concurrency_limits"]
    per_partition = [limit for limit in rendered["tag_concurrency_limits"] if limit["key"] == "dagster/partition"]
    assert per_partition == [{"key": "dagster/partition", "value": {"applyLimitPerUniqueValue": True}, "limit": 1}]


def test_runs_get_the_secrets_by_name_and_small_requests() -> None:
    config = render_instance_config(_values())["run_launcher"]["config"]
    assert config["env_secrets"] == ["shorts-env"]
    requests = config["run_k8s_config"]["container_config"]["resources"]["requests"]
    assert requests["cpu"] == "250m"


# --- per-step resources (k8s_job_executor) ---------------------------------------------------------------------


def _step_resources() -> dict[str, Any]:
    return yaml.safe_load(STEP_RESOURCES_PATH.read_text())


def test_step_resources_are_valid_k8s_job_executor_config() -> None:
    steps = _step_resources()
    executor_config = {"step_k8s_config": steps["default"], "per_step_k8s_config": steps["steps"]}
    result = validate_config(k8s_job_executor.config_schema.config_type, executor_config)
    assert result.success, [error.message for error in result.errors or []]


def test_a_typo_in_the_step_resources_is_refused() -> None:
    steps = _step_resources()
    steps["steps"]["short_video"]["container_confg"] = steps["steps"]["short_video"].pop("container_config")
    result = validate_config(k8s_job_executor.config_schema.config_type, {"per_step_k8s_config": steps["steps"]})
    assert not result.success


def test_step_resources_name_real_steps_and_size_the_render_largest() -> None:
    steps = _step_resources()["steps"]
    assert set(steps) <= set(chain_assets())

    def cpu(step: str) -> float:
        value = str(steps[step]["container_config"]["resources"]["requests"]["cpu"])
        return float(value[:-1]) / 1000 if value.endswith("m") else float(value)

    assert cpu("short_video") == 2 and cpu("transcript") == 1
    assert cpu("short_video") == max(cpu(step) for step in steps)
