"""The pipeline's database schema is made by its Alembic migrations (SQLite file and the real PostgreSQL): from
empty they build exactly tables.py, a database made by `create_all` before migrations is adopted with its rows,
upgrading again changes nothing, processes opening one new database at once all succeed, and a database newer
than the code is refused with a message that says so."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from datetime import UTC, datetime
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from resources.database import tables
from resources.database.engine import SchemaUpgrade, alembic_config, bring_up_to_date, database_url, open_database
from resources.database.tables import VERSION_TABLE
from resources.errors import ConfigurationError

HEAD = "0002"
LEDGER = ["shorts_posts", "shorts_upload_state", "shorts_post_reservations"]
ANALYTICS = ["shorts_metric_observations", "shorts_metric_status", "shorts_post_attributes"]
PROCESSES = 4
LIMIT_S = 120.0


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A new, empty database: a SQLite file, or a fresh database on the PostgreSQL server."""
    monkeypatch.chdir(tmp_path)  # the migrations are found from any working directory
    if request.param == "sqlite":
        yield database_url(str(tmp_path / "data" / "pipeline.sqlite3"))
    else:
        yield f"postgresql+psycopg2://postgres@127.0.0.1:5432/{request.getfixturevalue('postgres_db')}"
    open_database.cache_clear()


@pytest.fixture
def engine(url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(url)
    yield engine
    engine.dispose()


def shorts(argv: list[str]) -> int:
    # Imported here: the worker processes import this module, and the command line loads all of Dagster.
    from cli.__main__ import main

    return main(argv)


def schema_diff(engine: sa.Engine) -> list[Any]:
    """What autogenerate would change to make the database match tables.py (types and server defaults too)."""
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "compare_type": True,
                "compare_server_default": True,
                "version_table": VERSION_TABLE,
                "include_name": tables.is_ours,
            },
        )
        return list(compare_metadata(context, tables.metadata))


def revision(engine: sa.Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE}).get_current_revision()


def create_all_of(engine: sa.Engine, names: list[str]) -> None:
    """These tables as a version before migrations made them: `create_all`, no version table."""
    old = sa.MetaData()
    for name in names:
        tables.metadata.tables[name].to_metadata(old)
    old.create_all(engine)


def test_migrations_from_empty_build_exactly_the_declared_tables(engine: sa.Engine) -> None:
    assert bring_up_to_date(engine) == SchemaUpgrade(None, HEAD)

    assert schema_diff(engine) == []
    assert set(sa.inspect(engine).get_table_names()) == {*LEDGER, *ANALYTICS, VERSION_TABLE}


def test_dagsters_own_schema_in_the_same_database_is_left_alone(engine: sa.Engine) -> None:
    # Production may point SHORTS_LEDGER_URL at Dagster's PostgreSQL database: its alembic_version is Dagster's.
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
        connection.execute(sa.text("INSERT INTO alembic_version VALUES ('29b539ebc72a')"))
    assert bring_up_to_date(engine) == SchemaUpgrade(None, HEAD)
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == "29b539ebc72a"
    assert schema_diff(engine) == []


def test_the_revisions_are_the_ledger_then_the_analytics_tables(engine: sa.Engine) -> None:
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
    assert set(sa.inspect(engine).get_table_names()) == {*LEDGER, VERSION_TABLE}
    assert bring_up_to_date(engine) == SchemaUpgrade("0001", HEAD)
    assert schema_diff(engine) == []


def test_upgrading_again_changes_nothing(engine: sa.Engine) -> None:
    bring_up_to_date(engine)
    with engine.begin() as connection:
        connection.execute(tables.post_attributes.insert().values(partition_key="k", record_json="{}"))

    assert bring_up_to_date(engine) == SchemaUpgrade(HEAD, HEAD)
    assert bring_up_to_date(engine) == SchemaUpgrade(HEAD, HEAD)

    assert schema_diff(engine) == []
    with engine.connect() as connection:
        assert connection.execute(sa.select(tables.post_attributes.c.partition_key)).scalars().all() == ["k"]


@pytest.mark.parametrize(
    "old_tables",
    [LEDGER[:2], LEDGER, LEDGER + ANALYTICS],
    ids=["ledger-before-reservations", "ledger", "ledger-and-analytics"],
)
def test_a_database_made_by_create_all_is_adopted_and_keeps_its_rows(engine: sa.Engine, old_tables: list[str]) -> None:
    create_all_of(engine, old_tables)
    posted = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    with engine.begin() as connection:
        connection.execute(
            tables.posts.insert().values(partition_key="k", platform="x", remote_id="t1", record_json="{}")
        )
        connection.execute(tables.upload_state.insert().values(partition_key="k", platform="youtube", state_json="{}"))
        if "shorts_metric_observations" in old_tables:
            connection.execute(
                tables.metric_observations.insert().values(
                    partition_key="k", platform="x", metric="views", observed_at=posted, value=42.0, source="api"
                )
            )

    assert bring_up_to_date(engine) == SchemaUpgrade(None, HEAD)

    assert schema_diff(engine) == []
    assert revision(engine) == HEAD
    with engine.connect() as connection:
        assert connection.execute(sa.select(tables.posts.c.remote_id)).scalars().all() == ["t1"]
        assert connection.execute(sa.select(tables.upload_state.c.platform)).scalars().all() == ["youtube"]
        views = connection.execute(sa.select(tables.metric_observations.c.value)).scalars().all()
    assert views == ([42.0] if "shorts_metric_observations" in old_tables else [])


def test_a_database_newer_than_the_code_is_refused_with_the_revision_and_the_fix(
    engine: sa.Engine, url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    bring_up_to_date(engine)
    with engine.begin() as connection:
        connection.execute(sa.text(f"UPDATE {VERSION_TABLE} SET version_num = '0099'"))

    with pytest.raises(ConfigurationError, match=r"schema revision '0099'.*newest is '0002'.*Upgrade the code"):
        bring_up_to_date(engine)
    with pytest.raises(ConfigurationError, match="'0099'"):
        open_database(url)
    assert shorts(["db", "upgrade", "--url", url]) == 1
    assert "error: the pipeline's database" in capsys.readouterr().err
    assert revision(engine) == "0099"  # left as it was


def test_shorts_db_upgrade_says_what_it_did(url: str, engine: sa.Engine, capsys: pytest.CaptureFixture[str]) -> None:
    assert shorts(["db", "upgrade", "--url", url]) == 0
    assert "database schema up to date (revision none -> 0002)" in capsys.readouterr().out
    assert shorts(["db", "upgrade", "--url", url]) == 0
    assert "database schema up to date (revision 0002)" in capsys.readouterr().out
    assert schema_diff(engine) == []


def _open(url: str, start: Barrier, results: Queue) -> None:
    """One process (webserver, daemon, run worker) opening the database: wait for the others, then upgrade."""
    try:
        start.wait(timeout=LIMIT_S)
        engine = sa.create_engine(url)
        results.put(str(bring_up_to_date(engine)))
        engine.dispose()
    except Exception as exc:
        results.put(f"{type(exc).__name__}: {exc}")


def test_processes_opening_one_new_database_at_once_all_succeed_and_one_upgrades(url: str, engine: sa.Engine) -> None:
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(PROCESSES)
    results: Queue = context.Queue()
    processes = [context.Process(target=_open, args=(url, start, results)) for _ in range(PROCESSES)]
    for process in processes:
        process.start()
    try:
        answers = sorted(results.get(timeout=LIMIT_S) for _ in processes)
    finally:
        for process in processes:
            process.join(timeout=LIMIT_S)
            process.kill()

    assert answers == ["revision 0002"] * (PROCESSES - 1) + ["revision none -> 0002"]
    assert schema_diff(engine) == []
