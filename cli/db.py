"""`shorts db upgrade`: bring the pipeline's database (publish ledger, metrics series) to the current schema.

`make dev`, the demo and the deployment's init container run it; the code also upgrades a database it opens.
"""

from __future__ import annotations

import argparse

from resources.settings import PipelineSettings


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("db", help="the pipeline's database (publish ledger, metrics series)")
    actions = parser.add_subparsers(dest="action", required=True)
    upgrade = actions.add_parser("upgrade", help="bring the schema up to date (safe to run again)")
    upgrade.add_argument("--url", default="", help="database file or SQLAlchemy URL; default: the deployment's")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # Imported here: the database module loads SQLAlchemy.
    from resources.database.engine import database_url, open_database

    location = args.url or PipelineSettings.from_env().database_location
    open_database(location)
    print(f"database schema up to date: {_redacted(database_url(location))}")
    return 0


def _redacted(url: str) -> str:
    """The URL without its password (it is printed)."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
