"""Benchmark of the channel report over 10,000 posts × 10 observations (goal < 10 s).

A temporary SQLite database gets 10,000 published posts (six platforms, 2,000 sources), each with 10 readings of
views, likes, comments and shares along the age ladder (400,000 rows), and each short's attributes. The timing
covers streaming every observation out of the database, the age-normalised outcomes, the grouping, and writing
the CSV and the PNG chart.

    .venv/bin/python -m benchmarks.analytics_report_bench
"""

from __future__ import annotations

import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from resources.analytics.records import PostAttributes
from resources.analytics.resource import Analytics
from resources.catalog import PLATFORMS
from resources.database.tables import metric_observations, post_attributes, posts
from resources.records import Post

POSTS = 10_000
OBSERVATIONS = 10
AGES_H = (1, 3, 6, 12, 24, 48, 96, 168, 336, 720)  # one reading per rung-ish age


def populate(analytics: Analytics, rng: random.Random) -> None:
    engine = analytics.series().engine
    start = datetime(2025, 1, 1, tzinfo=UTC)
    post_rows, observation_rows, attribute_rows = [], [], []
    for index in range(POSTS):
        key, platform = f"tiktok-{7_300_000_000_000_000_000 + index // 3}", PLATFORMS[index % len(PLATFORMS)]
        posted_at = start + timedelta(minutes=index)
        post = Post(platform=platform, partition_key=key, status="published", remote_id=f"r{index}",
                    provider=platform, title=f"short {index}", caption="", posted_at=posted_at,
                    media_uri="file:///dev/null")  # fmt: skip
        post_rows.append({"partition_key": key, "platform": platform, "remote_id": post.remote_id,
                          "record_json": post.model_dump_json()})  # fmt: skip
        reach = rng.lognormvariate(7, 1.5)
        for age in AGES_H:
            views = reach * (1 - 0.9 ** (age / 6))
            for metric, share in (("views", 1.0), ("likes", 0.06), ("comments", 0.004), ("shares", 0.01)):
                observation_rows.append({"partition_key": key, "platform": platform, "metric": metric,
                                         "observed_at": posted_at + timedelta(hours=age), "value": views * share,
                                         "source": "api"})  # fmt: skip
        if index % 3 == 0:
            attributes = PostAttributes(
                partition_key=key,
                source_name=f"source-{index % 7}",
                author=f"@account{index % 2000}",
                layout=rng.choice(["avatar_over_blur", "face_crop"]),
                voice_provider=rng.choice(["piper", "elevenlabs"]),
                avatar_provider=rng.choice(["local", "d-id"]),
                cost_usd=rng.uniform(0, 0.5),
            )
            attribute_rows.append({"partition_key": key, "record_json": attributes.model_dump_json()})
    with engine.begin() as db:
        db.execute(sa.insert(posts), post_rows)
        db.execute(sa.insert(metric_observations), observation_rows)
        db.execute(sa.insert(post_attributes), attribute_rows)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        analytics = Analytics(database=str(Path(tmp) / "bench.sqlite3"))
        populate(analytics, random.Random(15))
        started = time.perf_counter()
        files = analytics.write_report(Path(tmp) / "report")
        elapsed = time.perf_counter() - started
        assert files.png_path.stat().st_size > 0 and len(files.rows) > 2000
    print(f"channel_report_10k_posts_s: {elapsed:.2f}")


if __name__ == "__main__":
    main()
