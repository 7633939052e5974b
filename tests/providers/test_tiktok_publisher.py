"""The TikTok publisher against a local Content Posting API: wire shapes, chunking, resume, errors, token rotation.

TikTok's chunks are 5–64 MB, so a 2 MB file would always go in one chunk. The tests shrink the rules to
256 KiB–1 MiB in both the engine (`tiktok.CHUNK_LIMITS`, TikTok's own rule rather than a setting) and the
fake, so the same arithmetic (floor division, the last chunk absorbing the remainder) splits a 2 MB file into
four chunks. Retries wait nothing (`tests.providers.publishing`).
"""

from __future__ import annotations

import itertools
import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from resources.errors import InputRejected, ProviderError
from resources.http.deadline import FakeClock
from resources.publish import Publisher
from resources.publish.captions import Caption
from resources.publish.platforms import tiktok
from resources.publish.platforms.tiktok import ChunkLimits, plan_chunks
from resources.publish.publisher import PostRequest
from tests.providers import publishing
from tests.providers.fakes.tiktok_server import FakeTikTok
from tests.providers.publishing import CAPTION, KEY, KIB, MIB, VIDEO_SIZE, Publish

TOKEN = "tt-fixed-token-do-not-leak"
CHUNK = 512 * KIB
FILE_SIZE = VIDEO_SIZE  # four chunks: three of 512 KiB, the last 512 KiB + 12 345 bytes


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeTikTok]:
    publishing.use_token(monkeypatch, tmp_path, "tiktok", TOKEN)
    monkeypatch.setattr(tiktok, "CHUNK_LIMITS", ChunkLimits(min_bytes=256 * KIB, max_bytes=1 * MIB))
    with FakeTikTok(access_token=TOKEN) as server:
        server.min_chunk_bytes, server.max_chunk_bytes = 256 * KIB, 1 * MIB
        yield server


def publisher(fake: FakeTikTok, tmp_path: Path, **overrides: object) -> Publisher:
    return publishing.api_publisher("tiktok", tmp_path, api_base_url=fake.base_url, chunk_size_bytes=CHUNK, **overrides)


def request(video: Path) -> PostRequest:
    return publishing.post_request("tiktok", video)


@pytest.fixture
def publish(fake: FakeTikTok, tmp_path: Path, video: Path) -> Publish:
    return publishing.runs_of(lambda **fields: publisher(fake, tmp_path, **fields), request(video))


def test_direct_post_sends_the_documented_init_and_every_chunk_in_order(
    fake: FakeTikTok, publish: Publish, video: Path
) -> None:
    outcome = publish()

    (init,) = fake.calls("init")
    assert init.headers["authorization"] == f"Bearer {TOKEN}"
    assert init.json["source_info"] == {
        "source": "FILE_UPLOAD",
        "video_size": FILE_SIZE,
        "chunk_size": CHUNK,
        "total_chunk_count": 4,
    }
    post_info = init.json["post_info"]
    assert post_info["title"] == CAPTION.text and post_info["is_aigc"] is True
    assert post_info["privacy_level"] == "PUBLIC_TO_EVERYONE"
    assert post_info["disable_stitch"] is True  # the creator disabled stitches; the post must keep that
    uploads = fake.calls("upload")
    assert [r.headers["content-range"] for r in uploads] == [
        f"bytes 0-{CHUNK - 1}/{FILE_SIZE}",
        f"bytes {CHUNK}-{2 * CHUNK - 1}/{FILE_SIZE}",
        f"bytes {2 * CHUNK}-{3 * CHUNK - 1}/{FILE_SIZE}",
        f"bytes {3 * CHUNK}-{FILE_SIZE - 1}/{FILE_SIZE}",
    ]
    assert all(r.headers["content-type"] == "video/mp4" and "authorization" not in r.headers for r in uploads)
    (upload,) = fake.uploads.values()
    assert bytes(upload.received) == video.read_bytes()
    post = outcome.post
    assert post.status == "published" and post.provider == "tiktok" and not outcome.already_published
    assert post.remote_id == str(upload.post_id)
    assert post.url == f"https://www.tiktok.com/@shorts.lab/video/{upload.post_id}"
    assert (post.title, post.caption, post.media_uri) == (CAPTION.title, CAPTION.text, video.as_uri())
    # The post id arrived only after a PUBLISH_COMPLETE with an empty list: the engine waited for it.
    assert len(fake.calls("status")) == fake.processing_polls + fake.post_id_polls + 1


@pytest.mark.parametrize(
    ("privacy", "options", "expected"),
    [
        ("public", ["FOLLOWER_OF_CREATOR", "SELF_ONLY"], "FOLLOWER_OF_CREATOR"),  # a private account
        ("public", ["SELF_ONLY"], "SELF_ONLY"),  # an unaudited client
        ("private", ["PUBLIC_TO_EVERYONE", "SELF_ONLY"], "SELF_ONLY"),
    ],
)
def test_privacy_is_the_widest_allowed_level_never_wider_than_asked(
    fake: FakeTikTok, publish: Publish, privacy: str, options: list[str], expected: str
) -> None:
    fake.privacy_options = options
    publish(privacy=privacy)
    assert fake.calls("init")[0].json["post_info"]["privacy_level"] == expected


def test_inbox_mode_uploads_a_draft_without_post_info(fake: FakeTikTok, publish: Publish, video: Path) -> None:
    outcome = publish(mode="inbox")
    (init,) = fake.calls("inbox_init")
    assert "post_info" not in init.json and init.json["source_info"]["total_chunk_count"] == 4
    assert not fake.calls("init") and not fake.calls("creator_info")
    (upload,) = fake.uploads.values()
    assert outcome.post.remote_id == upload.publish_id and outcome.post.url == ""
    assert bytes(upload.received) == video.read_bytes() and fake.posts == []  # a draft, not a post


def test_a_dropped_chunk_resumes_on_the_next_publish_with_exactly_one_post(
    fake: FakeTikTok, publish: Publish, video: Path
) -> None:
    fake.drop_next("upload:2", times=3)  # every attempt of the third chunk loses its connection
    publishing.gives_up(publish, "chunk 3/4")
    assert len(fake.uploads[next(iter(fake.uploads))].ranges) == 2

    outcome = publish()

    assert len(fake.calls("init")) == 1  # the same publish_id and upload URL
    (upload,) = fake.uploads.values()
    assert [first // CHUNK for first, _ in upload.ranges] == [0, 1, 2, 3]
    assert bytes(upload.received) == video.read_bytes()
    assert len(fake.posts) == 1 and outcome.post.remote_id == str(upload.post_id)


def test_an_expired_upload_url_starts_a_new_upload(fake: FakeTikTok, publish: Publish, video: Path) -> None:
    fake.fail_next("upload:1", 500, times=3)
    publishing.gives_up(publish, "chunk 2/4")
    fake.expire_upload_urls()

    publish()

    first, second = fake.uploads.values()
    assert len(fake.calls("init")) == 2 and not first.complete
    assert bytes(second.received) == video.read_bytes() and fake.posts == [second]


def test_a_failure_after_publish_complete_never_posts_again(
    fake: FakeTikTok, publish: Publish, monkeypatch: pytest.MonkeyPatch
) -> None:
    publishing.crash_before_the_ledger_write(monkeypatch, publish)
    requests_before = len(fake.calls("upload"))

    outcome = publish()

    assert len(fake.calls("init")) == 1 and len(fake.calls("upload")) == requests_before
    assert len(fake.posts) == 1 and outcome.post.remote_id == str(fake.posts[0].post_id)


def test_status_errors_after_the_upload_resume_polling_only(fake: FakeTikTok, publish: Publish) -> None:
    fake.fail_next("status", 500, times=3)
    publishing.gives_up(publish, "status fetch")

    outcome = publish()

    assert len(fake.calls("init")) == 1 and len(fake.calls("upload")) == 4
    assert outcome.post.status == "published" and len(fake.posts) == 1


def test_rate_limited_init_waits_for_retry_after_then_succeeds(fake: FakeTikTok, publish: Publish) -> None:
    fake.fail_next("init", 429, "rate_limit_exceeded", "Too many requests", headers={"Retry-After": "1"})
    clock = FakeClock()  # the engine waits on it: the test measures the wait without sleeping through it
    started = clock.now()
    outcome = publish(clock=clock)
    assert clock.now() - started >= 1.0
    assert len(fake.calls("init")) == 2 and outcome.post.status == "published" and len(fake.posts) == 1


@pytest.mark.parametrize(
    ("code", "advice"),
    [
        ("spam_risk_too_many_posts", "daily post cap"),
        ("privacy_level_option_mismatch", "change `privacy`"),
    ],
)
def test_permanent_errors_fail_at_once_with_tiktoks_code(
    fake: FakeTikTok, publish: Publish, code: str, advice: str
) -> None:
    fake.fail_next("init", 403, code, "TikTok refused the post.")
    with pytest.raises(ProviderError, match=code) as failure:
        publish()
    assert advice in str(failure.value) and TOKEN not in str(failure.value)
    assert len(fake.calls("init")) == 1 and not fake.calls("upload")


def test_a_failed_publish_reports_the_fail_reason_and_the_next_run_starts_over(
    fake: FakeTikTok, publish: Publish
) -> None:
    fake.fail_next_publish("duration_check_failed")
    with pytest.raises(ProviderError, match="duration_check_failed"):
        publish()

    outcome = publish()

    assert len(fake.calls("init")) == 2 and outcome.post.status == "published" and len(fake.posts) == 1


def test_dry_run_reads_creator_info_and_uploads_nothing(fake: FakeTikTok, tmp_path: Path, video: Path) -> None:
    pub = publisher(fake, tmp_path, dry_run=True)
    outcome = pub.publish(request(video))
    assert len(fake.calls("creator_info")) == 1
    assert not fake.calls("init") and not fake.calls("upload") and not fake.calls("status")
    assert (outcome.post.status, outcome.post.remote_id) == ("dry_run", "dry-run")
    assert pub.ledger().get(KEY, "tiktok") is None


def test_a_caption_over_2200_characters_is_rejected_before_any_call(
    fake: FakeTikTok, tmp_path: Path, video: Path
) -> None:
    long = request(video).model_copy(update={"caption": Caption(title="t", text="x" * 2201, hashtags=[])})
    with pytest.raises(InputRejected, match="2200"):
        publisher(fake, tmp_path).publish(long)
    assert fake.requests == []


def test_a_second_publish_of_the_same_partition_returns_already_published(fake: FakeTikTok, publish: Publish) -> None:
    first, second, sent = publishing.publish_twice(publish, fake.requests)
    assert second.already_published and second.post == first.post and sent == 0


def test_a_refresh_keeps_the_rotated_refresh_token_in_a_private_file(
    fake: FakeTikTok, publish: Publish, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TIKTOK_ACCESS_TOKEN")
    monkeypatch.setenv("TIKTOK_CLIENT_ID", fake.client_key)
    monkeypatch.setenv("TIKTOK_CLIENT_SECRET", fake.client_secret)
    monkeypatch.setenv("TIKTOK_REFRESH_TOKEN", fake.refresh_token)
    original_refresh = fake.refresh_token
    # The first API call refuses the token: the engine refreshes once more, which only works with the
    # refresh token the first refresh rotated in (the original one is dead by then).
    fake.fail_next("creator_info", 401, "access_token_invalid", "The access token is invalid or not found.")
    token_url = f"{fake.base_url}/v2/oauth/token/"

    outcome = publish(token_url=token_url)

    token_file = tmp_path / "tokens.json"
    stored = json.loads(token_file.read_text())["tiktok"]
    assert fake.refreshes == 2 and len(fake.calls("creator_info")) == 2
    assert stored["refresh_token"] == fake.refresh_token != original_refresh
    assert stored["access_token"] == fake.access_token
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert outcome.post.status == "published" and fake.access_token not in outcome.post.model_dump_json()


MB = 1_000_000
SIZES = [1, 3 * MIB, 5 * MB, 5 * MIB - 1, 5 * MIB, 20 * MIB, 64 * MB, 64 * MB + 1, 64 * MIB, 100 * MIB, 127 * MIB,
         128 * MIB + 7, 200 * MIB, 1000 * MIB + 3, 4 * 1024 * MIB]  # fmt: skip
PREFERRED = [1, 1 * MIB, 8 * MIB, 64 * MIB, 100 * MIB, 1024 * MIB]


@pytest.mark.parametrize("preferred", PREFERRED)
@pytest.mark.parametrize("size", SIZES)
def test_chunk_plan_keeps_every_rule_of_the_media_transfer_guide(size: int, preferred: int) -> None:
    """The guide's "Chunk restrictions", for any size and any configured chunk size (no file needed)."""
    plan = plan_chunks(size, preferred, ChunkLimits())
    chunks = plan.chunks()
    assert plan.count == size // plan.chunk_size == len(chunks)  # total_chunk_count = floor(size / chunk)
    assert chunks[0].first == 0 and chunks[-1].last == size - 1
    assert all(a.last + 1 == b.first for a, b in itertools.pairwise(chunks))  # in order, no gaps
    if size < 5 * MIB:
        assert (plan.chunk_size, plan.count) == (size, 1)  # under 5 MB: whole
    else:
        assert all(5 * MIB <= c.size <= 64 * MB for c in chunks[:-1])  # 5–64 MB under either reading of "MB"
        assert 5 * MIB <= chunks[-1].size <= 128 * MB and plan.chunk_size <= 64 * MB
    if size > 64 * MB:
        assert plan.count >= 2  # over 64 MB: several chunks, even with a huge chunk_size_bytes
    assert 1 <= plan.count <= 1000
    assert FakeTikTok()._chunk_error(size, plan.chunk_size, plan.count) == ""  # the fake accepts it too


def test_a_file_over_64_mb_goes_in_two_chunks_even_when_the_chunk_size_is_set_high() -> None:
    plan = plan_chunks(100 * MIB, 1024 * MIB, ChunkLimits())
    assert (plan.count, plan.chunk_size) == (2, 50 * MIB)
    assert plan_chunks(20 * MIB, 8 * MIB, ChunkLimits()).span(1) == (8 * MIB, 20 * MIB - 1)  # the last takes 12 MiB


@pytest.mark.parametrize(
    ("size", "chunk", "count", "problem"),
    [
        (100 * MIB, 60 * MB, 1, "multiple chunks"),  # floor() gives 1: one chunk of 100 MiB
        (100 * MIB, 70 * MB, 1, "chunk_size must be"),  # a chunk over 64 MB
        (20 * MIB, 4 * MIB, 5, "chunk_size must be"),  # a chunk under 5 MB
        (20 * MIB, 8 * MIB, 3, "floor"),  # total_chunk_count rounded up
        (3 * MIB, 1 * MIB, 3, "whole"),  # under 5 MB, split
    ],
)
def test_the_fake_refuses_a_plan_that_breaks_the_guide(size: int, chunk: int, count: int, problem: str) -> None:
    assert problem in FakeTikTok()._chunk_error(size, chunk, count)
