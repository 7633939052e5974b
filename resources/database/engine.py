"""Open the pipeline's database by URL or file path, once per process, with its schema brought up to date by the
Alembic migrations in `migrations/` (one transaction that holds the database's lock, so processes starting
together never race)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError

from resources.database.tables import VERSION_TABLE
from resources.errors import ConfigurationError

ALEMBIC_INI = Path(__file__).with_name("alembic.ini")
# Any constant: PostgreSQL scopes advisory locks to the database, so only upgrades of the same one wait.
_SCHEMA_LOCK = 0x73686F727473  # "shorts" in ASCII


def database_url(location: str) -> str:
    """A SQLAlchemy URL for `location`: a URL as is, a file path as SQLite."""
    if "://" in location:
        return location
    path = Path(location).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def alembic_config() -> Config:
    """The migrations' configuration (script location inside the package: works from any directory)."""
    return Config(str(ALEMBIC_INI))


class SchemaUpgrade(NamedTuple):
    before: str | None  # None: a database without migrations (new, or made by create_all before them)
    after: str

    def __str__(self) -> str:
        return (
            f"revision {self.after}"
            if self.before == self.after
            else f"revision {self.before or 'none'} -> {self.after}"
        )


def bring_up_to_date(engine: sa.Engine) -> SchemaUpgrade:
    """Apply the migrations this database lacks (`upgrade head`); a no-op when it is current.

    A database made before migrations (tables from `create_all`, no version table) is adopted: the baseline
    revisions create only the tables it lacks and keep its rows. A database at a revision this code does not know
    (upgraded by a newer version) is refused with a ConfigurationError rather than touched.
    """
    config = alembic_config()
    with engine.connect() as connection, _exclusive(connection):
        before = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE}).get_current_revision()
        _refuse_unknown(ScriptDirectory.from_config(config), before, engine.url)
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
        after = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE}).get_current_revision()
    assert after is not None
    return SchemaUpgrade(before, after)


@contextmanager
def _exclusive(connection: sa.Connection) -> Iterator[None]:
    """One transaction holding a lock that a second upgrade of the same database waits for; committed at the end."""
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK})  # until commit
        yield
        connection.commit()
    elif connection.dialect.name == "sqlite":
        # SQLite's DDL is transactional; EXCLUSIVE makes a second upgrade wait for this one's commit. The pooled
        # connection gets its usual busy timeout back afterwards.
        timeout = connection.exec_driver_sql("PRAGMA busy_timeout").scalar()
        connection.exec_driver_sql("PRAGMA busy_timeout = 120000")
        try:
            connection.exec_driver_sql("BEGIN EXCLUSIVE")
            yield
            connection.commit()
        finally:
            connection.exec_driver_sql(f"PRAGMA busy_timeout = {int(timeout or 0)}")
    else:
        yield
        connection.commit()


def _refuse_unknown(script: ScriptDirectory, revision: str | None, url: sa.URL) -> None:
    if revision is None:
        return
    try:
        script.get_revision(revision)
    except CommandError:
        head = script.get_current_head()
        raise ConfigurationError(
            f"the pipeline's database {url.render_as_string(hide_password=True)} is at schema revision "
            f"{revision!r}, which this code does not know (its newest is {head!r}): a newer version of the "
            "pipeline upgraded it. Upgrade the code to that version (or point SHORTS_LEDGER_URL at another database)."
        ) from None


class _Engines:
    """One engine (and one schema upgrade) per URL, also with callers in several threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_url: dict[str, sa.Engine] = {}

    def __call__(self, location: str) -> sa.Engine:
        url = database_url(location)
        with self._lock:
            if url not in self._by_url:
                engine = sa.create_engine(url, pool_pre_ping=True)
                bring_up_to_date(engine)
                self._by_url[url] = engine
            return self._by_url[url]

    def cache_clear(self) -> None:
        with self._lock:
            self._by_url.clear()


open_database = _Engines()
