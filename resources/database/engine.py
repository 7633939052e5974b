"""Open the pipeline's database by URL or file path, once per process, with its schema up to date."""

from __future__ import annotations

import threading
from pathlib import Path

import sqlalchemy as sa

from resources.database.tables import metadata


def database_url(location: str) -> str:
    """A SQLAlchemy URL for `location`: a URL as is, a file path as SQLite."""
    if "://" in location:
        return location
    path = Path(location).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def bring_up_to_date(engine: sa.Engine) -> None:
    """Create what is missing (tables are only ever added)."""
    try:
        metadata.create_all(engine)
    except sa.exc.DBAPIError:
        # Another process created the same table at the same moment (PostgreSQL's catalog refuses the second
        # CREATE); by now it exists, so checking again finds everything in place.
        metadata.create_all(engine)


class _Engines:
    """One engine (and one schema check) per URL, also with callers in several threads."""

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
