"""The channel report's numbers on a hand-made series: totals, medians, engagement, baseline, cost per 1k views."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image

from resources.analytics.records import PostAttributes
from resources.analytics.report import ReportRow, channel_report, draw_chart, write_csv
from resources.analytics.series import Observation
from resources.records import Post

START = datetime(2025, 3, 1, tzinfo=UTC)
LAYOUTS = {"p1": "face_crop", "p2": "face_crop", "p3": "avatar_over_blur", "p4": "avatar_over_blur"}


def post(key: str, platform: str) -> Post:
    return Post(platform=platform, partition_key=key, status="published", remote_id=f"{platform}-{key}",
                provider=platform, title=key, caption="", posted_at=START, media_uri="file:///x.mp4")  # fmt: skip


def reading(key: str, platform: str, views: float, likes: float, age_h: float = 24) -> list[Observation]:
    at = START + timedelta(hours=age_h)
    return [Observation(key, platform, "views", at, views), Observation(key, platform, "likes", at, likes)]


@pytest.fixture
def rows() -> list[ReportRow]:
    observations = [
        *reading("p1", "youtube", 50, 1, age_h=6),  # an earlier reading: the latest one counts
        *reading("p1", "youtube", 100, 10),
        *reading("p2", "youtube", 200, 10),
        *reading("p3", "youtube", 300, 10),
        *reading("p4", "youtube", 400, 10),
        *reading("p1", "tiktok", 1000, 100),
        Observation("nobody", "youtube", "views", START, 5),  # not in the ledger: left out
    ]
    posts = [post(key, "youtube") for key in LAYOUTS] + [post("p1", "tiktok")]
    attributes = {key: PostAttributes(partition_key=key, layout=layout, author="@cook", cost_usd=0.1)
                  for key, layout in LAYOUTS.items()}  # fmt: skip
    return channel_report(observations, posts, attributes)


def row(rows: list[ReportRow], dimension: str, value: str) -> ReportRow:
    return next(item for item in rows if item.dimension == dimension and item.value == value)


def test_per_platform_posts_total_and_median_views_and_engagement(rows: list[ReportRow]) -> None:
    youtube = row(rows, "platform", "youtube")
    assert (youtube.posts, youtube.total_views, youtube.median_views) == (4, 1000, 250)
    assert youtube.engagement_rate == pytest.approx(40 / 1000)
    assert row(rows, "platform", "tiktok").total_views == 1000


def test_relative_is_views_against_the_platforms_median_at_the_same_age(rows: list[ReportRow]) -> None:
    # YouTube's four posts at 24 h: 100, 200, 300, 400 views, median 250.
    assert row(rows, "platform", "youtube").median_relative == pytest.approx(1.0)
    assert row(rows, "layout", "avatar_over_blur").median_relative == pytest.approx((1.2 + 1.6) / 2)
    # TikTok has one post: no baseline yet, the raw numbers still show.
    assert row(rows, "platform", "tiktok").median_relative is None


def test_cost_per_thousand_views_shares_a_shorts_cost_between_its_platforms(rows: list[ReportRow]) -> None:
    # p1's $0.10 is split between YouTube and TikTok; p2 is YouTube only.
    face_crop = row(rows, "layout", "face_crop")
    assert face_crop.cost_usd == pytest.approx(0.2)
    assert face_crop.cost_per_1k_views == pytest.approx(0.2 / 1300 * 1000)
    assert row(rows, "platform", "youtube").cost_usd == pytest.approx(0.35)
    for dimension in ("platform", "layout", "author"):
        assert sum(item.cost_usd for item in rows if item.dimension == dimension) == pytest.approx(0.4)


def test_attributes_not_recorded_yet_group_as_unknown(rows: list[ReportRow]) -> None:
    assert row(rows, "voice_provider", "(unknown)").posts == 5
    assert row(rows, "author", "@cook").total_views == 2000


def test_csv_and_chart_are_written(rows: list[ReportRow], tmp_path: Path) -> None:
    assert write_csv(rows, tmp_path / "report.csv") == len(rows)
    header = (tmp_path / "report.csv").read_text().splitlines()[0]
    assert header.startswith("dimension,value,posts,total_views,median_views,engagement_rate,median_relative")
    chart = draw_chart(rows, tmp_path / "chart.png")
    with Image.open(chart) as image:
        assert image.format == "PNG" and image.size == (1500, 800)
