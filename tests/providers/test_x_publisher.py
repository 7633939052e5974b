"""The X publisher against a local X API v2: chunked media upload, STATUS polling, one post, resume, errors.

Retries wait nothing (`tests.providers.publishing`); the 2 MB file goes up in 512 KiB segments.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from resources.errors import InputRejected, ProviderError
from resources.http.deadline import FakeClock
from resources.http.retry import parse_retry_after
from resources.publish import Publisher
from resources.publish.captions import Caption
from resources.publish.platforms.x import retry_headers, segment_size
from resources.publish.publisher import PostRequest
from tests.providers import publishing
from tests.providers.fakes.x_server import FakeX
from tests.providers.publishing import CAPTION, KEY, KIB, MIB, VIDEO_SIZE, Publish

TOKEN = "x-fixed-token-do-not-leak"
CHUNK = 512 * KIB
FILE_SIZE = VIDEO_SIZE  # five segments: four of 512 KiB and one of 12 345 bytes


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeX]:
    publishing.use_token(monkeypatch, tmp_path, "x", TOKEN)
    with FakeX(access_token=TOKEN) as server:
        yield server


def publisher(fake: FakeX, tmp_path: Path, **overrides: object) -> Publisher:
    return publishing.api_publisher("x", tmp_path, api_base_url=fake.base_url, chunk_size_bytes=CHUNK, **overrides)


def request(video: Path, caption: Caption = CAPTION) -> PostRequest:
    return publishing.post_request("x", video, caption)


@pytest.fixture
def publish(fake: FakeX, tmp_path: Path, video: Path) -> Publish:
    return publishing.runs_of(lambda **fields: publisher(fake, tmp_path, **fields), request(video))


def appended_indexes(fake: FakeX) -> list[int]:
    return [int(r.form["segment_index"]) for r in fake.calls("append")]


def test_uploads_in_segments_waits_for_processing_and_posts_once(fake: FakeX, publish: Publish, video: Path) -> None:
    outcome = publish()

    (init,) = fake.calls("initialize")
    assert init.json == {"media_type": "video/mp4", "total_bytes": FILE_SIZE, "media_category": "amplify_video"}
    (media,) = fake.media.values()
    assert appended_indexes(fake) == [0, 1, 2, 3, 4]
    assert [len(r.form["media"]) for r in fake.calls("append")] == [CHUNK] * 4 + [FILE_SIZE - 4 * CHUNK]
    assert all(r.headers["content-type"].startswith("multipart/form-data") for r in fake.calls("append"))
    assert media.received == video.read_bytes()
    assert len(fake.calls("finalize")) == 1
    statuses = fake.calls("status")
    assert len(statuses) == fake.processing_polls + 1
    assert all(r.query == {"command": "STATUS", "media_id": media.media_id} for r in statuses)
    (tweet,) = fake.tweets
    assert fake.calls("tweets")[0].json == {"text": CAPTION.text, "media": {"media_ids": [media.media_id]}}
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in fake.requests)
    post = outcome.post
    assert (post.status, post.provider, post.remote_id) == ("published", "x", tweet["id"])
    assert post.url == f"https://x.com/i/web/status/{tweet['id']}"
    assert (post.title, post.caption, post.media_uri) == (CAPTION.title, CAPTION.text, video.as_uri())


def test_a_dropped_append_resumes_on_the_next_publish_with_exactly_one_post(
    fake: FakeX, publish: Publish, video: Path
) -> None:
    fake.drop_next("append:2", times=3)  # every attempt of the third segment loses its connection
    publishing.gives_up(publish, "media append 3/5")
    assert appended_indexes(fake) == [0, 1, 2, 2, 2]

    outcome = publish()

    assert len(fake.calls("initialize")) == 1  # the same media id
    assert appended_indexes(fake)[5:] == [2, 3, 4]  # only what was missing
    (media,) = fake.media.values()
    assert media.received == video.read_bytes()
    assert len(fake.tweets) == 1 and outcome.post.remote_id == fake.tweets[0]["id"]


def test_a_failure_after_the_post_id_was_returned_never_posts_again(
    fake: FakeX, publish: Publish, monkeypatch: pytest.MonkeyPatch
) -> None:
    publishing.crash_before_the_ledger_write(monkeypatch, publish)
    count = len(fake.requests)

    outcome = publish()

    assert len(fake.requests) == count  # no upload, no post: the checkpoint held the post id
    assert len(fake.tweets) == 1 and outcome.post.remote_id == fake.tweets[0]["id"]


def test_processing_errors_after_finalize_resume_polling_only(fake: FakeX, publish: Publish) -> None:
    fake.fail_next("status", 503, "Service Unavailable", times=3)
    publishing.gives_up(publish, "media status")

    publish()

    assert len(fake.calls("initialize")) == 1 and len(fake.calls("append")) == 5
    assert len(fake.calls("finalize")) == 1 and len(fake.tweets) == 1


@pytest.mark.parametrize("header", ["Retry-After", "x-rate-limit-reset"])
def test_a_rate_limited_post_waits_as_x_asks_then_posts_once(fake: FakeX, publish: Publish, header: str) -> None:
    value = "1" if header == "Retry-After" else str(int(time.time()) + 2)
    fake.fail_next("tweets", 429, "Too Many Requests", headers={header: value, "x-rate-limit-remaining": "0"})
    clock = FakeClock()  # the engine waits on it: the test measures the wait without sleeping through it
    started = clock.now()
    outcome = publish(clock=clock)
    assert clock.now() - started >= 0.9
    assert len(fake.calls("tweets")) == 2 and len(fake.tweets) == 1 and outcome.post.status == "published"


def test_a_forbidden_post_fails_at_once_with_xs_message(fake: FakeX, publish: Publish) -> None:
    fake.fail_next("tweets", 403, "You are not permitted to create a post with media.")
    with pytest.raises(ProviderError, match="not permitted to create a post with media") as failure:
        publish()
    assert TOKEN not in str(failure.value) and len(fake.calls("tweets")) == 1 and fake.tweets == []


def test_a_post_whose_answer_was_lost_is_not_posted_twice(fake: FakeX, publish: Publish) -> None:
    fake.fail_after_next("tweets", 503)  # X created the post, then the answer was a 503
    outcome = publish()
    assert len(fake.calls("tweets")) == 1 and len(fake.tweets) == 1  # not resent: looked up on the timeline
    assert outcome.post.remote_id == fake.tweets[0]["id"] and len(fake.calls("timeline")) == 1


def test_failed_processing_raises_xs_reason_and_posts_nothing(fake: FakeX, publish: Publish) -> None:
    fake.fail_next_processing("Your media has an unsupported codec.")
    with pytest.raises(ProviderError, match="unsupported codec"):
        publish()
    assert fake.calls("tweets") == []


def test_a_refused_token_is_refreshed_once_and_the_call_repeated(fake: FakeX, publish: Publish) -> None:
    fake.fail_next("initialize", 401, "Unauthorized")
    publish()
    assert len(fake.calls("initialize")) == 2 and len(fake.tweets) == 1


def test_dry_run_sends_nothing(fake: FakeX, tmp_path: Path, video: Path) -> None:
    pub = publisher(fake, tmp_path, dry_run=True)
    outcome = pub.publish(request(video))
    assert fake.requests == []
    assert (outcome.post.status, outcome.post.remote_id) == ("dry_run", "dry-run")
    assert pub.ledger().get(KEY, "x") is None


def test_text_over_280_characters_is_rejected_before_any_call(fake: FakeX, tmp_path: Path, video: Path) -> None:
    with pytest.raises(InputRejected, match="280"):
        publisher(fake, tmp_path).publish(request(video, Caption(title="t", text="x" * 281, hashtags=[])))
    assert fake.requests == []


def test_a_second_publish_of_the_same_partition_returns_already_published(fake: FakeX, publish: Publish) -> None:
    first, second, sent = publishing.publish_twice(publish, fake.requests)
    assert second.already_published and second.post == first.post and sent == 0


def test_the_x_fake_refuses_requests_outside_its_openapi_document(fake: FakeX) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    init = {"media_type": "video/mp4", "total_bytes": 10, "media_category": "amplify_video", "command": "INIT"}
    initialize = httpx.post(f"{fake.base_url}/2/media/upload/initialize", json=init, headers=auth)
    timeline = httpx.get(
        f"{fake.base_url}/2/users/{fake.user_id}/tweets",
        params={"expansions": "attachments.media_keys,author", "max_results": "20"},
        headers=auth,
    )
    too_long = "1" * 20  # media ids are 1–19 digits
    append = httpx.post(
        f"{fake.base_url}/2/media/upload/{too_long}/append",
        data={"segment_index": "0"},
        files={"media": b"x"},
        headers=auth,
    )

    assert initialize.status_code == timeline.status_code == append.status_code == 400
    assert initialize.json()["title"] == "Invalid Request"
    first, second, third = fake.take_spec_violations()
    assert first.startswith("POST /2/media/upload/initialize: (the whole value): Additional properties")
    assert second.startswith("GET /2/users/{id}/tweets: query expansions: 1: 'author' is not one of")
    assert third.startswith("POST /2/media/upload/{id}/append: path id: '11111111111111111111' does not match")


def test_rate_limit_reset_becomes_a_retry_after() -> None:
    headers = retry_headers({"x-rate-limit-reset": "1000030"}, now=1_000_000.0)
    assert parse_retry_after(headers) == 30.0
    assert retry_headers({"Retry-After": "5", "x-rate-limit-reset": "1000030"}, now=1_000_000.0)["retry-after"] == "5"


def test_segment_size_stays_within_xs_limits() -> None:
    assert segment_size(2 * MIB, 8 * MIB) == 4 * MIB  # under the 5 MB APPEND limit
    assert segment_size(400 * MIB, 64 * KIB) >= 400 * MIB // 1000  # at most 1000 segments
    with pytest.raises(InputRejected):
        segment_size(0, CHUNK)
