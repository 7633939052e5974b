"""LinkedIn video posts against a local Videos + Posts API server with per-part upload URLs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from resources.errors import ConfigurationError, ProviderError, RetryableError
from resources.http.retry import RetrySettings
from resources.publish import Publisher
from resources.publish.captions import Caption
from resources.publish.ledger import PublishLedger
from resources.publish.platforms import linkedin
from resources.publish.publisher import PostRequest
from resources.records import Post
from tests.providers.fakes.linkedin_server import FakeLinkedIn

TOKEN = "li-test-token"
AUTHOR = "urn:li:person:abc123"
PART = 256 * 1024


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(linkedin, "RETRY", RetrySettings(attempts=3, base_delay_s=0.01, max_delay_s=0.02))
    monkeypatch.setenv("LINKEDIN_ACCESS_TOKEN", TOKEN)


@pytest.fixture
def fake() -> Iterator[FakeLinkedIn]:
    with FakeLinkedIn(token=TOKEN, version=linkedin.LINKEDIN_VERSION, part_size=PART) as server:
        yield server


@pytest.fixture
def video(tmp_path: Path) -> Path:
    path = tmp_path / "short.mp4"
    path.write_bytes(os.urandom(1_300_000))
    return path


def _publisher(tmp_path: Path, fake: FakeLinkedIn, **kwargs: object) -> Publisher:
    settings: dict[str, object] = {
        "platform": "linkedin",
        "provider": "api",
        "api_base_url": fake.base_url,
        "account_id": AUTHOR,
        "ledger_path": str(tmp_path / "ledger.sqlite3"),
        "poll_interval_s": 0.01,
    }
    return Publisher(**(settings | kwargs))  # type: ignore[arg-type]


def _request(video: Path, key: str = "file-abc") -> PostRequest:
    return PostRequest(
        platform="linkedin",
        partition_key=key,
        video_path=video,
        media_uri=video.as_uri(),
        caption=Caption(title="Herb cubes", text="Freeze herbs (really) @home #kitchen", hashtags=["kitchen"]),
    )


def test_little_text_escapes_reserved_characters_and_templates_hashtags() -> None:
    assert linkedin.little_text("a_b (c) @d #tag <e>") == r"a\_b \(c\) \@d {hashtag|\#|tag} \<e\>"


def test_video_is_uploaded_part_by_part_then_posted(tmp_path: Path, fake: FakeLinkedIn, video: Path) -> None:
    outcome = _publisher(tmp_path, fake).publish(_request(video))

    for call in fake.routes("initialize") + fake.routes("finalize") + fake.routes("video") + fake.routes("posts"):
        assert call.headers["authorization"] == f"Bearer {TOKEN}"
        assert call.headers["linkedin-version"] == linkedin.LINKEDIN_VERSION
        assert call.headers["x-restli-protocol-version"] == "2.0.0"
    (init,) = fake.routes("initialize")
    assert init.json == {
        "initializeUploadRequest": {
            "owner": AUTHOR,
            "fileSizeBytes": video.stat().st_size,
            "uploadCaptions": False,
            "uploadThumbnail": False,
        }
    }
    (stored,) = fake.videos.values()
    uploads = fake.routes("upload")
    assert [u.path.rsplit("/", 1)[1] for u in uploads] == [str(i) for i in range(len(stored.ranges))]
    assert len(stored.ranges) > 1 and stored.data() == video.read_bytes()
    (finalize,) = fake.routes("finalize")
    assert finalize.json["finalizeUploadRequest"]["uploadedPartIds"] == [stored.etags[i] for i in range(len(uploads))]
    (post_call,) = fake.routes("posts")
    assert post_call.json["commentary"] == r"Freeze herbs \(really\) \@home {hashtag|\#|kitchen}"
    assert post_call.json["content"] == {"media": {"title": "Herb cubes", "id": stored.urn}}
    assert post_call.json["author"] == AUTHOR
    (post_urn,) = fake.posts
    post = outcome.post
    assert post.status == "published" and post.remote_id == post_urn and post.provider == "linkedin"
    assert post.url == f"https://www.linkedin.com/feed/update/{post_urn}/"
    assert fake.routes("video")[0].path == f"/rest/videos/{quote(stored.urn, safe='')}"


def test_interrupted_upload_resumes_with_only_the_missing_parts(
    tmp_path: Path, fake: FakeLinkedIn, video: Path
) -> None:
    fake.drop("upload", part=3, times=3)
    publisher = _publisher(tmp_path, fake)
    with pytest.raises(RetryableError):
        publisher.publish(_request(video))
    assert [u.path.rsplit("/", 1)[1] for u in fake.routes("upload")] == ["0", "1", "2"]

    outcome = publisher.publish(_request(video))

    (stored,) = fake.videos.values()
    parts = [u.path.rsplit("/", 1)[1] for u in fake.routes("upload")]
    assert parts == [str(i) for i in range(len(stored.ranges))]  # 0-2 once, then 3.. once
    assert len(fake.routes("initialize")) == 1 and stored.data() == video.read_bytes()
    assert len(fake.posts) == 1 and outcome.post.remote_id in fake.posts


def test_failure_after_the_post_was_returned_posts_nothing_new(
    tmp_path: Path, fake: FakeLinkedIn, video: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = PublishLedger.record
    calls = {"n": 0}

    def crash_once(self: PublishLedger, post: Post) -> Post:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("worker died before the ledger write")
        return original(self, post)

    monkeypatch.setattr(PublishLedger, "record", crash_once)
    publisher = _publisher(tmp_path, fake)
    with pytest.raises(RuntimeError):
        publisher.publish(_request(video))

    outcome = publisher.publish(_request(video))

    assert len(fake.posts) == 1 and len(fake.routes("posts")) == 1 and len(fake.routes("initialize")) == 1
    assert outcome.post.remote_id in fake.posts


def test_rate_limits_are_retried(tmp_path: Path, fake: FakeLinkedIn, video: Path) -> None:
    fake.fail("initialize", status=429, headers={"Retry-After": "0"})
    fake.fail("upload", status=503, part=2)
    fake.fail("posts", status=429, headers={"Retry-After": "0"})

    outcome = _publisher(tmp_path, fake).publish(_request(video))

    assert outcome.post.status == "published" and len(fake.posts) == 1
    assert len(fake.routes("initialize")) == 2 and len(fake.routes("posts")) == 2


def test_processing_failed_fails_with_linkedins_reason(tmp_path: Path, fake: FakeLinkedIn, video: Path) -> None:
    fake.fail_processing("Video is too short: minimum duration is 3 seconds")
    with pytest.raises(ProviderError, match="Video is too short: minimum duration is 3 seconds"):
        _publisher(tmp_path, fake).publish(_request(video))
    assert not fake.posts


def test_a_lost_answer_to_the_post_call_is_not_retried(tmp_path: Path, fake: FakeLinkedIn, video: Path) -> None:
    fake.drop("posts")
    with pytest.raises(ProviderError, match="may have created it"):
        _publisher(tmp_path, fake).publish(_request(video))


def test_rejected_token_says_to_authorize(tmp_path: Path, fake: FakeLinkedIn, video: Path) -> None:
    fake.token = "another-token"
    with pytest.raises(ConfigurationError, match="python -m pipeline_assets auth linkedin") as raised:
        _publisher(tmp_path, fake).publish(_request(video))
    assert TOKEN not in str(raised.value)


@pytest.mark.parametrize("account", ["", "abc123"])
def test_missing_or_malformed_author_names_the_setting(
    tmp_path: Path, fake: FakeLinkedIn, video: Path, account: str
) -> None:
    with pytest.raises(ConfigurationError, match="SHORTS_LINKEDIN_AUTHOR_URN"):
        _publisher(tmp_path, fake, account_id=account).publish(_request(video))
    assert not fake.requests


def test_dry_run_creates_nothing(tmp_path: Path, fake: FakeLinkedIn, video: Path) -> None:
    outcome = _publisher(tmp_path, fake, dry_run=True).publish(_request(video))
    assert outcome.post.status == "dry_run" and outcome.post.remote_id == "dry-run" and not fake.requests


def test_second_publish_of_the_same_partition_is_already_published(
    tmp_path: Path, fake: FakeLinkedIn, video: Path
) -> None:
    publisher = _publisher(tmp_path, fake)
    first = publisher.publish(_request(video))
    second = publisher.publish(_request(video))
    assert second.already_published and second.post.remote_id == first.post.remote_id and len(fake.posts) == 1
