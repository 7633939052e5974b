"""Every table of the pipeline's database, on one MetaData: the schema the migrations build (a change here goes
with a new revision in `migrations/versions`; tests/providers/test_database_schema.py checks they agree).

Ledger: `shorts_posts` (one row per published post), `shorts_upload_state` (resume state of an upload in
progress), `shorts_post_reservations` (one publish at a time per partition and platform).
Analytics: `shorts_metric_observations` (one row per post, metric and observation time: the time series),
`shorts_metric_status` (the last reading's outcome per post and platform, so a revoked token or a deleted post
shows on that platform only), `shorts_post_attributes` (what each short was made from and with).
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()
# Alembic's revision table, named for this project: the pipeline's database may be Dagster's own PostgreSQL
# database, whose `alembic_version` holds Dagster's schema revision.
VERSION_TABLE = "shorts_alembic_version"


def is_ours(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic's `include_name`: autogenerate looks only at this project's tables (all named `shorts_*`), never at
    Dagster's or anyone else's in a shared database."""
    return type_ != "table" or bool(name and name.startswith("shorts_"))


posts = sa.Table(
    "shorts_posts",
    metadata,
    sa.Column("partition_key", sa.String(64), primary_key=True),
    sa.Column("platform", sa.String(32), primary_key=True),
    sa.Column("remote_id", sa.String(256), nullable=False),
    sa.Column("record_json", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
)
upload_state = sa.Table(
    "shorts_upload_state",
    metadata,
    sa.Column("partition_key", sa.String(64), primary_key=True),
    sa.Column("platform", sa.String(32), primary_key=True),
    sa.Column("state_json", sa.Text, nullable=False),
)
reservations = sa.Table(
    "shorts_post_reservations",
    metadata,
    sa.Column("partition_key", sa.String(64), primary_key=True),
    sa.Column("platform", sa.String(32), primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),  # publishing | unconfirmed
    sa.Column("owner", sa.String(128), nullable=False),
    sa.Column("renewed_at", sa.Float, nullable=False),  # epoch seconds: the lease
    sa.Column("create_json", sa.Text, nullable=False, default=""),  # the create call in flight, if any
    sa.Column("record_json", sa.Text, nullable=False, default=""),  # unconfirmed: the Post as far as it is known
    sa.Column("check_text", sa.Text, nullable=False, default=""),  # unconfirmed: what the operator must check
)

# The primary key is what makes a re-run, a second refresh or a re-imported CSV add no duplicate.
metric_observations = sa.Table(
    "shorts_metric_observations",
    metadata,
    sa.Column("partition_key", sa.String(64), primary_key=True),
    sa.Column("platform", sa.String(32), primary_key=True),
    sa.Column("metric", sa.String(32), primary_key=True),
    sa.Column("observed_at", sa.DateTime(timezone=True), primary_key=True),
    sa.Column("value", sa.Float, nullable=False),
    sa.Column("source", sa.String(32), nullable=False, default="api"),
)
metric_status = sa.Table(
    "shorts_metric_status",
    metadata,
    sa.Column("partition_key", sa.String(64), primary_key=True),
    sa.Column("platform", sa.String(32), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("detail", sa.Text, nullable=False, default=""),
    sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_ok_at", sa.DateTime(timezone=True), nullable=True),
)
post_attributes = sa.Table(
    "shorts_post_attributes",
    metadata,
    sa.Column("partition_key", sa.String(64), primary_key=True),
    sa.Column("record_json", sa.Text, nullable=False),
)
