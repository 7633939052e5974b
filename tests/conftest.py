"""Shared fixtures: real media made locally once per session, and isolated settings per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow modules first (their order kept): with `make test`'s two workers the long daemon, kill and load tests
    start at once instead of leaving one worker alone at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


POSTGRES = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "test"}


@pytest.fixture
def postgres_db() -> Iterator[str]:
    """A fresh database on the local PostgreSQL server, dropped afterwards (even with connections still open)."""
    name = f"shorts_{uuid.uuid4().hex[:12]}"
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
