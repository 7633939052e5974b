"""`health`: each component checked for real against a temporary DAGSTER_HOME (SQLite, then PostgreSQL)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import DagsterInstance
from dagster._daemon.types import DaemonHeartbeat

from cli.__main__ import main
from cli.health import ComponentHealth, HealthReport, check_health
from resources.settings import PROJECT_ROOT, PipelineSettings
from tests.system.local_servers import free_port, serving_folder

PG_PASSWORD = "hunter2-not-for-logs"


@pytest.fixture
def dagster_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh DAGSTER_HOME with the project's dagster.yaml (SQLite storage, queued runs, run monitoring)."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((PROJECT_ROOT / "dagster.yaml").read_text())
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


@pytest.fixture
def closed_port_url() -> str:
    """The URL of a port on 127.0.0.1 where nothing listens."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def webserver_url(tmp_path: Path) -> Iterator[str]:
    """A stand-in for dagster-webserver: a folder whose `server_info` file is the JSON the webserver answers."""
    root = tmp_path / "webserver"
    root.mkdir()
    (root / "server_info").write_text(json.dumps({"dagster_webserver_version": "1.test", "dagster_version": "1.test"}))
    with serving_folder(root) as url:
        yield url


def component(report: HealthReport, name: str) -> ComponentHealth:
    return next(c for c in report.components if c.name == name)


def beat(*, age_s: float = 0.0) -> None:
    """Write a heartbeat for every daemon the instance requires, `age_s` seconds old."""
    with DagsterInstance.get() as instance:
        for kind in instance.get_required_daemon_types():
            instance.add_daemon_heartbeat(DaemonHeartbeat(time.time() - age_s, kind, str(uuid.uuid4()), None))


def test_webserver_down_says_start_it_with_make_dev(dagster_home: Path, closed_port_url: str) -> None:
    report = check_health(ui_url=closed_port_url, settings=PipelineSettings(data_dir=str(dagster_home / "data")))
    webserver = component(report, "webserver")
    assert not webserver.ok and not report.ok
    assert closed_port_url in webserver.detail and "start it with `make dev`" in webserver.detail


def test_webserver_answering_server_info_is_ok(dagster_home: Path, webserver_url: str) -> None:
    report = check_health(ui_url=webserver_url, settings=PipelineSettings(data_dir=str(dagster_home / "data")))
    webserver = component(report, "webserver")
    assert webserver.ok and "1.test" in webserver.detail and webserver.latency_ms > 0


def test_media_store_probe_writes_reads_and_deletes(dagster_home: Path, closed_port_url: str) -> None:
    data = dagster_home.parent / "data"
    report = check_health(ui_url=closed_port_url, settings=PipelineSettings(data_dir=str(data)))
    store = component(report, "media_store")
    assert store.ok, store.detail
    assert str(data / "media") in store.detail
    assert list((data / "media" / "health").iterdir()) == [], "the probe object was left behind"


def test_unwritable_media_store_is_not_ok(dagster_home: Path, closed_port_url: str) -> None:
    blocker = dagster_home.parent / "not-a-folder"
    blocker.write_text("a file where the data folder should be")  # unwritable even for root
    report = check_health(ui_url=closed_port_url, settings=PipelineSettings(data_dir=str(blocker / "data")))
    store = component(report, "media_store")
    assert not store.ok
    assert "not writable" in store.detail and "SHORTS_DATA_DIR" in store.detail


def test_daemon_without_heartbeats_says_what_to_run(dagster_home: Path, closed_port_url: str) -> None:
    report = check_health(ui_url=closed_port_url, settings=PipelineSettings(data_dir=str(dagster_home / "data")))
    daemon = component(report, "daemon")
    assert not daemon.ok
    assert "no heartbeat from" in daemon.detail and "SENSOR" in daemon.detail
    assert "make dev" in daemon.detail and "dagster-daemon run" in daemon.detail


def test_daemon_with_fresh_heartbeats_is_ok(dagster_home: Path, closed_port_url: str) -> None:
    beat(age_s=5)
    daemon = component(
        check_health(ui_url=closed_port_url, settings=PipelineSettings(data_dir=str(dagster_home))), "daemon"
    )
    assert daemon.ok, daemon.detail


def test_daemon_with_stale_heartbeats_is_not_ok(dagster_home: Path, closed_port_url: str) -> None:
    beat(age_s=300)
    daemon = component(
        check_health(ui_url=closed_port_url, settings=PipelineSettings(data_dir=str(dagster_home))), "daemon"
    )
    assert not daemon.ok and "s ago" in daemon.detail and "make dev" in daemon.detail


def test_sqlite_database_is_ok(dagster_home: Path, closed_port_url: str) -> None:
    report = check_health(ui_url=closed_port_url, settings=PipelineSettings(data_dir=str(dagster_home / "data")))
    database = component(report, "database")
    assert database.ok and f"sqlite in {dagster_home}" in database.detail


def test_cli_exit_code_and_json(dagster_home: Path, closed_port_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["health", "--url", closed_port_url, "--json"]) == 1
    printed = json.loads(capsys.readouterr().out)
    assert printed["ok"] is False
    assert {c["name"] for c in printed["components"]} == {"webserver", "database", "daemon", "media_store"}
    assert main(["health", "--url", closed_port_url]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4 and lines[0].startswith("FAIL webserver")


@pytest.fixture
def postgres_home(postgres_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A DAGSTER_HOME whose storage is a fresh database on the local PostgreSQL server, with a password set."""
    home = tmp_path / "pg_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        "storage:\n  postgres:\n    postgres_db:\n      username: postgres\n"
        f"      password: {PG_PASSWORD}\n      hostname: 127.0.0.1\n      db_name: {postgres_db}\n      port: 5432\n"
    )
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


@pytest.mark.postgres
def test_postgres_database_is_ok_and_shows_the_host_but_no_password(
    postgres_home: Path, postgres_db: str, closed_port_url: str
) -> None:
    report = check_health(ui_url=closed_port_url, settings=PipelineSettings(data_dir=str(postgres_home / "data")))
    database = component(report, "database")
    assert database.ok, database.detail
    assert f"postgres at 127.0.0.1:5432/{postgres_db}" in database.detail
    assert PG_PASSWORD not in report.model_dump_json()
