"""The publish ledger: one row per (partition, platform) so a retry never posts twice.

SQLite file by default; PostgreSQL comes with the production configuration.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from resources.records import Post

_SCHEMA = """
CREATE TABLE IF NOT EXISTS posts (
    partition_key TEXT NOT NULL,
    platform TEXT NOT NULL,
    remote_id TEXT NOT NULL,
    record_json TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (partition_key, platform)
)
"""


class PublishLedger:
    """Records each post as soon as the platform (or the outbox) returns its id."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30)

    def get(self, partition_key: str, platform: str) -> Post | None:
        with self._connect() as db:
            row = db.execute(
                "SELECT record_json FROM posts WHERE partition_key = ? AND platform = ?",
                (partition_key, platform),
            ).fetchone()
        return Post.model_validate_json(row[0]) if row else None

    def record(self, post: Post) -> Post:
        """Store `post`; if another writer got there first, keep and return theirs."""
        with self._connect() as db:
            db.execute(
                "INSERT OR IGNORE INTO posts (partition_key, platform, remote_id, record_json) VALUES (?, ?, ?, ?)",
                (post.partition_key, post.platform, post.remote_id, post.model_dump_json()),
            )
        stored = self.get(post.partition_key, post.platform)
        return stored or post
