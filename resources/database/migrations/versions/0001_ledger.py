"""The publish ledger: posts, upload resume state, reservations.

Revision ID: 0001
Revises:
Create Date: 2026-12-01

A baseline: databases from before migrations were made by `create_all` and hold some of these tables already
(a ledger older than reservations has the first two), so only the missing ones are created.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    existing = set() if context.is_offline_mode() else set(sa.inspect(op.get_bind()).get_table_names())
    if "shorts_posts" not in existing:
        op.create_table(
            "shorts_posts",
            sa.Column("partition_key", sa.String(64), primary_key=True),
            sa.Column("platform", sa.String(32), primary_key=True),
            sa.Column("remote_id", sa.String(256), nullable=False),
            sa.Column("record_json", sa.Text, nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
        )
    if "shorts_upload_state" not in existing:
        op.create_table(
            "shorts_upload_state",
            sa.Column("partition_key", sa.String(64), primary_key=True),
            sa.Column("platform", sa.String(32), primary_key=True),
            sa.Column("state_json", sa.Text, nullable=False),
        )
    if "shorts_post_reservations" not in existing:
        op.create_table(
            "shorts_post_reservations",
            sa.Column("partition_key", sa.String(64), primary_key=True),
            sa.Column("platform", sa.String(32), primary_key=True),
            sa.Column("state", sa.String(16), nullable=False),
            sa.Column("owner", sa.String(128), nullable=False),
            sa.Column("renewed_at", sa.Float, nullable=False),
            sa.Column("create_json", sa.Text, nullable=False),
            sa.Column("record_json", sa.Text, nullable=False),
            sa.Column("check_text", sa.Text, nullable=False),
        )


def downgrade() -> None:
    op.drop_table("shorts_post_reservations")
    op.drop_table("shorts_upload_state")
    op.drop_table("shorts_posts")
