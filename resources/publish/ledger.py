"""The publish ledger: one row per (partition, platform) so a retry never posts twice.

It also keeps each upload's resume state (a YouTube session URI, a TikTok publish id, an X media id), so an
interrupted upload continues instead of starting a second post. SQLite file by default; PostgreSQL in
production (any SQLAlchemy URL: `postgresql+psycopg2://user@host/db`).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from resources.records import Post

_metadata = sa.MetaData()
posts = sa.Table(
    "shorts_posts",
    _metadata,
    sa.Column("partition_key", sa.String(64), primary_key=True),
    sa.Column("platform", sa.String(32), primary_key=True),
    sa.Column("remote_id", sa.String(256), nullable=False),
    sa.Column("record_json", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
)
upload_state = sa.Table(
    "shorts_upload_state",
    _metadata,
    sa.Column("partition_key", sa.String(64), primary_key=True),
    sa.Column("platform", sa.String(32), primary_key=True),
    sa.Column("state_json", sa.Text, nullable=False),
)


@cache
def _engine(url: str) -> sa.Engine:
    engine = sa.create_engine(url, pool_pre_ping=True)
    _metadata.create_all(engine)
    return engine


def ledger_url(location: str) -> str:
    """A SQLAlchemy URL for `location`: a URL as is, a file path as SQLite."""
    if "://" in location:
        return location
    path = Path(location).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


class PublishLedger:
    """Records each post as soon as the platform (or the outbox) returns its id."""

    def __init__(self, location: str | Path) -> None:
        self.engine = _engine(ledger_url(str(location)))

    def get(self, partition_key: str, platform: str) -> Post | None:
        query = sa.select(posts.c.record_json).where(
            posts.c.partition_key == partition_key, posts.c.platform == platform
        )
        with self.engine.connect() as db:
            row = db.execute(query).first()
        return Post.model_validate_json(row[0]) if row else None

    def record(self, post: Post) -> Post:
        """Store `post`; if another writer got there first, keep and return theirs. Clears the resume state."""
        try:
            with self.engine.begin() as db:
                db.execute(
                    posts.insert().values(
                        partition_key=post.partition_key,
                        platform=post.platform,
                        remote_id=post.remote_id,
                        record_json=post.model_dump_json(),
                    )
                )
                db.execute(
                    upload_state.delete().where(
                        upload_state.c.partition_key == post.partition_key, upload_state.c.platform == post.platform
                    )
                )
        except IntegrityError:
            pass
        return self.get(post.partition_key, post.platform) or post

    def checkpoint(self, partition_key: str, platform: str) -> UploadCheckpoint:
        return UploadCheckpoint(self, partition_key, platform)

    def _load_state(self, partition_key: str, platform: str) -> dict[str, Any]:
        query = sa.select(upload_state.c.state_json).where(
            upload_state.c.partition_key == partition_key, upload_state.c.platform == platform
        )
        with self.engine.connect() as db:
            row = db.execute(query).first()
        return dict(json.loads(row[0])) if row else {}

    def _save_state(self, partition_key: str, platform: str, state: dict[str, Any]) -> None:
        where = (upload_state.c.partition_key == partition_key) & (upload_state.c.platform == platform)
        with self.engine.begin() as db:
            db.execute(upload_state.delete().where(where))
            if state:
                db.execute(
                    upload_state.insert().values(
                        partition_key=partition_key, platform=platform, state_json=json.dumps(state)
                    )
                )


class UploadCheckpoint:
    """Resume state of one (partition, platform) upload, saved at once so a crash loses nothing."""

    def __init__(self, ledger: PublishLedger, partition_key: str, platform: str) -> None:
        self._ledger, self._key, self._platform = ledger, partition_key, platform
        self._state = ledger._load_state(partition_key, platform)

    def get(self, name: str, default: Any = None) -> Any:
        return self._state.get(name, default)

    def set(self, name: str, value: Any) -> None:
        self._state[name] = value
        self._ledger._save_state(self._key, self._platform, self._state)

    def clear(self) -> None:
        self._state = {}
        self._ledger._save_state(self._key, self._platform, {})
