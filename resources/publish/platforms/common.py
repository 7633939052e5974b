"""What several platform publishers share: account and media checks, waiting, and the Post they return."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from resources.errors import ConfigurationError, InputRejected, RetryableError
from resources.publish.captions import CAPTION_LIMITS
from resources.publish.publisher import PostRequest, Publisher
from resources.records import Post, PostStatus


def require_account(publisher: Publisher, setting: str, where: str) -> str:
    account = publisher.account_id.strip()
    if not account:
        raise ConfigurationError(
            f"{where}: {setting} is not set; set it to the account to publish to or use provider=outbox"
        )
    return account


def validate_media(request: PostRequest, where: str, platform: str) -> int:
    """The video's size in bytes; InputRejected for a missing/empty file or an over-long caption."""
    path = Path(request.video_path)
    if not path.is_file() or path.stat().st_size == 0:
        raise InputRejected(f"{where}: the video {path} is missing or empty")
    limit = CAPTION_LIMITS.get(platform, 2200)
    if len(request.caption.text) > limit:
        raise InputRejected(f"{where}: the caption has {len(request.caption.text)} characters; the limit is {limit}")
    return path.stat().st_size


def wait_for(check: Callable[[], bool], *, where: str, doing: str, interval_s: float, timeout_s: float) -> None:
    """Call `check` until it returns True; RetryableError after `timeout_s` (the checkpoint keeps the work)."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() + interval_s > deadline:
            raise RetryableError(f"{where}: still {doing} after {timeout_s:.0f} s; re-execute to keep waiting")
        time.sleep(interval_s)


def make_post(
    request: PostRequest, status: PostStatus, remote_id: str, url: str = "", posted_at: datetime | None = None
) -> Post:
    """The Post record every platform returns for `request`."""
    return Post(
        platform=request.platform,
        partition_key=request.partition_key,
        status=status,
        remote_id=remote_id,
        url=url,
        provider=request.platform,
        title=request.caption.title,
        caption=request.caption.text,
        posted_at=posted_at or datetime.now(UTC),
        media_uri=request.media_uri,
    )


def dry_run_post(request: PostRequest) -> Post:
    return make_post(request, "dry_run", "dry-run")


def published_post(request: PostRequest, remote_id: str, url: str, posted_at: str) -> Post:
    return make_post(request, "published", remote_id, url, datetime.fromisoformat(posted_at))


def json_object(response: httpx.Response) -> dict[str, Any]:
    """The response's JSON object, or {} when the body is not one (an HTML error page, empty body)."""
    try:
        payload = response.json()
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}
