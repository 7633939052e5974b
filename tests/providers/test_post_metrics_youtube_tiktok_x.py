"""Reading a post's numbers back (`Publisher.fetch_metrics`) from YouTube, TikTok and X, through the real SDK or
HTTP client against the local fakes: the numbers, a deleted post, a revoked token, a missing scope, a 429.

Retries wait on a FakeClock: what the engine waited is asserted, never measured.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from resources.analytics.records import METRICS
from resources.http.deadline import FakeClock
from resources.publish import Publisher
from resources.publish.platforms.youtube import PartialMetrics, YouTubeEngine
from resources.records import Post
from tests.providers import publishing
from tests.providers.fakes.tiktok_server import FakeTikTok
from tests.providers.fakes.x_server import FakeX
from tests.providers.fakes.youtube_server import FakeYouTube
from tests.providers.publishing import ENGINE_ATTEMPTS, KEY

YOUTUBE_TOKEN = "ya29.metrics-token-never-shown"
TIKTOK_TOKEN = "act.metrics-token-never-shown"
X_TOKEN = "x-metrics-token-never-shown"
VIDEO_ID = "ytMetrics01"
TIKTOK_POST_ID = "7400000000000000042"
TIKTOK_PUBLISH_ID = "v_pub_file~v2-1.42"
TWEET_ID = "1890000000000000042"


def _post(platform: str, remote_id: str, upload_id: str = "") -> Post:
    return Post(
        platform=platform,
        partition_key=KEY,
        status="published",
        remote_id=remote_id,
        upload_id=upload_id,
        provider=platform,
        title="Freeze herbs in olive oil",
        caption="Freeze chopped herbs in olive oil.",
        posted_at=datetime.now(UTC) - timedelta(days=3),
        media_uri="file:///short.mp4",
    )


# -- YouTube ------------------------------------------------------------------------------------------------------


@pytest.fixture
def youtube(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeYouTube]:
    publishing.use_token(monkeypatch, tmp_path, "youtube", YOUTUBE_TOKEN)
    with FakeYouTube() as server:
        server.accept_token(YOUTUBE_TOKEN)
        yield server


def _youtube_publisher(fake: FakeYouTube, tmp_path: Path) -> Publisher:
    return publishing.api_publisher("youtube", tmp_path, api_base_url=fake.base_url, token_url=f"{fake.base_url}/token")


def test_youtube_reads_the_counts_and_the_watch_time(youtube: FakeYouTube, tmp_path: Path) -> None:
    youtube.seed_video(VIDEO_ID, views=1234, likes=56, comments=7, minutes_watched=150.5, average_view_s=21.4)
    reading = _youtube_publisher(youtube, tmp_path).fetch_metrics(_post("youtube", VIDEO_ID))

    assert (reading.status, reading.detail) == ("ok", "")
    assert reading.values == {
        "views": 1234.0,
        "likes": 56.0,
        "comments": 7.0,
        "watch_time_s": 150.5 * 60,
        "avg_view_duration_s": 21.4,
    }
    assert set(reading.values) <= set(METRICS)
    (listed,) = youtube.calls("list")
    assert (listed.query["part"], listed.query["id"]) == ("statistics", VIDEO_ID)
    (report,) = youtube.calls("reports")
    assert report.query["ids"] == "channel==MINE" and report.query["filters"] == f"video=={VIDEO_ID}"
    assert report.query["metrics"] == "views,estimatedMinutesWatched,averageViewDuration"
    assert report.query["startDate"] <= report.query["endDate"] == datetime.now(UTC).date().isoformat()
    assert all(r.bearer == YOUTUBE_TOKEN for r in youtube.requests)


def test_youtube_before_analytics_has_rows_reads_the_counts_alone(youtube: FakeYouTube, tmp_path: Path) -> None:
    youtube.seed_video(VIDEO_ID, views=10, likes=1, comments=0)  # no Analytics row yet
    reading = _youtube_publisher(youtube, tmp_path).fetch_metrics(_post("youtube", VIDEO_ID))
    assert reading.status == "ok" and reading.values == {"views": 10.0, "likes": 1.0, "comments": 0.0}


def test_youtube_a_deleted_video_is_reported_deleted(youtube: FakeYouTube, tmp_path: Path) -> None:
    youtube.seed_video(VIDEO_ID, views=10)
    youtube.delete_video(VIDEO_ID)
    reading = _youtube_publisher(youtube, tmp_path).fetch_metrics(_post("youtube", VIDEO_ID))
    assert reading.status == "deleted" and VIDEO_ID in reading.detail
    assert not reading.values and not youtube.calls("reports")


def test_youtube_a_revoked_token_is_reported_revoked(youtube: FakeYouTube, tmp_path: Path) -> None:
    youtube.seed_video(VIDEO_ID, views=10)
    youtube.revoke_token(YOUTUBE_TOKEN)
    reading = _youtube_publisher(youtube, tmp_path).fetch_metrics(_post("youtube", VIDEO_ID))
    assert reading.status == "revoked" and "shorts auth youtube" in reading.detail
    assert len(youtube.calls("list")) == 2  # refused, refreshed once, refused again
    assert YOUTUBE_TOKEN not in reading.detail


def test_youtube_without_the_analytics_scope_still_reads_the_counts(youtube: FakeYouTube, tmp_path: Path) -> None:
    youtube.grant("youtube.upload", "youtube.readonly")  # a grant from before yt-analytics.readonly was asked
    youtube.seed_video(VIDEO_ID, views=1234, likes=56, comments=7, minutes_watched=150.5, average_view_s=21.4)
    publisher = _youtube_publisher(youtube, tmp_path)

    reading = publisher.fetch_metrics(_post("youtube", VIDEO_ID))
    assert reading.status == "ok" and reading.values == {"views": 1234.0, "likes": 56.0, "comments": 7.0}
    assert "yt-analytics.readonly" in reading.detail  # the reading says what is missing and how to get it

    engine = publisher.engine(publisher.ledger().checkpoint(KEY, "youtube"))
    assert isinstance(engine, YouTubeEngine)
    values = engine.metrics(_post("youtube", VIDEO_ID))
    assert isinstance(values, PartialMetrics) and dict(values) == reading.values
    assert "yt-analytics.readonly" in values.detail and "shorts auth youtube" in values.detail
    assert len(youtube.calls("reports")) == 2  # one per reading: a 403 is not retried


def test_youtube_without_the_readonly_scope_is_missing_scope(youtube: FakeYouTube, tmp_path: Path) -> None:
    youtube.grant("youtube.upload")
    youtube.seed_video(VIDEO_ID, views=10)
    reading = _youtube_publisher(youtube, tmp_path).fetch_metrics(_post("youtube", VIDEO_ID))
    assert reading.status == "missing_scope" and "youtube.readonly" in reading.detail
    assert len(youtube.calls("list")) == 1


def test_youtube_a_long_rate_limit_is_recorded_without_waiting(youtube: FakeYouTube, tmp_path: Path) -> None:
    youtube.seed_video(VIDEO_ID, views=10)
    youtube.fail("list", 429, reason="rateLimitExceeded", times=10, headers={"Retry-After": "900"})
    clock = FakeClock()
    reading = _youtube_publisher(youtube, tmp_path).fetch_metrics(_post("youtube", VIDEO_ID), clock=clock)
    assert reading.status == "rate_limited" and "900" in reading.detail
    assert len(youtube.calls("list")) == 1 and clock.sleeps == []


def test_youtube_a_short_rate_limit_waits_as_asked_and_gives_up(youtube: FakeYouTube, tmp_path: Path) -> None:
    youtube.seed_video(VIDEO_ID, views=10)
    youtube.fail("list", 429, reason="rateLimitExceeded", times=10, headers={"Retry-After": "2"})
    clock = FakeClock()
    reading = _youtube_publisher(youtube, tmp_path).fetch_metrics(_post("youtube", VIDEO_ID), clock=clock)
    assert reading.status == "rate_limited" and f"gave up after {ENGINE_ATTEMPTS} attempts" in reading.detail
    assert len(youtube.calls("list")) == ENGINE_ATTEMPTS and clock.sleeps == [2.0] * (ENGINE_ATTEMPTS - 1)


def test_youtube_the_daily_quota_is_rate_limited_at_once(youtube: FakeYouTube, tmp_path: Path) -> None:
    youtube.seed_video(VIDEO_ID, views=10)
    youtube.fail("list", 403, reason="quotaExceeded", times=10)
    clock = FakeClock()
    reading = _youtube_publisher(youtube, tmp_path).fetch_metrics(_post("youtube", VIDEO_ID), clock=clock)
    assert reading.status == "rate_limited" and "midnight Pacific" in reading.detail
    assert len(youtube.calls("list")) == 1 and clock.sleeps == []


# -- TikTok -------------------------------------------------------------------------------------------------------


@pytest.fixture
def tiktok(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeTikTok]:
    publishing.use_token(monkeypatch, tmp_path, "tiktok", TIKTOK_TOKEN)
    with FakeTikTok(access_token=TIKTOK_TOKEN) as server:
        yield server


def _tiktok_publisher(fake: FakeTikTok, tmp_path: Path) -> Publisher:
    return publishing.api_publisher(
        "tiktok", tmp_path, api_base_url=fake.base_url, token_url=f"{fake.base_url}/v2/oauth/token/"
    )


def _tiktok_post(remote_id: str = TIKTOK_POST_ID) -> Post:
    return _post("tiktok", remote_id, upload_id=TIKTOK_PUBLISH_ID)


def test_tiktok_reads_the_counts_of_the_public_post_id(tiktok: FakeTikTok, tmp_path: Path) -> None:
    tiktok.seed_video(TIKTOK_POST_ID, views=5000, likes=400, comments=30, shares=12)
    reading = _tiktok_publisher(tiktok, tmp_path).fetch_metrics(_tiktok_post())

    assert reading.status == "ok"
    assert reading.values == {"views": 5000.0, "likes": 400.0, "comments": 30.0, "shares": 12.0}
    (query,) = tiktok.calls("video_query")
    assert query.query == {"fields": "id,view_count,like_count,comment_count,share_count"}
    assert query.json == {"filters": {"video_ids": [TIKTOK_POST_ID]}}  # never the publish id
    assert query.bearer == TIKTOK_TOKEN and query.content_type.startswith("application/json")


def test_tiktok_a_post_missing_from_the_answer_is_deleted(tiktok: FakeTikTok, tmp_path: Path) -> None:
    reading = _tiktok_publisher(tiktok, tmp_path).fetch_metrics(_tiktok_post())
    assert reading.status == "deleted" and TIKTOK_POST_ID in reading.detail


def test_tiktok_a_revoked_token_is_reported_revoked(tiktok: FakeTikTok, tmp_path: Path) -> None:
    tiktok.access_token = "act.some-other-token"  # the fake no longer knows ours: access_token_invalid
    reading = _tiktok_publisher(tiktok, tmp_path).fetch_metrics(_tiktok_post())
    assert reading.status == "revoked" and "shorts auth tiktok" in reading.detail
    assert len(tiktok.calls("video_query")) == 2 and TIKTOK_TOKEN not in reading.detail


def test_tiktok_without_video_list_is_missing_scope(tiktok: FakeTikTok, tmp_path: Path) -> None:
    tiktok.scopes = {"user.info.basic", "video.publish", "video.upload"}  # a grant from before video.list
    tiktok.seed_video(TIKTOK_POST_ID, views=5000)
    reading = _tiktok_publisher(tiktok, tmp_path).fetch_metrics(_tiktok_post())
    assert reading.status == "missing_scope"
    assert "video.list" in reading.detail and "shorts auth tiktok" in reading.detail
    assert len(tiktok.calls("video_query")) == 1


def test_tiktok_a_rate_limit_gives_up_after_the_configured_attempts(tiktok: FakeTikTok, tmp_path: Path) -> None:
    tiktok.seed_video(TIKTOK_POST_ID, views=5000)
    tiktok.fail_next("video_query", 429, "rate_limit_exceeded", "The API rate limit was exceeded.", times=10)
    clock = FakeClock()
    reading = _tiktok_publisher(tiktok, tmp_path).fetch_metrics(_tiktok_post(), clock=clock)
    assert reading.status == "rate_limited" and "rate_limit_exceeded" in reading.detail
    assert len(tiktok.calls("video_query")) == ENGINE_ATTEMPTS and len(clock.sleeps) == ENGINE_ATTEMPTS - 1


def test_tiktok_an_inbox_draft_has_no_public_id_to_read(tiktok: FakeTikTok, tmp_path: Path) -> None:
    reading = _tiktok_publisher(tiktok, tmp_path).fetch_metrics(_post("tiktok", TIKTOK_PUBLISH_ID, TIKTOK_PUBLISH_ID))
    assert reading.status == "failed" and "shorts analytics import" in reading.detail
    assert not tiktok.requests


# -- X ------------------------------------------------------------------------------------------------------------


@pytest.fixture
def x(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeX]:
    publishing.use_token(monkeypatch, tmp_path, "x", X_TOKEN)
    with FakeX(access_token=X_TOKEN) as server:
        yield server


def _x_publisher(fake: FakeX, tmp_path: Path) -> Publisher:
    return publishing.api_publisher("x", tmp_path, api_base_url=fake.base_url, token_url=f"{fake.base_url}/token")


def test_x_reads_the_private_metrics_of_an_own_post(x: FakeX, tmp_path: Path) -> None:
    x.seed_post(TWEET_ID, impressions=9000, likes=120, replies=14, retweets=30, quotes=6, bookmarks=9)
    reading = _x_publisher(x, tmp_path).fetch_metrics(_post("x", TWEET_ID))

    assert reading.status == "ok"
    assert reading.values == {"impressions": 9000.0, "likes": 120.0, "comments": 14.0, "shares": 36.0, "saves": 9.0}
    (lookup,) = x.calls("lookup")
    assert lookup.query == {"tweet.fields": "public_metrics,non_public_metrics,organic_metrics"}
    assert lookup.bearer == X_TOKEN


def test_x_falls_back_to_public_metrics_when_the_private_ones_are_refused(x: FakeX, tmp_path: Path) -> None:
    x.seed_post(TWEET_ID, impressions=9000, likes=120, replies=14, retweets=30, quotes=6, bookmarks=9)
    x.age_post(TWEET_ID)  # older than 30 days
    reading = _x_publisher(x, tmp_path).fetch_metrics(_post("x", TWEET_ID))

    assert reading.status == "ok"
    assert reading.values == {"impressions": 9000.0, "likes": 120.0, "comments": 14.0, "shares": 36.0, "saves": 9.0}
    assert [r.query["tweet.fields"] for r in x.calls("lookup")] == [
        "public_metrics,non_public_metrics,organic_metrics",
        "public_metrics",
    ]


def test_x_a_deleted_post_is_reported_deleted(x: FakeX, tmp_path: Path) -> None:
    x.seed_post(TWEET_ID, likes=1)
    x.delete_post(TWEET_ID)
    reading = _x_publisher(x, tmp_path).fetch_metrics(_post("x", TWEET_ID))
    assert reading.status == "deleted" and "Could not find tweet" in reading.detail


def test_x_a_404_is_reported_deleted(x: FakeX, tmp_path: Path) -> None:
    x.fail_next("lookup", 404, "Not Found")
    reading = _x_publisher(x, tmp_path).fetch_metrics(_post("x", TWEET_ID))
    assert reading.status == "deleted" and len(x.calls("lookup")) == 1


def test_x_a_revoked_token_is_reported_revoked(x: FakeX, tmp_path: Path) -> None:
    x.access_token = "x-another-token"
    reading = _x_publisher(x, tmp_path).fetch_metrics(_post("x", TWEET_ID))
    assert reading.status == "revoked" and "shorts auth x" in reading.detail
    assert len(x.calls("lookup")) == 2 and X_TOKEN not in reading.detail


def test_x_a_rate_limit_until_the_window_resets_is_recorded_without_waiting(x: FakeX, tmp_path: Path) -> None:
    x.seed_post(TWEET_ID, likes=1)
    reset = {"x-rate-limit-reset": str(int(time.time()) + 900), "x-rate-limit-remaining": "0"}
    x.fail_next("lookup", 429, "Too Many Requests", headers=reset, times=10)
    clock = FakeClock()
    reading = _x_publisher(x, tmp_path).fetch_metrics(_post("x", TWEET_ID), clock=clock)
    assert reading.status == "rate_limited" and "re-execute later" in reading.detail
    assert len(x.calls("lookup")) == 1 and clock.sleeps == []
