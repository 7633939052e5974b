"""The analytics series: metric observations, the last reading's status, what each short was made from.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

A baseline like 0001: the version before migrations created these tables with `create_all` too, so only the
missing ones are created.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    existing = set() if context.is_offline_mode() else set(sa.inspect(op.get_bind()).get_table_names())
    if "shorts_metric_observations" not in existing:
        op.create_table(
            "shorts_metric_observations",
            sa.Column("partition_key", sa.String(64), primary_key=True),
            sa.Column("platform", sa.String(32), primary_key=True),
            sa.Column("metric", sa.String(32), primary_key=True),
            sa.Column("observed_at", sa.DateTime(timezone=True), primary_key=True),
            sa.Column("value", sa.Float, nullable=False),
            sa.Column("source", sa.String(32), nullable=False),
        )
    if "shorts_metric_status" not in existing:
        op.create_table(
            "shorts_metric_status",
            sa.Column("partition_key", sa.String(64), primary_key=True),
            sa.Column("platform", sa.String(32), primary_key=True),
            sa.Column("status", sa.String(16), nullable=False),
            sa.Column("detail", sa.Text, nullable=False),
            sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("last_ok_at", sa.DateTime(timezone=True), nullable=True),
        )
    if "shorts_post_attributes" not in existing:
        op.create_table(
            "shorts_post_attributes",
            sa.Column("partition_key", sa.String(64), primary_key=True),
            sa.Column("record_json", sa.Text, nullable=False),
        )


def downgrade() -> None:
    op.drop_table("shorts_post_attributes")
    op.drop_table("shorts_metric_status")
    op.drop_table("shorts_metric_observations")
