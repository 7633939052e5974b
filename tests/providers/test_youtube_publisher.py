"""YouTube publishing: the real google-api-python-client against a local resumable-upload server."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from resources.errors import ConfigurationError, ProviderError, RetryableError
from resources.publish import Publisher
from resources.publish.captions import Caption
from resources.publish.ledger import UploadCheckpoint
from resources.publish.oauth import TokenStore
from resources.publish.publisher import PostRequest
from tests.providers import publishing
from tests.providers.fakes.youtube_server import FakeYouTube

TOKEN = "ya29.test-access-token-never-shown"
CHUNK = 256 * 1024
KEY = "file-abc123"


@pytest.fixture
def video(tmp_path: Path) -> Path:
    """~1.5 MB of random bytes named .mp4: six 256 KiB chunks (the fake does not decode video)."""
    return publishing.random_video(tmp_path, 1_500_000)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeYouTube]:
    monkeypatch.setenv("YOUTUBE_ACCESS_TOKEN", TOKEN)
    with FakeYouTube() as server:
        server.accept_token(TOKEN)
        yield server


def _publisher(tmp_path: Path, fake: FakeYouTube, **kwargs: object) -> Publisher:
    """Processing ends when the fake says so: no wall-clock deadline decides a test."""
    settings: dict[str, object] = {"api_base_url": fake.base_url, "chunk_size_bytes": CHUNK, "privacy": "unlisted"}
    return publishing.api_publisher("youtube", tmp_path, **(settings | kwargs))


def _request(video: Path, **kwargs: object) -> PostRequest:
    return PostRequest(
        platform="youtube",
        partition_key=KEY,
        video_path=video,
        media_uri=video.as_uri(),
        caption=Caption(
            title="The watering rule", text="Most houseplants drown. #shorts", hashtags=["plants", "shorts"]
        ),
        **kwargs,  # type: ignore[arg-type]
    )


def _checkpoint(publisher: Publisher) -> UploadCheckpoint:
    """The resume state as a new process would load it."""
    return publisher.ledger().checkpoint(KEY, "youtube")


def test_upload_sends_the_metadata_and_the_exact_bytes(tmp_path: Path, fake: FakeYouTube, video: Path) -> None:
    outcome = _publisher(tmp_path, fake).publish(_request(video, contains_synthetic_media=True))
    post = outcome.post
    (sent,) = fake.sessions.values()
    assert sent.metadata["snippet"] == {
        "title": "The watering rule",
        "description": "Most houseplants drown. #shorts",
        "tags": ["plants", "shorts"],
        "categoryId": "22",
    }
    assert sent.metadata["status"] == {
        "privacyStatus": "unlisted",
        "selfDeclaredMadeForKids": False,
        "containsSyntheticMedia": True,
    }
    assert sent.query["part"] == "snippet,status" and sent.query["notifySubscribers"] == "false"
    assert fake.uploaded_bytes(post.remote_id) == video.read_bytes()
    assert fake.count("chunk") == 6 and fake.count("start") == 1
    assert post.status == "published" and post.remote_id in fake.videos
    assert post.url == f"https://youtube.com/shorts/{post.remote_id}"
    assert fake.videos[post.remote_id]["status"]["containsSyntheticMedia"] is True
    assert fake.count("list") == 2  # uploaded, then processed
    assert _publisher(tmp_path, fake).ledger().get(KEY, "youtube") == post


def test_a_partly_accepted_chunk_continues_from_the_servers_range(
    tmp_path: Path, fake: FakeYouTube, video: Path
) -> None:
    fake.accept_partially(100_000, after=1)
    post = _publisher(tmp_path, fake).publish(_request(video)).post
    starts = [r.headers["content-range"].split()[1].split("-")[0] for r in fake.requests if r.kind == "chunk"]
    assert starts[:4] == ["0", str(CHUNK), str(CHUNK + 100_000), str(2 * CHUNK + 100_000)]
    assert fake.uploaded_bytes(post.remote_id) == video.read_bytes()


def test_a_dropped_connection_resyncs_and_finishes_in_the_same_attempt(
    tmp_path: Path, fake: FakeYouTube, video: Path
) -> None:
    fake.drop("chunk", times=2, after=2)  # httplib2 resends once by itself; the second drop reaches us
    post = _publisher(tmp_path, fake).publish(_request(video)).post
    assert fake.count("query") == 1  # the SDK asked the session how far it got
    assert len(fake.sessions) == 1 and len(fake.videos) == 1
    assert fake.uploaded_bytes(post.remote_id) == video.read_bytes()


def test_a_failed_attempt_is_resumed_by_the_next_one_from_the_checkpoint(
    tmp_path: Path, fake: FakeYouTube, video: Path
) -> None:
    fake.fail("chunk", 503, times=3, after=2)
    with pytest.raises(RetryableError, match="gave up after 3 attempts"):
        _publisher(tmp_path, fake).publish(_request(video))
    saved = _checkpoint(_publisher(tmp_path, fake))
    (session,) = fake.sessions.values()
    assert saved.get("session_uri").endswith(session.upload_id) and saved.get("progress") == 2 * CHUNK
    assert not fake.videos

    sent_before = len(fake.requests)
    outcome = _publisher(tmp_path, fake).publish(_request(video))  # a new Publisher, engine and checkpoint
    assert fake.count("start") == 1 and len(fake.sessions) == 1 and len(fake.videos) == 1
    resumed = fake.requests[sent_before:]
    assert resumed[0].kind == "query" and resumed[0].headers["content-range"] == "bytes */1500000"
    assert resumed[1].headers["content-range"].startswith(f"bytes {2 * CHUNK}-")
    assert fake.uploaded_bytes(outcome.post.remote_id) == video.read_bytes()
    assert _checkpoint(_publisher(tmp_path, fake)).get("session_uri") is None  # the record cleared it


def test_an_expired_session_starts_over_and_posts_one_video(tmp_path: Path, fake: FakeYouTube, video: Path) -> None:
    fake.fail("chunk", 503, times=3, after=3)
    with pytest.raises(RetryableError):
        _publisher(tmp_path, fake).publish(_request(video))
    fake.expire_sessions()
    outcome = _publisher(tmp_path, fake).publish(_request(video))
    assert fake.count("start") == 2 and len(fake.sessions) == 2 and len(fake.videos) == 1
    assert fake.uploaded_bytes(outcome.post.remote_id) == video.read_bytes()


def test_a_session_expiring_mid_upload_starts_over_in_the_same_attempt(
    tmp_path: Path, fake: FakeYouTube, video: Path
) -> None:
    fake.fail("chunk", 404, after=3, reason="notFound")
    post = _publisher(tmp_path, fake).publish(_request(video)).post
    assert len(fake.sessions) == 2 and len(fake.videos) == 1
    assert fake.uploaded_bytes(post.remote_id) == video.read_bytes()


def test_a_changed_video_does_not_resume_the_old_session(tmp_path: Path, fake: FakeYouTube, video: Path) -> None:
    fake.fail("chunk", 503, times=3, after=2)
    with pytest.raises(RetryableError):
        _publisher(tmp_path, fake).publish(_request(video))
    video.write_bytes(os.urandom(700_000))  # re-rendered meanwhile
    queries = fake.count("query")
    outcome = _publisher(tmp_path, fake).publish(_request(video))
    assert fake.count("query") == queries  # the old session was not even asked
    assert len(fake.sessions) == 2 and len(fake.videos) == 1
    assert fake.uploaded_bytes(outcome.post.remote_id) == video.read_bytes()


def test_an_upload_finished_before_a_crash_is_not_uploaded_again(
    tmp_path: Path, fake: FakeYouTube, video: Path
) -> None:
    publisher = _publisher(tmp_path, fake)
    first = publisher.engine(_checkpoint(publisher)).publish(_request(video))  # no ledger record
    assert _checkpoint(publisher).get("remote_id") == first.remote_id
    second = publisher.publish(_request(video))
    assert second.post.remote_id == first.remote_id
    assert fake.count("start") == 1 and len(fake.videos) == 1


@pytest.mark.parametrize("reason", ["rateLimitExceeded", "quotaExceeded", "uploadLimitExceeded"])
def test_the_daily_upload_quota_fails_at_once_until_midnight_pacific(
    tmp_path: Path, fake: FakeYouTube, video: Path, reason: str
) -> None:
    fake.quota(reason)
    with pytest.raises(ProviderError, match="quota exhausted") as failure:
        _publisher(tmp_path, fake).publish(_request(video))
    assert "midnight Pacific time; re-execute youtube_post" in str(failure.value) and reason in str(failure.value)
    assert fake.count("start") == 1 and fake.count("chunk") == 0  # not retried
    assert TOKEN not in str(failure.value)


def test_server_errors_are_retried(tmp_path: Path, fake: FakeYouTube, video: Path) -> None:
    fake.fail("start", 500)
    fake.fail("list", 503)
    post = _publisher(tmp_path, fake).publish(_request(video)).post
    assert fake.count("start") == 2 and post.status == "published"


def test_publish_at_needs_private(tmp_path: Path, fake: FakeYouTube, video: Path) -> None:
    with pytest.raises(ConfigurationError, match="publish_at needs privacy=private"):
        _publisher(tmp_path, fake, publish_at="2030-01-01T09:00:00Z").publish(_request(video))
    assert not fake.requests


def test_a_scheduled_private_upload_carries_publish_at(tmp_path: Path, fake: FakeYouTube, video: Path) -> None:
    publisher = _publisher(tmp_path, fake, privacy="private", publish_at="2030-01-01T10:00:00+01:00")
    publisher.publish(_request(video))
    (sent,) = fake.sessions.values()
    assert sent.metadata["status"]["publishAt"] == "2030-01-01T09:00:00Z"
    assert sent.metadata["status"]["privacyStatus"] == "private"


def test_chunk_size_must_be_a_multiple_of_256_kib(tmp_path: Path, fake: FakeYouTube, video: Path) -> None:
    with pytest.raises(ConfigurationError, match="256 KiB"):
        _publisher(tmp_path, fake, chunk_size_bytes=300_000).publish(_request(video))


def test_dry_run_uploads_nothing(tmp_path: Path, fake: FakeYouTube, video: Path) -> None:
    outcome = _publisher(tmp_path, fake, dry_run=True).publish(_request(video))
    assert outcome.post.status == "dry_run" and outcome.post.remote_id == "dry-run"
    assert not fake.requests
    assert _publisher(tmp_path, fake).ledger().get(KEY, "youtube") is None


def test_a_second_publish_of_the_partition_uploads_nothing(tmp_path: Path, fake: FakeYouTube, video: Path) -> None:
    first, second, sent = publishing.publish_twice(
        publishing.runs_of(lambda: _publisher(tmp_path, fake), _request(video)), fake.requests
    )
    assert second.already_published and second.post == first.post
    assert sent == 0 and len(fake.videos) == 1


def test_processing_failure_names_the_reason(tmp_path: Path, fake: FakeYouTube, video: Path) -> None:
    fake.finish_processing_as("rejected", "duplicate")
    with pytest.raises(ProviderError, match=r"rejected video .* \(duplicate\)"):
        _publisher(tmp_path, fake).publish(_request(video))
    saved = _checkpoint(_publisher(tmp_path, fake))
    assert saved.get("remote_id") is None and saved.get("session_uri") is None  # a re-execution uploads again


def test_a_refused_token_is_refreshed_once_and_never_shown(
    tmp_path: Path, fake: FakeYouTube, video: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stale = "ya29.stale-token-never-shown"
    monkeypatch.delenv("YOUTUBE_ACCESS_TOKEN")
    monkeypatch.setenv("YOUTUBE_CLIENT_ID", "client-id")
    monkeypatch.setenv("YOUTUBE_CLIENT_SECRET", "client-secret")
    monkeypatch.setenv("SHORTS_TOKEN_FILE", str(tmp_path / "tokens.json"))
    store = TokenStore(tmp_path / "tokens.json")
    store.save("youtube", {"access_token": stale, "refresh_token": "refresh-1", "expires_at": 4e9})
    publisher = _publisher(tmp_path, fake, token_url=f"{fake.base_url}/token")

    post = publisher.publish(_request(video)).post  # the fake never accepted `stale`: 401 on the first call
    assert fake.tokens_issued == 1 and post.status == "published"
    assert store.load("youtube")["access_token"] != stale
    assert fake.uploaded_bytes(post.remote_id) == video.read_bytes()

    fake.revoke_token(store.load("youtube")["access_token"])
    fake.refresh_token = "revoked"
    with pytest.raises(ConfigurationError) as failure:
        publisher.publish(_request(video).model_copy(update={"partition_key": "file-other"}))
    text = str(failure.value) + json.dumps(publisher.ledger()._load_state(KEY, "youtube")) + post.model_dump_json()
    assert stale not in text and store.load("youtube")["access_token"] not in text
