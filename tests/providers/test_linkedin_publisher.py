"""LinkedIn video posts against a local Videos + Posts API server with per-part upload URLs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from resources.errors import ConfigurationError, ProviderError, RetryableError
from resources.publish import Publisher
from resources.publish.captions import Caption
from resources.publish.platforms import linkedin
from resources.publish.publisher import PostRequest
from tests.providers import publishing
from tests.providers.fakes.linkedin_server import FakeLinkedIn

TOKEN = "li-test-token"
AUTHOR = "urn:li:person:abc123"
PART = 256 * 1024
CAPTION = Caption(title="Herb cubes", text="Freeze herbs (really) @home #kitchen", hashtags=["kitchen"])


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeLinkedIn]:
    publishing.use_token(monkeypatch, tmp_path, "linkedin", TOKEN)
    with FakeLinkedIn(token=TOKEN, version=linkedin.LINKEDIN_VERSION, part_size=PART) as server:
        yield server


def _publisher(tmp_path: Path, fake: FakeLinkedIn, **kwargs: object) -> Publisher:
    return publishing.api_publisher(
        "linkedin", tmp_path, **({"api_base_url": fake.base_url, "account_id": AUTHOR} | kwargs)
    )


def _request(video: Path, key: str = "file-abc") -> PostRequest:
    return publishing.post_request("linkedin", video, CAPTION, key)


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
    publish = publishing.runs_of(lambda: _publisher(tmp_path, fake), _request(video))
    publishing.crash_before_the_ledger_write(monkeypatch, publish)

    outcome = publish()

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
    fake.drop("posts")  # cut before LinkedIn acts: no post, and the author's posts cannot say otherwise yet
    with pytest.raises(ProviderError, match="may have posted it"):
        _publisher(tmp_path, fake).publish(_request(video))
    assert len(fake.calls("posts")) == 0 and len(fake.calls("find_posts")) == 1


def test_rejected_token_says_to_authorize(tmp_path: Path, fake: FakeLinkedIn, video: Path) -> None:
    fake.token = "another-token"
    with pytest.raises(ConfigurationError, match="shorts auth linkedin") as raised:
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
    first, second, _ = publishing.publish_twice(
        publishing.runs_of(lambda: _publisher(tmp_path, fake), _request(video)), fake.requests
    )
    assert second.already_published and second.post.remote_id == first.post.remote_id and len(fake.posts) == 1
