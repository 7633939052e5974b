"""The analytics resource: where the metrics series lives, and the report computed from it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field

from resources.analytics.file_import import ledger_posts
from resources.analytics.report import ReportRow, channel_report, draw_chart, write_csv
from resources.analytics.series import MetricsSeries

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
        return channel_report(series.observations(), ledger_posts(series), series.attributes())

    def write_report(self, folder: Path) -> ReportFiles:
        """The report as `channel_performance.csv` and `.png` in `folder`."""
        rows = self.report()
        csv_path, png_path = folder / REPORT_CSV, folder / REPORT_PNG
        write_csv(rows, csv_path)
        draw_chart(rows, png_path)
        return ReportFiles(rows, csv_path, png_path)
