"""`shorts metrics` exports the audience: each post's latest views and likes, summed per platform."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from dagster import DagsterInstance

from cli.metrics import collect
from resources.analytics.records import MetricsReading
from resources.analytics.series import MetricsSeries

AT = datetime(2025, 3, 1, tzinfo=UTC)


def test_latest_views_and_likes_per_platform_are_summed_over_posts(tmp_path: Path) -> None:
    series = MetricsSeries(tmp_path / "ledger.sqlite3")
    for key, platform, hours, views in [("a", "youtube", 1, 10), ("a", "youtube", 5, 100), ("b", "youtube", 2, 50),
                                        ("a", "tiktok", 3, 7)]:  # fmt: skip
        at = AT + timedelta(hours=hours)
        series.record(MetricsReading(partition_key=key, platform=platform, remote_id="r", observed_at=at,
                                     values={"views": views, "likes": 1}))  # fmt: skip
    text = collect(DagsterInstance.ephemeral(), series)
    assert "# TYPE shorts_audience_views gauge" in text
    assert 'shorts_audience_views{platform="youtube"} 150' in text  # a's latest 100 + b's 50
    assert 'shorts_audience_views{platform="tiktok"} 7' in text
    assert 'shorts_audience_likes{platform="youtube"} 2' in text
