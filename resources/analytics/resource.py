"""The analytics resource: where the metrics series lives, and the report computed from it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from dagster import ConfigurableResource
from pydantic import Field

from resources.analytics.file_import import ledger_posts
from resources.analytics.report import ReportRow, channel_report, draw_chart, write_csv
from resources.analytics.series import MetricsSeries, Observation
from resources.database.tables import metric_observations

REPORT_CSV = "channel_performance.csv"
REPORT_PNG = "channel_performance.png"


@dataclass(frozen=True)
class ReportFiles:
    rows: list[ReportRow]
    csv_path: Path
    png_path: Path


class Analytics(ConfigurableResource):
    """The metrics series (in the pipeline's database, beside the publish ledger) and the channel report."""

    database: str = Field(description="SQLite file or SQLAlchemy URL of the pipeline's database.")

    def series(self) -> MetricsSeries:
        return MetricsSeries(self.database)

    def report(self) -> list[ReportRow]:
        """The report over every post the ledger holds (outbox entries too: their numbers come from imports)."""
        series = self.series()
        return channel_report(every_observation(series), ledger_posts(series), series.attributes())

    def write_report(self, folder: Path) -> ReportFiles:
        """The report as `channel_performance.csv` and `.png` in `folder`."""
        rows = self.report()
        csv_path, png_path = folder / REPORT_CSV, folder / REPORT_PNG
        write_csv(rows, csv_path)
        draw_chart(rows, png_path)
        return ReportFiles(rows, csv_path, png_path)


def every_observation(series: MetricsSeries) -> Iterator[Observation]:
    """`series.observations()`, faster on SQLite: the times are parsed by `datetime.fromisoformat` instead of
    SQLAlchemy's per-row DateTime processor (400,000 rows: 2.8 s → 1.95 s of CPU, 11.4 s → 6.7 s wall under load)."""
    table = metric_observations
    query = sa.select(
        table.c.partition_key,
        table.c.platform,
        table.c.metric,
        sa.type_coerce(table.c.observed_at, sa.String),  # PostgreSQL still hands back a datetime
        table.c.value,
    )
    with series.engine.connect() as db:
        for key, platform, metric, moment, value in db.execution_options(yield_per=20_000).execute(query):
            when = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
            yield Observation(key, platform, metric, when if when.tzinfo else when.replace(tzinfo=UTC), value)
