"""Health of a running deployment: webserver, daemon, instance database and MediaStore, one line each.

`shorts health [--url http://127.0.0.1:3000] [--json]` exits 0 when every component is
healthy, 1 otherwise. Each check is independent: one broken component never hides the state of the others.
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import httpx
from pydantic import BaseModel, Field, computed_field

from cli.instance import ensure_dagster_home
from cli.webserver import Login, add_login_argument, add_url_argument, login_from, webserver_client
from resources.media.store import MediaStore
from resources.settings import PipelineSettings

if TYPE_CHECKING:
    from dagster import DagsterInstance

HEARTBEAT_MAX_AGE_S = 60.0  # the daemon beats every 30 s: two missed beats means it is gone
HTTP_TIMEOUT_S = 5.0
NEEDS_INSTANCE = ("database", "daemon")
START_HINT = "start it with `make dev` (or `dagster-daemon run` next to a separate webserver)"


class ComponentHealth(BaseModel):
    """The state of one component."""

    name: str = Field(description="webserver, daemon, database or media_store.")
    ok: bool
    detail: str = Field(description="What was checked, or what is wrong and what to do.")
    latency_ms: float = Field(description="Time the check took.")


class HealthReport(BaseModel):
    """One entry per component; healthy when every entry is."""

    components: list[ComponentHealth]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def ok(self) -> bool:
        return all(component.ok for component in self.components)

    def lines(self) -> list[str]:
        """`ok   webserver    12 ms  detail`, one line per component."""
        return [
            f"{'ok' if c.ok else 'FAIL':<4} {c.name:<12} {c.latency_ms:>7.0f} ms  {c.detail}" for c in self.components
        ]


def check_health(*, ui_url: str, settings: PipelineSettings | None = None, login: Login | None = None) -> HealthReport:
    """Check the webserver at `ui_url` (through the proxy with `login`), the instance of $DAGSTER_HOME (daemon,
    database) and the MediaStore."""
    settings = settings or PipelineSettings.from_env()
    components = [_timed("webserver", lambda: _check_webserver(ui_url, login))]
    try:
        from dagster import DagsterInstance

        instance = DagsterInstance.get()
    except Exception as exc:  # DAGSTER_HOME unset, unreadable dagster.yaml, database down at connect time
        problem = f"cannot load the Dagster instance ({type(exc).__name__}: {_first_line(exc)}); check DAGSTER_HOME"
        components += [ComponentHealth(name=name, ok=False, detail=problem, latency_ms=0.0) for name in NEEDS_INSTANCE]
    else:
        with instance:
            components.append(_timed("database", lambda: _check_database(instance)))
            components.append(_timed("daemon", lambda: _check_daemon(instance)))
    store = MediaStore.from_settings(settings)
    components.append(_timed("media_store", lambda: _check_media_store(store)))
    return HealthReport(components=components)


def _timed(name: str, check: Callable[[], str]) -> ComponentHealth:
    """Run `check` (returns a detail, raises when unhealthy) and time it."""
    started = time.perf_counter()
    try:
        detail, ok = check(), True
    except Exception as exc:
        detail, ok = _first_line(exc), False
    return ComponentHealth(name=name, ok=ok, detail=detail, latency_ms=round((time.perf_counter() - started) * 1000, 1))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class Unhealthy(Exception):
    """A component answered, but not as it should; the message says what to do."""


def _check_webserver(ui_url: str, login: Login | None) -> str:
    url = f"{ui_url.rstrip('/')}/server_info"
    try:
        with webserver_client(ui_url, login) as client:
            response = client.get("/server_info", timeout=HTTP_TIMEOUT_S)
    except httpx.HTTPError as exc:
        raise Unhealthy(f"no webserver at {ui_url} ({type(exc).__name__}); start it with `make dev`") from exc
    if response.status_code != 200:
        raise Unhealthy(f"{url} answered HTTP {response.status_code}; is {ui_url} the Dagster webserver?")
    try:
        version = str(response.json().get("dagster_webserver_version", "?"))
    except ValueError as exc:
        raise Unhealthy(f"{url} did not answer JSON; is {ui_url} the Dagster webserver?") from exc
    return f"{ui_url} answers (dagster-webserver {version})"


def _check_database(instance: DagsterInstance) -> str:
    instance.get_runs(limit=1)
    return f"{storage_location(instance)} reachable"


def storage_location(instance: DagsterInstance) -> str:
    """Where the instance keeps runs, without credentials: `postgres at host:port/db` or `sqlite in <folder>`."""
    storage = instance.run_storage
    for kind in ("postgres", "mysql"):
        url = getattr(storage, f"{kind}_url", None)
        if isinstance(url, str):
            parsed = urlparse(url)
            port = f":{parsed.port}" if parsed.port else ""
            return f"{kind} at {parsed.hostname}{port}/{parsed.path.lstrip('/')}"
    if "sqlite" in type(storage).__name__.lower():
        return f"sqlite in {instance.root_directory}"
    return type(storage).__name__


def _check_daemon(instance: DagsterInstance) -> str:
    required = list(instance.get_required_daemon_types())
    if not required:
        return "no daemon required by this instance"
    heartbeats = instance.get_daemon_heartbeats()
    now = time.time()
    missing = [kind for kind in required if kind not in heartbeats]
    stale = {
        kind: now - heartbeats[kind].timestamp
        for kind in required
        if kind in heartbeats and now - heartbeats[kind].timestamp > HEARTBEAT_MAX_AGE_S
    }
    if missing or stale:
        problems = []
        if missing:
            problems.append(f"no heartbeat from {', '.join(missing)}")
        if stale:
            problems.append("last heartbeat " + ", ".join(f"{kind} {age:.0f} s ago" for kind, age in stale.items()))
        raise Unhealthy(f"the daemon is not running ({'; '.join(problems)}); {START_HINT}")
    newest = max(now - heartbeats[kind].timestamp for kind in required)
    return f"{len(required)} daemons beating (oldest heartbeat {newest:.0f} s ago)"


def _check_media_store(store: MediaStore) -> str:
    key = f"health/probe-{uuid.uuid4().hex}.txt"
    payload = f"health probe {time.time()}"
    where = store.location
    try:
        store.write_text(key, payload)
        if store.read_text(key) != payload:
            raise Unhealthy(f"media store {where}: a probe object read back different bytes")
        store.delete(key)
    except (OSError, Unhealthy) as exc:
        raise Unhealthy(
            f"media store {where} is not writable ({_first_line(exc)}); fix SHORTS_DATA_DIR or the bucket settings"
        ) from exc
    except Exception as exc:  # botocore / google-cloud errors: credentials, bucket, endpoint
        raise Unhealthy(f"media store {where}: {type(exc).__name__}: {_first_line(exc)}") from exc
    return f"{store.backend} {where}: write, read, delete ok"


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The `health` command."""
    parser = subparsers.add_parser("health", help="check webserver, daemon, database and media store")
    add_url_argument(parser)
    add_login_argument(parser)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Print the report; 0 when every component is healthy, 1 otherwise."""
    ensure_dagster_home()
    report = check_health(ui_url=args.url, login=login_from(args.user))
    print(report.model_dump_json(indent=2) if args.json else "\n".join(report.lines()))
    return 0 if report.ok else 1
