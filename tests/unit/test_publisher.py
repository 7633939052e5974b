"""The local outbox publisher and the ledger that makes publishing idempotent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from resources.http.retry import RetrySettings
from resources.publish import Publisher
from resources.publish.captions import AI_DISCLOSURE, CAPTION_LIMITS, Caption, compose_caption
from resources.publish.platforms.client import byte_ranges
from resources.publish.platforms.tiktok import TikTokEngine
from resources.publish.publisher import PostRequest
from resources.records import Script


@pytest.fixture
def script_record() -> Script:
    return Script(
        title="Stop killing your houseplants: the watering rule",
        hook="Your plants are drowning.",
        body=["Water only when the top soil is dry.", "Bright light, no harsh sun."],
        call_to_action="Follow for more plant tips.",
        description="Most houseplants die from too much water. Here is the simple rule that fixes it.",
        hashtags=["houseplants", "planttips", "shorts"],
        provider="local",
    )


def _request(tmp_path: Path, platform: str = "youtube", key: str = "file-abc") -> PostRequest:
    video = tmp_path / "short.mp4"
    video.write_bytes(b"fake mp4 bytes")
    return PostRequest(
        platform=platform,
        partition_key=key,
        video_path=video,
        media_uri=video.as_uri(),
        caption=Caption(title="T", text="caption #shorts", hashtags=["shorts"]),
    )


def _publisher(tmp_path: Path, **kwargs: object) -> Publisher:
    return Publisher(
        platform="youtube",
        outbox_dir=str(tmp_path / "outbox"),
        ledger_path=str(tmp_path / "ledger.sqlite3"),
        **kwargs,  # type: ignore[arg-type]
    )


def test_outbox_writes_the_video_and_a_manifest_with_disclosure(tmp_path: Path) -> None:
    outcome = _publisher(tmp_path).publish(_request(tmp_path))
    folder = tmp_path / "outbox" / "youtube" / "file-abc"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert (folder / "short.mp4").read_bytes() == b"fake mp4 bytes"
    assert manifest["disclosure"]["contains_synthetic_media"] is True
    assert manifest["title"] == "T" and manifest["remote_id"] == outcome.post.remote_id
    assert outcome.post.status == "outbox" and not outcome.already_published


def test_second_publish_of_the_same_partition_posts_nothing(tmp_path: Path) -> None:
    publisher = _publisher(tmp_path)
    first = publisher.publish(_request(tmp_path))
    manifest = tmp_path / "outbox" / "youtube" / "file-abc" / "manifest.json"
    manifest.unlink()
    second = publisher.publish(_request(tmp_path))
    assert second.already_published and second.post == first.post
    assert not manifest.exists()  # nothing was written again


def test_dry_run_writes_nothing_and_records_nothing(tmp_path: Path) -> None:
    outcome = _publisher(tmp_path, dry_run=True).publish(_request(tmp_path))
    assert outcome.post.status == "dry_run"
    assert not (tmp_path / "outbox").exists()
    assert _publisher(tmp_path).ledger().get("file-abc", "youtube") is None


def test_ledger_is_per_platform(tmp_path: Path) -> None:
    _publisher(tmp_path).publish(_request(tmp_path, "youtube"))
    other = Publisher(
        platform="x", outbox_dir=str(tmp_path / "outbox"), ledger_path=str(tmp_path / "ledger.sqlite3")
    ).publish(_request(tmp_path, "x"))
    assert not other.already_published


def test_unsafe_partition_key_never_reaches_the_filesystem(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="unsafe partition key"):
        _publisher(tmp_path).publish(_request(tmp_path, key="../../etc"))
    assert not (tmp_path / "etc").exists()


def test_x_caption_fits_280_characters_and_keeps_disclosure(script_record: Script) -> None:
    long = script_record.model_copy(update={"title": "word " * 100})
    caption = compose_caption("x", long)
    assert len(caption.text) <= CAPTION_LIMITS["x"]
    assert AI_DISCLOSURE in caption.text and "#shorts" in caption.text


def test_caption_credits_the_source_creator(script_record: Script) -> None:
    caption = compose_caption("tiktok", script_record, credit="@plantlady")
    assert "Inspired by @plantlady." in caption.text
    assert caption.text.endswith("#houseplants #planttips #shorts")


def test_youtube_title_is_at_most_100_characters(script_record: Script) -> None:
    long = script_record.model_copy(update={"title": "x" * 150})
    assert len(compose_caption("youtube", long).title) <= 100


def test_byte_ranges_cover_the_file_once_and_the_last_takes_the_rest() -> None:
    assert [(c.first, c.last) for c in byte_ranges(10, 4)] == [(0, 3), (4, 7), (8, 9)]
    assert [(c.first, c.last) for c in byte_ranges(10, 4, count=2)] == [(0, 3), (4, 9)]  # TikTok's floor division
    assert [(c.index, c.first, c.size) for c in byte_ranges(10, 4, start=5)] == [(0, 5, 4), (1, 9, 1)]
    assert byte_ranges(10, 4, start=10) == []


def test_an_api_engine_gets_the_publishers_settings_and_only_its_own_options(tmp_path: Path) -> None:
    publisher = Publisher(
        platform="tiktok", provider="api", ledger_path=str(tmp_path / "ledger.sqlite3"), privacy="private",
        mode="inbox", retry_base_delay_s=0.0, timeout_s=60.0,
    )  # fmt: skip
    engine = publisher.engine(publisher.ledger().checkpoint("file-abc", "tiktok"))
    assert isinstance(engine, TikTokEngine) and (engine.privacy, engine.mode) == ("private", "inbox")
    assert (engine.settings.platform, engine.settings.timeout_s, engine.settings.dry_run) == ("tiktok", 60.0, False)
    assert engine.settings.retry == RetrySettings(attempts=4, base_delay_s=0.0, max_delay_s=30.0)
    assert publisher.engine_settings(attempts=5).retry.attempts == 5  # the platform's default (YouTube)
    assert publisher.model_copy(update={"retry_attempts": 2}).engine_settings(attempts=5).retry.attempts == 2
