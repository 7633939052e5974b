"""`shorts db upgrade`: bring the pipeline's database (publish ledger, metrics series) to the current schema.

`make dev`, `make demo` and the deployment's init container run it; every process also upgrades a database it
opens (resources/database/engine.py), so this is the place to see it happen and to catch a refusal early.
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
    import sqlalchemy as sa

    from resources.database.engine import bring_up_to_date, database_url

    url = database_url(args.url or PipelineSettings.from_env().database_location)
    engine = sa.create_engine(url)
    try:
        upgrade = bring_up_to_date(engine)
    finally:
        engine.dispose()
    print(f"database schema up to date ({upgrade}): {_redacted(url)}")
    return 0


def _redacted(url: str) -> str:
    """The URL without its password (it is printed)."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
