"""What the publisher tests share: API publishers aimed at a fake, one run of a post asset, common scenarios.

Publishers here retry as in production (three attempts) but without the seconds of backoff: the retry
settings are Publisher fields, so the tests pass them instead of patching module constants.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sized
from pathlib import Path
from typing import Protocol

import pytest

from resources.errors import RetryableError
from resources.http.deadline import SYSTEM_CLOCK, Clock
from resources.publish import Publisher
from resources.publish.captions import Caption
from resources.publish.ledger import PublishLedger
from resources.publish.publisher import PostRequest, PublishOutcome
from resources.records import Post

KIB = 1024
MIB = 1024 * KIB
VIDEO_SIZE = 2 * MIB + 12_345  # the `video` fixture's size: not a multiple of any chunk size
KEY = "tiktok-7301234567890123456"
CAPTION = Caption(
    title="Freeze herbs in olive oil",
    text="Freeze chopped herbs in olive oil. Narration and presenter are AI-generated.\n\n#cooking #kitchenhacks",
    hashtags=["cooking", "kitchenhacks"],
)
ENGINE_ATTEMPTS = 3  # attempts per API call in these tests
FAST_RETRIES: dict[str, object] = {
    "retry_attempts": ENGINE_ATTEMPTS,
    "retry_base_delay_s": 0.0,
    "retry_max_delay_s": 0.0,
}


class Publish(Protocol):
    """One run of a post asset: a fresh Publisher (`fields` override its settings) publishing the short."""

    def __call__(self, *, clock: Clock = SYSTEM_CLOCK, **fields: object) -> PublishOutcome: ...


def api_publisher(platform: str, tmp_path: Path, **fields: object) -> Publisher:
    """The `platform` API publisher with a ledger in `tmp_path`, polling every 10 ms, retrying at once."""
    settings: dict[str, object] = {
        "platform": platform,
        "provider": "api",
        "ledger_path": str(tmp_path / "ledger.sqlite3"),
        "poll_interval_s": 0.01,
        **FAST_RETRIES,
    }
    return Publisher(**(settings | fields))  # type: ignore[arg-type]


def runs_of(make: Callable[..., Publisher], request: PostRequest) -> Publish:
    """`Publish` with publishers from `make(**fields)`."""

    def publish(*, clock: Clock = SYSTEM_CLOCK, **fields: object) -> PublishOutcome:
        return make(**fields).publish(request, clock=clock)

    return publish


def post_request(platform: str, video: Path, caption: Caption = CAPTION, key: str = KEY) -> PostRequest:
    return PostRequest(
        platform=platform, partition_key=key, video_path=video, media_uri=video.as_uri(), caption=caption
    )


def random_video(tmp_path: Path, size: int, seed: int = 0) -> Path:
    """`size` random bytes named short.mp4 (the fakes do not decode video)."""
    path = tmp_path / "short.mp4"
    path.write_bytes(random.Random(seed).randbytes(size))
    return path


def use_token(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, platform: str, token: str) -> None:
    """`platform` publishes with this fixed access token; any refreshed one goes to a token file in `tmp_path`."""
    monkeypatch.setenv(f"{platform.upper()}_ACCESS_TOKEN", token)
    monkeypatch.setenv("SHORTS_TOKEN_FILE", str(tmp_path / "tokens.json"))


def fail_ledger_record_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ledger write after the platform answered fails once, as a database outage (or a dead worker) would."""
    original = PublishLedger.record
    failed: list[Post] = []

    def record(self: PublishLedger, post: Post) -> Post:
        if not failed:
            failed.append(post)
            raise RuntimeError("ledger database unavailable")
        return original(self, post)

    monkeypatch.setattr(PublishLedger, "record", record)


def crash_before_the_ledger_write(monkeypatch: pytest.MonkeyPatch, publish: Publish) -> None:
    """A first run that the platform answered but that died before its ledger write."""
    fail_ledger_record_once(monkeypatch)
    with pytest.raises(RuntimeError, match="ledger database unavailable"):
        publish()


def gives_up(publish: Publish, step: str) -> None:
    """A run whose engine gives up on `step` after all its attempts (what it finished stays checkpointed)."""
    with pytest.raises(RetryableError, match=rf"{re.escape(step)}: gave up after {ENGINE_ATTEMPTS} attempts"):
        publish()


def publish_twice(publish: Publish, requests: Sized) -> tuple[PublishOutcome, PublishOutcome, int]:
    """Two runs for the same partition: both outcomes, and how many requests the second one sent."""
    first = publish()
    before = len(requests)
    second = publish()
    return first, second, len(requests) - before
