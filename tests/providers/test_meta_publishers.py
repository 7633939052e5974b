"""Instagram Reels and Facebook Page Reels publishers against a local Graph + rupload server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from resources.errors import ConfigurationError, ProviderError, RetryableError
from resources.publish import Publisher
from resources.publish.captions import Caption
from resources.publish.publisher import PostRequest
from tests.providers import publishing
from tests.providers.fakes.meta_server import FakeMeta, graph_error

TOKEN = "meta-test-token"  # a long-lived user token: what Instagram publishes with
PAGE_TOKEN = "meta-page-token"  # the Page's own token: the only kind the Reels endpoints take
CHUNK = 256 * 1024
CAPTION = Caption(title="Herb cubes", text="Freeze herbs in oil (really) #kitchen #tips", hashtags=["kitchen"])


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeMeta]:
    publishing.use_token(monkeypatch, tmp_path, "instagram", TOKEN)
    publishing.use_token(monkeypatch, tmp_path, "facebook", PAGE_TOKEN)
    with FakeMeta(token=TOKEN, page_token=PAGE_TOKEN) as server:
        yield server


def _publisher(tmp_path: Path, fake: FakeMeta, platform: str, **kwargs: object) -> Publisher:
    account = fake.ig_user if platform == "instagram" else fake.page
    hosts = {"api_base_url": fake.base_url, "upload_base_url": fake.base_url}
    return publishing.api_publisher(platform, tmp_path, account_id=account, chunk_size_bytes=CHUNK, **hosts, **kwargs)


def _request(video: Path, platform: str, key: str = "file-abc") -> PostRequest:
    return publishing.post_request(platform, video, CAPTION, key)


# --- Instagram -----------------------------------------------------------------------------------------------


def test_instagram_uploads_to_rupload_and_publishes_the_container(tmp_path: Path, fake: FakeMeta, video: Path) -> None:
    outcome = _publisher(tmp_path, fake, "instagram").publish(_request(video, "instagram"))

    (create,) = fake.routes("media")
    assert create.params["media_type"] == "REELS" and create.params["upload_type"] == "resumable"
    assert create.params["caption"] == "Freeze herbs in oil (really) #kitchen #tips"
    assert create.params["share_to_feed"] == "true" and create.headers["authorization"] == f"Bearer {TOKEN}"
    container = next(iter(fake.uploads.values()))
    assert fake.received(next(iter(fake.uploads))) == video.read_bytes()
    # One POST with the whole file, whatever chunk_size_bytes says: rupload is "Resumable (non-chunking)".
    (upload,) = fake.routes("upload")
    assert upload.headers["authorization"] == f"OAuth {TOKEN}"
    assert upload.headers["offset"] == "0" and upload.headers["file_size"] == str(video.stat().st_size)
    assert upload.body_size == video.stat().st_size
    assert fake.routes("limit") and fake.routes("status")
    assert fake.published == 1
    post = outcome.post
    assert post.status == "published" and post.remote_id == container.published_id and post.provider == "instagram"
    assert post.url.startswith("https://www.instagram.com/reel/") and post.title == "Herb cubes"
    assert TOKEN not in post.model_dump_json()


def test_instagram_resends_an_interrupted_upload_to_the_same_container_and_posts_once(
    tmp_path: Path, fake: FakeMeta, video: Path
) -> None:
    fake.drop("upload", times=3)  # every attempt of this run dies midway through its one POST
    publisher = _publisher(tmp_path, fake, "instagram")
    with pytest.raises(RetryableError):
        publisher.publish(_request(video, "instagram"))

    outcome = publisher.publish(_request(video, "instagram"))

    assert len(fake.routes("media")) == 1  # the same container
    # IG documents no read of the bytes it holds: the rest of the file goes again from the last acknowledged offset.
    (resent,) = fake.routes("upload")
    assert resent.headers["offset"] == "0" and resent.body_size == video.stat().st_size
    assert fake.received(next(iter(fake.uploads))) == video.read_bytes()
    assert fake.published == 1 and outcome.post.status == "published"


def test_instagram_retry_after_media_publish_answered_posts_nothing_new(
    tmp_path: Path, fake: FakeMeta, video: Path
) -> None:
    fake.fail("permalink", status=503, times=3)
    publisher = _publisher(tmp_path, fake, "instagram")
    with pytest.raises(RetryableError):
        publisher.publish(_request(video, "instagram"))
    assert fake.published == 1

    outcome = publisher.publish(_request(video, "instagram"))

    assert fake.published == 1 and len(fake.routes("publish")) == 1 and len(fake.routes("media")) == 1
    assert outcome.post.remote_id == next(iter(fake.media))


def test_instagram_rate_limit_code_4_is_retried(tmp_path: Path, fake: FakeMeta, video: Path) -> None:
    fake.rate_limit("media")
    fake.fail("upload", status=429, headers={"Retry-After": "0"}, body=graph_error("Too many calls", 613))

    outcome = _publisher(tmp_path, fake, "instagram").publish(_request(video, "instagram"))

    assert outcome.post.status == "published" and len(fake.routes("media")) == 2 and fake.published == 1


def test_instagram_5xx_midway_through_the_upload_is_retried_in_place(
    tmp_path: Path, fake: FakeMeta, video: Path
) -> None:
    fake.fail("upload", status=500)

    _publisher(tmp_path, fake, "instagram").publish(_request(video, "instagram"))

    offsets = [int(u.headers["offset"]) for u in fake.routes("upload")]
    assert offsets == [0, 0]  # the same whole-file POST, once more
    assert fake.received(next(iter(fake.uploads))) == video.read_bytes()


def test_instagram_container_error_fails_with_instagrams_message(tmp_path: Path, fake: FakeMeta, video: Path) -> None:
    fake.error_container("Error: Video format is not supported (2207026)")
    with pytest.raises(ProviderError, match="ERROR: Error: Video format is not supported"):
        _publisher(tmp_path, fake, "instagram").publish(_request(video, "instagram"))
    assert fake.published == 0


def test_instagram_refreshes_an_expired_token_once(tmp_path: Path, fake: FakeMeta, video: Path) -> None:
    fake.expire_token_once()
    assert _publisher(tmp_path, fake, "instagram").publish(_request(video, "instagram")).post.status == "published"


def test_instagram_token_still_expired_after_refresh_says_to_authorize(
    tmp_path: Path, fake: FakeMeta, video: Path
) -> None:
    fake.fail("limit", status=400, body=graph_error("Session has expired", 190, 463), times=2)
    with pytest.raises(ConfigurationError, match="shorts auth instagram") as raised:
        _publisher(tmp_path, fake, "instagram").publish(_request(video, "instagram"))
    assert TOKEN not in str(raised.value)


def test_instagram_over_the_publishing_limit_stops_before_uploading(
    tmp_path: Path, fake: FakeMeta, video: Path
) -> None:
    fake.quota_usage = fake.quota_total
    with pytest.raises(ProviderError, match="daily publishing limit reached"):
        _publisher(tmp_path, fake, "instagram").publish(_request(video, "instagram"))
    assert not fake.routes("media")


def test_instagram_publishing_limit_error_code_9_is_permanent(tmp_path: Path, fake: FakeMeta, video: Path) -> None:
    fake.fail("publish", status=400, body=graph_error("Application request limit reached", 9, 2207042))
    with pytest.raises(ProviderError, match="daily publishing limit reached"):
        _publisher(tmp_path, fake, "instagram").publish(_request(video, "instagram"))
    assert len(fake.routes("publish")) == 1


def test_instagram_dry_run_checks_the_account_and_creates_nothing(tmp_path: Path, fake: FakeMeta, video: Path) -> None:
    outcome = _publisher(tmp_path, fake, "instagram", dry_run=True).publish(_request(video, "instagram"))
    assert outcome.post.status == "dry_run" and outcome.post.remote_id == "dry-run"
    assert fake.routes("limit") and not fake.routes("media") and not fake.uploads and fake.published == 0


def test_second_publish_of_the_same_partition_is_already_published(tmp_path: Path, fake: FakeMeta, video: Path) -> None:
    publish = publishing.runs_of(lambda: _publisher(tmp_path, fake, "instagram"), _request(video, "instagram"))
    first, second, _ = publishing.publish_twice(publish, fake.requests)
    assert second.already_published and second.post.remote_id == first.post.remote_id and fake.published == 1


@pytest.mark.parametrize("platform", ["instagram", "facebook"])
def test_missing_account_id_names_the_setting(tmp_path: Path, fake: FakeMeta, video: Path, platform: str) -> None:
    publisher = _publisher(tmp_path, fake, platform).model_copy(update={"account_id": ""})
    with pytest.raises(
        ConfigurationError,
        match={"instagram": "SHORTS_INSTAGRAM_ACCOUNT_ID", "facebook": "SHORTS_FACEBOOK_PAGE_ID"}[platform],
    ):
        publisher.publish(_request(video, platform))
    assert not fake.requests


# --- Facebook ------------------------------------------------------------------------------------------------


def test_facebook_reel_start_upload_finish_and_poll(tmp_path: Path, fake: FakeMeta, video: Path) -> None:
    outcome = _publisher(tmp_path, fake, "facebook").publish(_request(video, "facebook"))

    (start,) = fake.routes("start")
    (finish,) = fake.routes("finish")
    video_id = next(iter(fake.uploads))
    assert start.path == f"/v27.0/{fake.page}/video_reels"
    assert finish.params == {
        "upload_phase": "finish",
        "video_id": video_id,
        "video_state": "PUBLISHED",
        "description": "Freeze herbs in oil (really) #kitchen #tips",
    }
    uploads = fake.routes("upload")
    assert all(u.path == f"/video-upload/v27.0/{video_id}" for u in uploads)
    assert all(u.headers["authorization"] == f"OAuth {PAGE_TOKEN}" for u in uploads)
    assert fake.received(video_id) == video.read_bytes()
    post = outcome.post
    assert post.status == "published" and post.remote_id == video_id and fake.published == 1
    assert post.url == f"https://www.facebook.com/reel/{video_id}/"


def test_facebook_resumes_from_the_bytes_the_server_reports(tmp_path: Path, fake: FakeMeta, video: Path) -> None:
    fake.drop("upload", times=3)  # each attempt's one POST is cut halfway; the server keeps what arrived
    publisher = _publisher(tmp_path, fake, "facebook")
    with pytest.raises(RetryableError):
        publisher.publish(_request(video, "facebook"))
    video_id = next(iter(fake.uploads))
    held = len(fake.received(video_id))  # the half the server got before the cut
    sent_before = len(fake.routes("upload"))

    outcome = publisher.publish(_request(video, "facebook"))

    assert 0 < held < video.stat().st_size
    assert int(fake.routes("upload")[sent_before].headers["offset"]) == held  # only the rest, in one POST
    assert len(fake.routes("start")) == 1 and fake.received(video_id) == video.read_bytes()
    assert fake.published == 1 and outcome.post.remote_id == video_id


def test_facebook_retry_after_finish_answered_posts_nothing_new(tmp_path: Path, fake: FakeMeta, video: Path) -> None:
    fake.fail("status", status=500, times=3)
    publisher = _publisher(tmp_path, fake, "facebook")
    with pytest.raises(RetryableError):
        publisher.publish(_request(video, "facebook"))

    outcome = publisher.publish(_request(video, "facebook"))

    assert len(fake.routes("finish")) == 1 and len(fake.routes("start")) == 1 and fake.published == 1
    assert outcome.post.status == "published"


def test_facebook_dry_run_reads_the_page_and_creates_nothing(tmp_path: Path, fake: FakeMeta, video: Path) -> None:
    outcome = _publisher(tmp_path, fake, "facebook", dry_run=True).publish(_request(video, "facebook"))
    assert outcome.post.status == "dry_run" and fake.routes("page") and not fake.routes("start")
