"""Shared fixtures: real media made locally once per session, and isolated settings per test.

Under CI=true nothing is skipped for something missing: `.ci/run` installs what the suite needs, so a skip there
means a missing install step, and it fails. Only tests marked `needs_docker_engine` may skip.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Generator, Iterator
from pathlib import Path

import psycopg2
import pytest

from cli.sample_source import make_sample_source
from resources.settings import PipelineSettings

SHORT_NARRATION = [
    "Here is a quick kitchen trick that saves you time every single morning.",
    "Freeze chopped herbs in olive oil inside an ice cube tray.",
    "Then drop one cube straight into the hot pan whenever you cook.",
]


@pytest.fixture(scope="session")
def sample_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ~12 s 1280x720 H.264/AAC video with real speech (Piper), made offline."""
    return make_sample_source(tmp_path_factory.mktemp("samples") / "sample.mp4", narration=SHORT_NARRATION)


@pytest.fixture
def settings(tmp_path: Path) -> PipelineSettings:
    """Settings whose data folder (media, outbox, ledger) is private to the test."""
    return PipelineSettings(data_dir=str(tmp_path / "data"))


ON_CI = os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}
DOCKER_ENGINE = "needs_docker_engine"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{DOCKER_ENGINE}: needs Docker's own packages (a running engine, or the compose plugin), which cannot be "
        "installed here; the only tests that may skip under CI=true",
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Under CI, a skip from a `skipif` mark, a fixture or the test body is a failure saying what was missing."""
    report = yield
    if ON_CI and report.skipped and not hasattr(report, "wasxfail") and not item.get_closest_marker(DOCKER_ENGINE):
        _fail_instead_of_skip(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    """Under CI, a module that skips itself while being collected (`pytest.skip(allow_module_level=True)`,
    `pytest.importorskip`) fails too."""
    report = yield
    if ON_CI and report.skipped:
        _fail_instead_of_skip(report)
    return report


def _fail_instead_of_skip(report: pytest.TestReport | pytest.CollectReport) -> None:
    where, reason = report.nodeid, str(report.longrepr)
    if isinstance(report.longrepr, tuple):  # (path, line, "Skipped: reason")
        path, line, reason = report.longrepr
        where = f"{path}:{line}" if line is not None else path
    report.outcome = "failed"
    report.longrepr = (
        f"{where}: {reason}\nCI=true: only tests marked {DOCKER_ENGINE} may skip. Install what is missing in .ci/run "
        "(Debian packages: the Makefile's system-test-deps target), or fix the test."
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow modules first (their order kept): with `make test`'s two workers the long daemon, kill and load tests
    start at once instead of leaving one worker alone at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


POSTGRES = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "test"}


@contextlib.contextmanager
def scratch_database(prefix: str = "shorts") -> Iterator[str]:
    """A fresh database on the local PostgreSQL server (its name), dropped afterwards even with connections open."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(**POSTGRES)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture
def postgres_db() -> Iterator[str]:
    """A fresh database on the local PostgreSQL server, dropped afterwards (even with connections still open)."""
    with scratch_database() as name:
        yield name
