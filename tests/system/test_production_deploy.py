"""The production deployment (deploy/), checked without a Docker engine.

The compose file, instance config, Caddyfile and Dockerfile must agree with each other and with the code:
the compose file follows the Compose Specification's schema, every command parses with the real CLI, every
variable is documented, the instance loads against the local PostgreSQL and an S3 endpoint, the networks keep run
containers and the code server away from the webserver, and the proxy (the real Caddy binary) refuses anyone
without the password. What the proxy refuses from logged-in browsers: test_proxy_guard.py.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import threading
from copy import deepcopy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import click
import pytest
import yaml

from resources.settings import ENV_PREFIX, PipelineSettings
from tests.system.proxy import CADDY, bcrypt_hash, running_proxy

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE_SCHEMA = ROOT / "tests" / "data" / "compose-spec.json"
APP_SERVICES = {"init", "user_code", "webserver", "daemon", "worker-cpu", "worker-api"}
WORKERS = {"worker-cpu", "worker-api"}  # Celery workers: the code, but no workspace file (they run steps only)
ONE_SHOTS = {"createbuckets", "init"}
# SHORTS_* variables read outside PipelineSettings (by the sensors, publishers, cost table, CLI).
EXTRA_SHORTS_VARS = {
    "SHORTS_TOKEN_FILE",
    "SHORTS_PRICES_JSON",
    "SHORTS_DISCOVERY_CONFIG",
    "SHORTS_WATCH_DIR",
    "SHORTS_FAILURE_WEBHOOK_URL",
    "SHORTS_UI_BASE_URL",
}


def load_yaml(name: str) -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / name).read_text())  # safe_load resolves the compose file's `<<:` merges


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_yaml("docker-compose.yml")


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


@pytest.fixture(scope="module")
def instance_yaml() -> dict[str, Any]:
    return load_yaml("dagster.yaml")


def env_example() -> tuple[dict[str, str], set[str]]:
    """deploy/.env.example: the variables that are set, and the optional ones documented in comments."""
    values: dict[str, str] = {}
    optional: set[str] = set()
    for line in (DEPLOY / ".env.example").read_text().splitlines():
        if match := re.fullmatch(r"([A-Z][A-Z0-9_]*)=(.*)", line):
            value = match[2]
            values[match[1]] = value[1:-1] if value[:1] == value[-1:] and value[:1] in "'\"" and value else value
        elif match := re.fullmatch(r"#\s*([A-Z][A-Z0-9_]*)=.*", line):
            optional.add(match[1])
    return values, optional


def dockerfile_env() -> dict[str, str]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    return dict(re.findall(r"\b([A-Z_]+)=(\S+)", " ".join(re.findall(r"^ENV (.+)$", text, flags=re.M))))


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """Container path -> source (a named volume or a path relative to deploy/)."""
    return {target: source for source, target, *_ in (v.split(":") for v in service.get("volumes", []))}


def host_path(service: dict[str, Any], container_path: str) -> Path:
    """Where a container path of a bind mount comes from in this repository."""
    for target, source in mounts(service).items():
        if container_path == target and source.startswith("."):
            return (DEPLOY / source).resolve()
    raise AssertionError(f"{container_path} is not bind-mounted from the repository")


def parse_cli(argv: list[str]) -> click.Context:
    """Parse a container command with the installed click CLI: unknown options or bad values fail here."""
    from dagster._cli import cli as dagster_cli
    from dagster._daemon.cli import cli as daemon_cli
    from dagster_webserver.cli import cli as webserver_cli

    entries: dict[str, click.Command] = {"dagster": dagster_cli, "dagster-daemon": daemon_cli}
    entries["dagster-webserver"] = webserver_cli
    wrappers = {"cli.webserver": "dagster-webserver", "cli.daemon": "dagster-daemon"}  # with Sentry reporting
    if list(argv[:2]) == ["python", "-m"] and argv[2] in wrappers:
        argv = [wrappers[argv[2]], *argv[3:]]
    command, name, args = entries[argv[0]], argv[0], list(argv[1:])
    parent: click.Context | None = None
    while isinstance(command, click.Group):
        parent = click.Context(command, info_name=name, parent=parent)
        name, *args = args
        sub = command.get_command(parent, name)
        assert sub is not None, f"{argv}: no command {name!r}"
        command = sub
    return command.make_context(name, args, parent=parent)


# --- docker-compose.yml -----------------------------------------------------------------------------


def test_compose_has_every_service_with_image_healthcheck_and_restart(services: dict[str, dict[str, Any]]) -> None:
    infrastructure = {"postgres", "minio", "createbuckets", "redis", "proxy"}
    assert set(services) == infrastructure | APP_SERVICES
    for name, service in services.items():
        assert "image" in service or "build" in service, name
        if name in ONE_SHOTS:
            assert service["restart"] == "no", name
        else:
            assert service["restart"] == "unless-stopped", name
            assert service["healthcheck"]["test"][0] in {"CMD", "CMD-SHELL"}, name


def test_secrets_come_from_the_env_file_and_each_service_gets_only_what_it_needs(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, service in services.items():
        if name in APP_SERVICES:
            # The code, webserver, daemon and runs need the whole configuration: the uncommitted deploy/.env.
            assert service["env_file"] == ".env", name
        else:
            # Postgres, MinIO and the internet-facing proxy never see the provider keys: only named variables.
            assert "env_file" not in service, name
            for key, value in service.get("environment", {}).items():
                assert re.fullmatch(r"\$\{[A-Z_0-9]+(:\?[^}]*)?\}", value), f"{name}.{key} is hard-coded: {value}"


def test_only_the_proxy_is_reachable_from_outside(services: dict[str, dict[str, Any]]) -> None:
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"proxy"}
    assert {p.split(":")[0] for p in services["proxy"]["ports"]} == {"80", "443"}
    # The proxy's network reaches the webserver only; Postgres, MinIO and the Docker socket stay behind it.
    assert services["proxy"]["networks"] == ["edge"]
    assert {name for name, service in services.items() if "edge" in service.get("networks", [])} == {
        "proxy",
        "webserver",
    }
    assert "expose" not in services["webserver"]


def test_only_the_daemon_gets_the_docker_socket(services: dict[str, dict[str, Any]]) -> None:
    with_socket = {name for name, s in services.items() if "/var/run/docker.sock" in mounts(s)}
    assert with_socket == {"daemon"}
    assert services["daemon"]["group_add"] == ["${DOCKER_GID:?set DOCKER_GID in deploy/.env}"]


def networks_of(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The service's networks with their settings (compose allows a list or a mapping)."""
    declared = service.get("networks", ["default"])
    if isinstance(declared, list):
        return {name: {} for name in declared}
    return {name: settings or {} for name, settings in declared.items()}


def members(services: dict[str, dict[str, Any]], network: str) -> set[str]:
    return {name for name, service in services.items() if network in networks_of(service)}


def test_run_containers_reach_nothing_that_can_launch_a_run(
    services: dict[str, dict[str, Any]], compose: dict[str, Any], instance_yaml: dict[str, Any]
) -> None:
    """A run (or a URL it was tricked into fetching) cannot open the webserver's or the code server's API."""
    launched_on = instance_yaml["run_launcher"]["config"]["network"]
    [runs_network] = [key for key, net in compose["networks"].items() if net and net.get("name") == launched_on]
    # What runs need: Postgres (runs, events, the ledger) and MinIO (media, logs); plus the internet.
    # Celery workers run steps of those runs: the broker and the workers share the runs' network.
    assert members(services, runs_network) == {"postgres", "minio", "createbuckets", "redis", *WORKERS}
    assert not compose["networks"][runs_network].get("internal")
    # The code server's gRPC API can start runs too: it is on no network a run container joins.
    assert runs_network not in networks_of(services["user_code"])


def test_the_webserver_listens_only_where_the_proxy_is(
    services: dict[str, dict[str, Any]], compose: dict[str, Any]
) -> None:
    """It binds the alias it has on `edge` alone, so from `control` (code server, daemon) nothing answers."""
    webserver = services["webserver"]
    command = webserver["command"]
    listen, port = command[command.index("-h") + 1], command[command.index("-p") + 1]
    attached = networks_of(webserver)
    holders = [name for name, settings in attached.items() if listen in settings.get("aliases", [])]
    assert holders == ["edge"], f"-h {listen} must be an alias of the webserver on edge only"
    assert members(services, "edge") == {"proxy", "webserver"}
    for name, service in services.items():  # nobody else may answer to that name
        for settings in networks_of(service).values():
            assert name == "webserver" or listen not in settings.get("aliases", []), name
    # It still reaches the code server and Postgres, on a network with no way out.
    assert "control" in attached and compose["networks"]["control"]["internal"] is True
    assert {"postgres", "minio", "user_code", "daemon", "webserver"} <= members(services, "control")
    assert "edge" not in networks_of(services["user_code"]) and "edge" not in networks_of(services["daemon"])
    caddyfile = (DEPLOY / "Caddyfile").read_text()
    assert re.findall(r"reverse_proxy \{\$UPSTREAM:([^}]+)\}", caddyfile) == [f"{listen}:{port}"]


def test_a_login_flood_gets_half_a_core(services: dict[str, dict[str, Any]]) -> None:
    """Bad logins cost one bcrypt each and Caddy has no rate limit: the quota bounds them (login_bench)."""
    assert float(services["proxy"]["cpus"]) <= 0.5
    values, _ = env_example()
    assert values["PROXY_PASSWORD_HASH"].startswith("$2y$10$")  # the cost the README's command makes


def test_state_lives_in_named_volumes(compose: dict[str, Any], services: dict[str, dict[str, Any]]) -> None:
    named = set(compose["volumes"])
    expected = {
        "postgres": "/var/lib/postgresql/data",
        "minio": "/data",
        "proxy": "/data",
        "webserver": "/opt/dagster/dagster_home",
        "daemon": "/opt/dagster/data",
    }
    for name, target in expected.items():
        assert mounts(services[name])[target] in named, f"{name}:{target} would be lost on restart"


def test_app_commands_parse_with_the_installed_clis(services: dict[str, dict[str, Any]]) -> None:
    for name in ["user_code", "webserver", "daemon"]:
        service = services[name]
        command = list(service["command"])
        if "-w" in command:  # the workspace file is a bind mount: parse against the repository's copy
            index = command.index("-w") + 1
            command[index] = str(host_path(service, command[index]))
        parse_cli(command)
        if name != "webserver":
            parse_cli(service["healthcheck"]["test"][1:])
    assert services["user_code"]["healthcheck"]["test"][-1] == services["user_code"]["command"][6] == "4000"
    # The webserver's check asks its own info endpoint on the address and port it serves.
    command = services["webserver"]["command"]
    listen = f"http://{command[command.index('-h') + 1]}:{command[command.index('-p') + 1]}/server_info"
    assert f"'{listen}'" in services["webserver"]["healthcheck"]["test"][-1]


def test_init_migrates_and_writes_the_pool_limits(services: dict[str, dict[str, Any]]) -> None:
    from cli.__main__ import main

    shell, flag, script = services["init"]["command"]
    assert (shell, flag) == ("sh", "-c")
    migrate, database, pools = (shlex.split(part) for part in script.split("&&"))
    parse_cli(migrate)
    assert database == ["shorts", "db", "upgrade"]  # the pipeline's own schema (ledger, metrics)
    assert pools == ["shorts", "pools"]
    with pytest.raises(SystemExit) as exited:
        main(["pools", "--help"])
    assert exited.value.code == 0
    # Nothing opens the database before its schema is current; the UI and daemon wait for the code too.
    assert services["user_code"]["depends_on"] == {"init": {"condition": "service_completed_successfully"}}
    for name in ["webserver", "daemon"]:
        assert services[name]["depends_on"] == {"user_code": {"condition": "service_healthy"}}, name


def test_code_location_module_and_workspace_match(services: dict[str, dict[str, Any]]) -> None:
    from definitions import defs

    command = services["user_code"]["command"]
    assert command[command.index("-m") + 1] == "definitions" and defs is not None
    workspace = yaml.safe_load(host_path(services["webserver"], services["webserver"]["command"][-1]).read_text())
    assert workspace["load_from"] == [
        {
            "grpc_server": {
                "host": "user_code",
                "port": int(command[command.index("-p") + 1]),
                "location_name": "viral_shorts",
            }
        }
    ]
    assert services["daemon"]["command"][-1] == services["webserver"]["command"][-1]
    # The same name as the local workspace, so run history and URLs carry over.
    local = yaml.safe_load((ROOT / "workspace.yaml").read_text())
    assert local["load_from"][0]["python_module"]["location_name"] == "viral_shorts"


def test_every_compose_and_instance_variable_is_documented(compose: dict[str, Any]) -> None:
    values, _ = env_example()
    compose_text = (DEPLOY / "docker-compose.yml").read_text()
    used = set(re.findall(r"(?<!\$)\$\{([A-Z_][A-Z0-9_]*)", compose_text))
    assert used and used <= set(values), f"undocumented in .env.example: {used - set(values)}"
    instance_text = (DEPLOY / "dagster.yaml").read_text()
    env_refs = set(re.findall(r"\{env: ([A-Z_0-9]+)\}", instance_text))
    assert env_refs <= set(values), f"undocumented in .env.example: {env_refs - set(values)}"
    launcher_vars = set(load_yaml("dagster.yaml")["run_launcher"]["config"]["env_vars"])
    # Launching fails on a name the daemon does not have: each must be set in the env file (empty is fine).
    assert launcher_vars <= set(values), f"passed to runs but not set: {launcher_vars - set(values)}"
    assert env_refs <= launcher_vars, "run workers load the same instance config"


def test_env_example_names_real_settings_with_valid_values() -> None:
    values, optional = env_example()
    fields = {f"{ENV_PREFIX}{name.upper()}" for name in PipelineSettings.model_fields}
    shorts = {name for name in set(values) | optional if name.startswith(ENV_PREFIX)}
    assert shorts - fields - EXTRA_SHORTS_VARS == set()
    settings = PipelineSettings.from_env(values)  # every value parses (an empty float would not)
    assert (settings.media_backend, settings.data_dir) == ("s3", dockerfile_env()["SHORTS_DATA_DIR"])
    assert settings.ledger_url.startswith("postgresql://")
    assert values["SHORTS_S3_ENDPOINT_URL"] == values["DAGSTER_S3_ENDPOINT_URL"] == "http://minio:9000"
    assert values["AWS_ACCESS_KEY_ID"] != values["MINIO_ROOT_USER"]


def test_env_file_is_never_committed() -> None:
    if not (ROOT / ".git").exists() or shutil.which("git") is None:
        pytest.skip("not a git checkout")
    ignored = subprocess.run(["git", "check-ignore", "-q", "deploy/.env"], cwd=ROOT, check=False)
    assert ignored.returncode == 0, "add deploy/.env to .gitignore"
    tracked = subprocess.run(["git", "ls-files", "deploy/.env"], cwd=ROOT, capture_output=True, text=True, check=True)
    assert tracked.stdout == ""


def compose_schema_errors(document: dict[str, Any]) -> list[str]:
    """Where `document` breaks the Compose Specification's JSON schema (tests/data/README.md: which copy)."""
    import jsonschema

    schema = json.loads(COMPOSE_SCHEMA.read_text())
    validator = jsonschema.Draft7Validator(schema)  # the draft its `$schema` names
    return [f"{error.json_path}: {error.message}" for error in validator.iter_errors(document)]


def test_compose_file_follows_the_compose_specification_schema(compose: dict[str, Any]) -> None:
    """The schema `docker compose config` checks against, applied without Docker."""
    assert compose_schema_errors(compose) == []


def test_the_schema_check_catches_a_misspelt_service_key(compose: dict[str, Any]) -> None:
    broken = deepcopy(compose)
    broken["services"]["webserver"]["restart_policy"] = broken["services"]["webserver"].pop("restart")
    errors = compose_schema_errors(broken)
    assert len(errors) == 1 and errors[0].startswith("$.services.webserver:") and "restart_policy" in errors[0]


@pytest.mark.needs_docker_engine  # the compose plugin comes with Docker's packages, not Debian's
def test_docker_compose_config_accepts_the_file(tmp_path: Path) -> None:
    """The compose CLI's own check (interpolation with the example env file too), where the plugin is installed."""
    if shutil.which("docker") is None:
        pytest.skip("no docker CLI")
    if subprocess.run(["docker", "compose", "version"], capture_output=True, check=False).returncode != 0:
        pytest.skip("the docker compose plugin is not installed")
    copy = tmp_path / "deploy"
    shutil.copytree(DEPLOY, copy)
    shutil.copyfile(copy / ".env.example", copy / ".env")
    result = subprocess.run(
        ["docker", "compose", "-f", str(copy / "docker-compose.yml"), "--env-file", str(copy / ".env"), "config", "-q"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


# --- Dockerfile ---------------------------------------------------------------------------------------


def test_dockerfile_matches_the_paths_compose_mounts(services: dict[str, dict[str, Any]]) -> None:
    text = (ROOT / "Dockerfile").read_text()
    env = dockerfile_env()
    assert re.search(r"^WORKDIR /opt/dagster/app$", text, flags=re.M)
    for name in APP_SERVICES:
        targets = mounts(services[name])
        assert targets[f"{env['DAGSTER_HOME']}/dagster.yaml"] == "./dagster.yaml", name
        if name in WORKERS:
            assert targets["/opt/dagster/app/deploy/celery.yaml"] == "./celery.yaml", name
        else:
            assert targets["/opt/dagster/app/deploy/workspace.docker.yaml"] == "./workspace.docker.yaml", name
        assert targets[env["SHORTS_DATA_DIR"]] == "data", name
    # The image's default command is the code server compose runs, on the port it checks.
    cmd = json.loads(re.findall(r"^CMD (\[.*\])$", text, flags=re.M)[-1])
    assert cmd == services["user_code"]["command"] and "EXPOSE 4000" in text
    # Volumes are initialised from the image: the non-root user must own the data and home directories.
    assert "useradd --create-home --uid 1000 dagster" in text and "USER dagster" in text
    assert "chown -R dagster ${SHORTS_DATA_DIR} ${DAGSTER_HOME}" in text


def test_the_image_installs_every_module_the_instance_loads(instance_yaml: dict[str, Any]) -> None:
    import tomllib

    runtime = {
        re.split(r"[=<>\[ ]", dep)[0]
        for dep in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    }
    modules = {
        instance_yaml[key]["module"].split(".")[0] for key in ["run_launcher", "compute_logs", "run_coordinator"]
    }
    needed = {module.replace("_", "-") for module in modules} | {"dagster-postgres", "dagster-webserver"}
    # `uv sync --no-dev` in the Dockerfile: these must be runtime dependencies, not dev ones.
    assert needed <= runtime, needed - runtime


# --- deploy/dagster.yaml ------------------------------------------------------------------------------


def test_instance_agrees_with_compose(instance_yaml: dict[str, Any], compose: dict[str, Any]) -> None:
    launcher = instance_yaml["run_launcher"]["config"]
    assert launcher["network"] == compose["networks"]["default"]["name"]
    [volume] = launcher["container_kwargs"]["volumes"]
    name, target = volume.split(":")
    assert name == compose["volumes"]["data"]["name"] and target == dockerfile_env()["SHORTS_DATA_DIR"]
    assert launcher["image"] == {"env": "DAGSTER_IMAGE"}
    assert compose["x-app"]["image"].startswith("${DAGSTER_IMAGE")
    assert compose["services"]["user_code"]["environment"]["DAGSTER_CURRENT_IMAGE"].startswith("${DAGSTER_IMAGE")
    # Secrets by name only: a value written here would end up in every run's container config.
    assert all(re.fullmatch(r"[A-Z][A-Z0-9_]*", name) for name in launcher["env_vars"])


@pytest.mark.postgres
def test_production_instance_loads_on_postgres_and_s3(
    postgres_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3
    from dagster import DagsterInstance
    from dagster._core.storage.compute_log_manager import ComputeIOType
    from dagster._core.utils import parse_env_var
    from dagster_aws.s3.compute_log_manager import S3ComputeLogManager
    from dagster_docker import DockerRunLauncher
    from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage
    from moto.server import ThreadedMotoServer

    from pipeline_assets.pools import POOL_LIMITS, apply_pool_limits

    s3_server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    s3_server.start()
    try:
        host, port = s3_server.get_host_and_port()
        values, _ = env_example()
        # The documented file, with only the service addresses moved to this machine.
        overrides = {
            "DAGSTER_PG_USERNAME": "postgres",
            "DAGSTER_PG_PASSWORD": "",
            "DAGSTER_PG_HOST": "127.0.0.1",
            "DAGSTER_PG_DB": postgres_db,
            "DAGSTER_PG_PORT": "5432",
            "DAGSTER_S3_ENDPOINT_URL": f"http://{host}:{port}",
        }
        for key, value in {**values, **overrides}.items():
            monkeypatch.setenv(key, value)
        s3 = boto3.client("s3", endpoint_url=f"http://{host}:{port}", region_name=values["AWS_DEFAULT_REGION"])
        s3.create_bucket(Bucket=values["DAGSTER_COMPUTE_LOGS_BUCKET"])  # what `createbuckets` does
        shutil.copyfile(DEPLOY / "dagster.yaml", tmp_path / "dagster.yaml")

        with DagsterInstance.from_config(str(tmp_path)) as instance:
            assert isinstance(instance.run_storage, PostgresRunStorage)
            assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
            assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
            assert instance.get_runs() == []

            launcher = instance.run_launcher
            assert isinstance(launcher, DockerRunLauncher)
            assert launcher.image == values["DAGSTER_IMAGE"] and launcher.networks == ["viral_shorts_network"]
            # What DockerRunLauncher does at launch: every name resolves from the daemon's environment.
            env = dict(parse_env_var(name) for name in launcher.env_vars)
            assert env["DAGSTER_PG_DB"] == postgres_db and env["OPENAI_API_KEY"] == ""

            queue = instance.get_concurrency_config().run_queue_config
            assert queue is not None and queue.max_concurrent_runs > 0
            limits = {limit["key"]: limit for limit in queue.tag_concurrency_limits}
            assert limits["dagster/backfill"]["limit"] < queue.max_concurrent_runs
            assert limits["viral/source"]["value"] == {"applyLimitPerUniqueValue": True}
            assert queue.max_user_code_failure_retries > 0
            assert instance.get_concurrency_config().pool_config.default_pool_limit == 2

            assert instance.run_monitoring_enabled and instance.run_monitoring_max_resume_run_attempts > 0
            assert instance.run_retries_enabled and instance.run_retries_max_retries == 2
            assert not instance.run_retries_retry_on_asset_or_op_failure

            # What `init` does: the per-API pools land in Postgres.
            apply_pool_limits(instance)
            assert instance.event_log_storage.get_concurrency_info("openai").slot_count == POOL_LIMITS["openai"]

            manager = instance.compute_log_manager
            assert isinstance(manager, S3ComputeLogManager)
            log_key = ["deploy-test", "compute_logs", "step"]
            # A step's captured stdout, as the local capture leaves it, uploaded the way a finished step's is.
            local = Path(manager.local_manager.get_captured_local_path(log_key, "out"))
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_text("hello from a step\n")
            manager.upload_to_cloud_storage(log_key, ComputeIOType.STDOUT)
            assert manager.cloud_storage_has_logs(log_key, ComputeIOType.STDOUT)
            prefix = values["DAGSTER_COMPUTE_LOGS_PREFIX"]
            body = s3.get_object(
                Bucket=values["DAGSTER_COMPUTE_LOGS_BUCKET"], Key=f"{prefix}/storage/deploy-test/compute_logs/step.out"
            )
            assert b"hello from a step" in body["Body"].read()
            local.unlink()
    finally:
        s3_server.stop()


# --- Caddy: the only door -----------------------------------------------------------------------------


def test_caddyfile_protects_every_route_and_proxies_to_the_webserver(services: dict[str, dict[str, Any]]) -> None:
    text = (DEPLOY / "Caddyfile").read_text()
    assert re.search(r"basicauth \* \{\s*\{\$PROXY_USER\} \{\$PROXY_PASSWORD_HASH\}\s*\}", text)
    # Every refusal comes before the one reverse_proxy, in one `route` (written order, not Caddy's sorting).
    route = text[text.index("\troute {") : text.index("reverse_proxy")]
    assert route.count(" 403\n") == 4 and text.count("reverse_proxy") == 1
    assert re.search(r"^\tlog$", text, flags=re.M), "access log (status, user) for the 401s and 403s"
    assert "admin off" in text and "skip_install_trust" in text
    required = set(re.findall(r"\{\$([A-Z_]+)\}", text))  # no default: must come from compose
    assert required <= set(services["proxy"]["environment"]), required
    assert mounts(services["proxy"])["/etc/caddy/Caddyfile"] == "./Caddyfile"
    health = re.findall(r"http://127\.0\.0\.1:\{\$HEALTH_PORT:(\d+)\}", text)
    assert health and f"http://127.0.0.1:{health[0]}/" in services["proxy"]["healthcheck"]["test"]


class StandInWebserver(BaseHTTPRequestHandler):
    """Plays the Dagster webserver: answers everything and remembers which paths reached it."""

    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.seen.append(self.path)
        body = b"dagster-webserver-stand-in"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.mark.skipif(CADDY is None, reason="caddy is not installed (make system-test-deps)")
def test_proxy_refuses_requests_without_the_password(tmp_path: Path) -> None:
    password = "correct horse battery staple"
    StandInWebserver.seen = []
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), StandInWebserver)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    try:
        with (
            running_proxy(
                tmp_path,
                f"127.0.0.1:{upstream.server_address[1]}",
                user="operator",
                password_hash=bcrypt_hash(password),
            ) as proxy,
            proxy.client(timeout=30) as client,  # verifies against Caddy's CA for this host name: real TLS
        ):
            anonymous = client.post("/graphql", json={"query": "mutation { launchRun }"})
            assert anonymous.status_code == 401
            assert anonymous.headers["www-authenticate"].startswith("Basic")
            assert client.get("/", auth=("operator", "wrong password")).status_code == 401
            assert client.get("/", auth=("intruder", password)).status_code == 401
            assert StandInWebserver.seen == [], "an unauthenticated request reached the webserver"
            allowed = client.get("/server_info", auth=("operator", password))
            assert (allowed.status_code, allowed.text) == (200, "dagster-webserver-stand-in")
            assert StandInWebserver.seen == ["/server_info"]
            # Plain HTTP only redirects to HTTPS; it never serves the UI.
            redirect = client.get(f"http://localhost:{proxy.http_port}/graphql")
            assert redirect.status_code == 308 and redirect.headers["location"].startswith("https://localhost")
            assert client.get(f"http://127.0.0.1:{proxy.health_port}/").text == "ok"
            # The log shows who failed and who got in, never the password.
            logged = [(e["status"], e.get("user_id", "")) for e in proxy.access_log() if e["request"]["uri"] != "/"]
            assert (401, "") in logged and (200, "operator") in logged
            assert password not in proxy.log.read_text()
        assert StandInWebserver.seen == ["/server_info"]
    finally:
        upstream.shutdown()
        upstream.server_close()


@pytest.mark.skipif(CADDY is None, reason="caddy is not installed (make system-test-deps)")
def test_the_example_hash_lets_nobody_in(tmp_path: Path) -> None:
    """An .env copied without replacing the placeholder fails closed."""
    values, _ = env_example()
    placeholder = values["PROXY_PASSWORD_HASH"]
    with (
        running_proxy(tmp_path, "127.0.0.1:9", user="admin", password_hash=placeholder) as proxy,
        proxy.client(timeout=30) as client,
    ):
        for password in ["", "change.me", placeholder]:
            assert client.get("/", auth=("admin", password)).status_code == 401
