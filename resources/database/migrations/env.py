"""Alembic's entry point for the pipeline's database: the code passes its open connection (bring_up_to_date);
the alembic command line gets the deployment's database, or `-x url=<file or SQLAlchemy URL>`."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from resources.database.tables import VERSION_TABLE, is_ours, metadata


def run(connection: sa.Connection) -> None:
    # Batch mode: SQLite changes a table by copying it, which plain ALTER cannot do there.
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,
        version_table=VERSION_TABLE,
        include_name=is_ours,
    )
    with context.begin_transaction():
        context.run_migrations()


def command_line_url() -> str:
    from resources.database.engine import database_url
    from resources.settings import PipelineSettings

    location = context.get_x_argument(as_dictionary=True).get("url") or PipelineSettings.from_env().database_location
    return database_url(location)


connection = context.config.attributes.get("connection")
if connection is not None:
    run(connection)
elif context.is_offline_mode():  # `alembic upgrade --sql`: the script for a DBA, nothing is executed
    context.configure(url=command_line_url(), target_metadata=metadata, literal_binds=True, version_table=VERSION_TABLE)
    with context.begin_transaction():
        context.run_migrations()
else:
    engine = sa.create_engine(command_line_url())
    with engine.connect() as opened:
        run(opened)
        opened.commit()
