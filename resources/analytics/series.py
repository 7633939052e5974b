"""The metrics time series: one row per (post, metric, observation time), in the ledger's database.

Readings are only ever added: the row's primary key is (partition, platform, metric, observed_at), so a
re-run, a second refresh or a re-imported CSV adds nothing twice, and a failed reading (deleted post, revoked
token, missing scope, 429) is recorded in `shorts_metric_status` without touching the series it already has.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from resources.analytics.ladder import is_due
from resources.analytics.records import MetricsReading, PostAttributes
from resources.database.engine import open_database
from resources.database.tables import metric_observations, metric_status, post_attributes, posts
from resources.records import Post


@dataclass(frozen=True, slots=True)
class Observation:
    partition_key: str
    platform: str
    metric: str
    observed_at: datetime
    value: float


@dataclass(frozen=True, slots=True)
class PlatformStatus:
    status: str
    detail: str
    attempted_at: datetime
    last_ok_at: datetime | None


def _utc(moment: datetime) -> datetime:
    """SQLite hands datetimes back naive; every time here is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class MetricsSeries:
    """Reads and writes the series, the per-platform status and each short's attributes."""

    def __init__(self, location: str | Path) -> None:
        self.engine = open_database(str(location))

    def _insert_ignoring_duplicates(self, table: sa.Table) -> sa.Insert:
        if self.engine.dialect.name == "postgresql":
            return postgresql.insert(table).on_conflict_do_nothing()
        return sqlite.insert(table).on_conflict_do_nothing()

    def _upsert(self, table: sa.Table, row: Mapping[str, object], keys: tuple[str, ...]) -> sa.Insert:
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        statement = dialect.insert(table).values(**row)
        return statement.on_conflict_do_update(
            index_elements=list(keys), set_={k: v for k, v in row.items() if k not in keys}
        )

    def record(self, reading: MetricsReading) -> int:
        """Store one reading; returns how many new observations it added (0 when it was stored already)."""
        moment = _utc(reading.observed_at)
        rows = [
            {
                "partition_key": reading.partition_key,
                "platform": reading.platform,
                "metric": metric,
                "observed_at": moment,
                "value": float(value),
                "source": reading.source,
            }
            for metric, value in sorted(reading.values.items())
        ]
        status_row: dict[str, object] = {
            "partition_key": reading.partition_key,
            "platform": reading.platform,
            "status": reading.status,
            "detail": reading.detail,
            "attempted_at": moment,
        }
        with self.engine.begin() as db:
            added = 0
            if rows and reading.status == "ok":
                added = db.execute(self._insert_ignoring_duplicates(metric_observations), rows).rowcount
            previous = db.execute(
                sa.select(metric_status.c.last_ok_at, metric_status.c.attempted_at).where(
                    (metric_status.c.partition_key == reading.partition_key)
                    & (metric_status.c.platform == reading.platform)
                )
            ).first()
            last_ok = moment if reading.status == "ok" else (previous[0] if previous else None)
            if previous is not None and previous[1] is not None and _utc(previous[1]) > moment:
                return max(0, added)  # an older reading (a late CSV import) does not overwrite the newer status
            db.execute(self._upsert(metric_status, status_row | {"last_ok_at": last_ok}, ("partition_key", "platform")))
        return max(0, added)

    def record_many(self, readings: Iterable[MetricsReading]) -> int:
        return sum(self.record(reading) for reading in readings)

    def status(self, partition_key: str) -> dict[str, PlatformStatus]:
        query = sa.select(metric_status).where(metric_status.c.partition_key == partition_key)
        with self.engine.connect() as db:
            return {
                row.platform: PlatformStatus(
                    row.status, row.detail, _utc(row.attempted_at), _utc(row.last_ok_at) if row.last_ok_at else None
                )
                for row in db.execute(query)
            }

    def history(self, partition_key: str, platform: str | None = None) -> list[Observation]:
        """Every observation of a partition (optionally one platform), oldest first."""
        table = metric_observations
        query = sa.select(table).where(table.c.partition_key == partition_key)
        if platform is not None:
            query = query.where(table.c.platform == platform)
        with self.engine.connect() as db:
            rows = db.execute(query.order_by(table.c.observed_at, table.c.platform, table.c.metric))
            return [Observation(r.partition_key, r.platform, r.metric, _utc(r.observed_at), r.value) for r in rows]

    def latest(self, partition_key: str) -> dict[str, dict[str, float]]:
        """platform -> metric -> the most recent value."""
        found: dict[str, dict[str, float]] = {}
        for item in self.history(partition_key):
            found.setdefault(item.platform, {})[item.metric] = item.value
        return found

    def observations(self, metric: str | None = None) -> Iterator[Observation]:
        """Every observation of every post (optionally of one metric), streamed.

        SQLite's times are parsed with `datetime.fromisoformat` instead of SQLAlchemy's per-row DateTime processor
        (400,000 rows: 2.8 s -> 1.95 s of CPU); PostgreSQL hands back datetimes anyway.
        """
        table = metric_observations
        query = sa.select(
            table.c.partition_key,
            table.c.platform,
            table.c.metric,
            sa.type_coerce(table.c.observed_at, sa.String),
            table.c.value,
        )
        if metric is not None:
            query = query.where(table.c.metric == metric)
        with self.engine.connect() as db:
            for key, platform, name, moment, value in db.execution_options(yield_per=20_000).execute(query):
                when = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
                yield Observation(key, platform, name, _utc(when), value)

    # -- attributes ------------------------------------------------------------------------------------------

    def record_attributes(self, attributes: PostAttributes) -> None:
        row = {"partition_key": attributes.partition_key, "record_json": attributes.model_dump_json()}
        with self.engine.begin() as db:
            db.execute(self._upsert(post_attributes, row, ("partition_key",)))

    def attributes(self) -> dict[str, PostAttributes]:
        with self.engine.connect() as db:
            rows = db.execute(sa.select(post_attributes))
            return {r.partition_key: PostAttributes.model_validate_json(r.record_json) for r in rows}

    # -- what to read next -------------------------------------------------------------------------------------

    def published_posts(self, partition_key: str | None = None) -> list[Post]:
        """Posts the ledger holds as published (outbox and dry-run entries have no audience to read)."""
        query = sa.select(posts.c.record_json)
        if partition_key is not None:
            query = query.where(posts.c.partition_key == partition_key)
        with self.engine.connect() as db:
            found = [Post.model_validate_json(row[0]) for row in db.execute(query)]
        return [post for post in found if post.status == "published"]

    def due(self, now: datetime) -> list[Post]:
        """Published posts whose next reading is due on the age ladder."""
        with self.engine.connect() as db:
            attempted = {
                (r.partition_key, r.platform): _utc(r.attempted_at)
                for r in db.execute(
                    sa.select(metric_status.c.partition_key, metric_status.c.platform, metric_status.c.attempted_at)
                )
            }
        return [
            post
            for post in self.published_posts()
            if is_due(_utc(post.posted_at), attempted.get((post.partition_key, post.platform)), now)
        ]
