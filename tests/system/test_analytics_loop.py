"""The analytics loop on a test instance: post_metrics reads every platform, one platform's refusal stays on that
platform, channel_performance writes a real chart and CSV, and the refresh sensor asks only for due partitions."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from dagster import DagsterInstance, SourceAsset, materialize
from PIL import Image

from pipeline_assets.partitions import source_videos
from resources.analytics.records import MetricsReading
from resources.analytics.resource import Analytics
from resources.analytics.series import MetricsSeries
from resources.catalog import PARTITIONS_NAME, PLATFORMS, post_asset, publisher_key
from resources.io_manager import JsonRecordIOManager
from resources.media.source_registry import register_source
from resources.media.store import MediaStore
from resources.publish import Publisher
from resources.publish.ledger import PublishLedger
from resources.records import (
    AvatarVideo,
    MediaFacts,
    Post,
    PostStatus,
    ShortVideo,
    SourceRequest,
    SourceVideo,
    Transcript,
    Voiceover,
)
from resources.usage import Usage
from sensors.metrics_refresh_sensor import evaluate_tick
from tests.graph import SAMPLE_SCRIPT, assets_named

KEY = "tiktok-7301234567890123456"
POSTED = datetime(2025, 3, 1, 12, tzinfo=UTC)
FACTS = MediaFacts(duration_s=30, size_bytes=1000, width=1080, height=1920, fps=30, video_codec="h264")
UPSTREAM = ["source_video", "transcript", "script", "voiceover", "avatar_video", "short_video"]


class FakePublisher:
    """What post_metrics needs of a Publisher: `fetch_metrics(post)`, answering as a platform would."""

    def __init__(self, status: str = "ok", values: dict[str, float] | None = None, detail: str = "") -> None:
        self.status, self.values, self.detail = status, values or {}, detail
        self.asked: list[str] = []

    def fetch_metrics(self, post: Post) -> MetricsReading:
        self.asked.append(post.remote_id)
        return MetricsReading(partition_key=post.partition_key, platform=post.platform, remote_id=post.remote_id,
                              observed_at=datetime.now(UTC), status=self.status, values=self.values,  # type: ignore[arg-type]
                              detail=self.detail)  # fmt: skip


def post(platform: str, status: PostStatus = "published", key: str = KEY, at: datetime = POSTED) -> Post:
    return Post(platform=platform, partition_key=key, status=status, remote_id=f"{platform}-1", provider=platform,
                title="Freeze herbs in olive oil", caption="", posted_at=at, media_uri="file:///x.mp4")  # fmt: skip


def store_records(store: MediaStore) -> None:
    """The upstream stages' records, where the IO manager keeps them."""
    records: dict[str, Any] = {
        "source_video": SourceVideo(partition_key=KEY, source="https://www.tiktok.com/@cook/video/1", uri="file:///s.mp4",
                                    title="Herbs #Cooking #kitchenhacks", uploader="@cook", sha256="0" * 64,
                                    facts=FACTS, provider="yt-dlp"),
        "transcript": Transcript(language="en", text="herbs", words=[], duration_s=30, provider="openai",
                                 model="whisper-1", usage=[Usage(provider="openai", cost_usd=0.003)]),
        "script": SAMPLE_SCRIPT,
        "voiceover": Voiceover(uri="file:///v.wav", duration_s=30, sample_rate=22050, cues=[], provider="elevenlabs",
                               voice="v", usage=[Usage(provider="elevenlabs", cost_usd=0.09)]),
        "avatar_video": AvatarVideo(uri="file:///a.mp4", facts=FACTS, provider="local"),
        "short_video": ShortVideo(uri="file:///short.mp4", subtitles_uri="file:///s.ass", facts=FACTS,
                                  layout="face_crop"),
    }  # fmt: skip
    for name, record in records.items():
        store.write_text(f"records/{name}/{KEY}.json", record.model_dump_json())


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Any]:
    database = str(tmp_path / "ledger.sqlite3")
    ledger = PublishLedger(database)
    for platform in ("youtube", "tiktok", "x"):
        ledger.record(post(platform))
    ledger.record(post("linkedin", status="outbox"))
    store = MediaStore(root=str(tmp_path / "media"))
    store_records(store)
    register_source(store, SourceRequest(partition_key=KEY, source="https://www.tiktok.com/@cook/video/1",
                                         reason="listed explicitly in cooking-list"))  # fmt: skip
    series = MetricsSeries(database)
    # X was read fine yesterday: its series must survive today's revoked token.
    yesterday = POSTED + timedelta(hours=20)
    series.record(MetricsReading(partition_key=KEY, platform="x", remote_id="x-1", observed_at=yesterday,
                                 values={"views": 40, "likes": 2}))  # fmt: skip
    publishers: dict[str, Any] = {publisher_key(platform): FakePublisher() for platform in PLATFORMS}
    publishers[publisher_key("youtube")] = FakePublisher(values={"views": 1200, "likes": 90, "comments": 4})
    publishers[publisher_key("tiktok")] = FakePublisher(values={"views": 5000, "likes": 300, "shares": 12})
    publishers[publisher_key("x")] = FakePublisher(
        status="revoked", detail="x: the token was revoked; run shorts auth x"
    )
    # LinkedIn's entry is in the outbox: the real outbox publisher says there is no audience to read.
    publishers[publisher_key("linkedin")] = Publisher(platform="linkedin", ledger_path=database,
                                                      outbox_dir=str(tmp_path / "outbox"))  # fmt: skip
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(PARTITIONS_NAME, [KEY])
    resources = {"media_store": store, "io_manager": JsonRecordIOManager(media_store=store),
                 "analytics": Analytics(database=database), **publishers}  # fmt: skip
    return {"instance": instance, "resources": resources, "series": series, "store": store, "publishers": publishers}


def upstream_sources() -> list[SourceAsset]:
    names = [*UPSTREAM, *(post_asset(platform) for platform in PLATFORMS)]
    return [SourceAsset(name, partitions_def=source_videos) for name in names]


def run_post_metrics(world: dict[str, Any]) -> Any:
    return materialize([*assets_named("post_metrics"), *upstream_sources()], partition_key=KEY,
                       instance=world["instance"], resources=world["resources"])  # fmt: skip


def test_post_metrics_records_every_platform_and_a_revoked_one_keeps_its_series(world: dict[str, Any]) -> None:
    result = run_post_metrics(world)
    assert result.success
    meta = result.asset_materializations_for_node("post_metrics")[0].metadata
    assert meta["youtube_views"].value == 1200 and meta["tiktok_likes"].value == 300
    assert meta["x_views"].value == 40  # yesterday's number: the revoked token lost nothing
    table = meta["status"].value
    assert "| x | x-1 | revoked |" in table and "shorts auth x" in table
    assert "| youtube | youtube-1 | ok |" in table and "| linkedin | outbox | outbox |" in table
    series: MetricsSeries = world["series"]
    assert series.status(KEY)["x"].status == "revoked" and series.status(KEY)["youtube"].status == "ok"
    assert [o.value for o in series.history(KEY, "x") if o.metric == "views"] == [40]
    assert world["publishers"]["linkedin_publisher"].ledger().get(KEY, "linkedin").status == "outbox"
    attributes = series.attributes()[KEY]
    assert (attributes.source_name, attributes.author, attributes.layout) == ("cooking-list", "@cook", "face_crop")
    assert (attributes.voice_provider, attributes.hashtags) == ("elevenlabs", ["cooking", "kitchenhacks"])
    assert attributes.cost_usd == pytest.approx(0.093)


def test_post_metrics_fails_only_when_every_published_platform_failed(world: dict[str, Any]) -> None:
    for platform in ("youtube", "tiktok"):
        world["resources"][publisher_key(platform)] = FakePublisher(status="rate_limited", detail="429")
    world["resources"][publisher_key("x")] = FakePublisher(status="revoked", detail="revoked")
    result = materialize([*assets_named("post_metrics"), *upstream_sources()], partition_key=KEY,
                         instance=world["instance"], resources=world["resources"], raise_on_error=False)  # fmt: skip
    assert not result.success
    assert world["series"].status(KEY)["x"].status == "revoked"


def test_channel_performance_writes_a_real_chart_and_the_csv(world: dict[str, Any]) -> None:
    run_post_metrics(world)
    result = materialize(assets_named("channel_performance"), instance=world["instance"], resources=world["resources"])
    meta = result.asset_materializations_for_node("channel_performance")[0].metadata
    png, csv_path = Path(str(meta["png"].value)), Path(str(meta["csv"].value))
    with Image.open(png) as image:
        image.verify()
    with Image.open(png) as image:
        assert image.format == "PNG" and image.size == (1500, 800)
        # A chart, not a blank canvas: many colours (bars, text, anti-aliasing).
        assert len(image.convert("RGB").getcolors(maxcolors=1 << 16) or []) > 20
    assert str(meta["chart"].value).startswith("![channel performance](data:image/png;base64,")
    rows = list(csv.DictReader(csv_path.open()))
    platforms = {row["value"]: row for row in rows if row["dimension"] == "platform"}
    assert set(platforms) == {"youtube", "tiktok", "x"}
    assert float(platforms["youtube"]["total_views"]) == 1200 and platforms["youtube"]["posts"] == "1"
    assert {row["value"] for row in rows if row["dimension"] == "source_name"} == {"cooking-list"}
    assert meta["rows"].value == len(rows) and "| platform | youtube |" in str(meta["report"].value)


def test_refresh_requests_only_partitions_with_a_due_post(world: dict[str, Any]) -> None:
    ledger = PublishLedger(world["resources"]["analytics"].database)
    ledger.record(post("youtube", key="tiktok-222", at=POSTED - timedelta(days=200)))  # past the ladder, read once
    ledger.record(post("youtube", key="tiktok-333"))  # never read: due at once
    series: MetricsSeries = world["series"]
    read_at = POSTED + timedelta(hours=2)
    for key, platform, at in [(KEY, "youtube", read_at), (KEY, "tiktok", read_at), (KEY, "x", read_at),
                              ("tiktok-222", "youtube", POSTED - timedelta(days=105))]:  # fmt: skip
        series.record(MetricsReading(partition_key=key, platform=platform, remote_id=f"{platform}-1", observed_at=at,
                                     values={"views": 9}))  # fmt: skip
    soon = read_at + timedelta(minutes=10)  # KEY was read 10 minutes ago; its rung is hourly
    tick = evaluate_tick(series.due(soon), soon, None)
    assert [run.partition_key for run in tick.metrics_runs] == ["tiktok-333"] and tick.report_run is None
    later = read_at + timedelta(hours=1, minutes=1)
    tick = evaluate_tick(series.due(later), later, tick.cursor)
    assert [run.partition_key for run in tick.metrics_runs] == ["tiktok-333", KEY]
    assert tick.report_run is not None  # the previous tick requested readings: the report follows
    again = evaluate_tick(series.due(later + timedelta(minutes=10)), later + timedelta(minutes=10), tick.cursor)
    assert [run.run_key for run in again.metrics_runs] == [run.run_key for run in tick.metrics_runs]  # same slot
    assert again.metrics_runs[1].run_key == f"metrics:{KEY}:1h:3"
    assert json.loads(again.cursor) == {"report_pending": True}
    assert tick.metrics_runs[1].job_name == "post_metrics_job" and tick.report_run.job_name == "channel_performance_job"


def test_outbox_entries_show_what_the_imports_recorded(world: dict[str, Any]) -> None:
    series: MetricsSeries = world["series"]
    series.record(MetricsReading(partition_key=KEY, platform="linkedin", remote_id="linkedin-1", source="import",
                                 observed_at=POSTED + timedelta(days=1), values={"views": 77}))  # fmt: skip
    meta = run_post_metrics(world).asset_materializations_for_node("post_metrics")[0].metadata
    assert meta["linkedin_views"].value == 77
