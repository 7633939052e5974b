"""What several platform engines check and return: the account, the media, the Post record."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from resources.errors import ConfigurationError, InputRejected
from resources.publish.captions import CAPTION_LIMITS
from resources.publish.publisher import PostRequest
from resources.records import Post


def require_account(account: str, setting: str, where: str) -> str:
    """The configured account, stripped; ConfigurationError naming `setting` when it is empty."""
    account = account.strip()
    if not account:
        raise ConfigurationError(
            f"{where}: {setting} is not set; set it to the account to publish to or use provider=outbox"
        )
    return account


def validate_media(request: PostRequest) -> int:
    """The video's size in bytes; InputRejected for a missing/empty file or an over-long caption."""
    path = Path(request.video_path)
    if not path.is_file() or path.stat().st_size == 0:
        raise InputRejected(f"{request.where}: the video {path} is missing or empty")
    limit = CAPTION_LIMITS.get(request.platform, 2200)
    if len(request.caption.text) > limit:
        raise InputRejected(
            f"{request.where}: the caption has {len(request.caption.text)} characters; the limit is {limit}"
        )
    return path.stat().st_size


def dry_run_post(request: PostRequest) -> Post:
    return request.post("dry_run", "dry-run")


def published_post(request: PostRequest, remote_id: str, url: str, posted_at: str) -> Post:
    return request.post("published", remote_id, url, posted_at=datetime.fromisoformat(posted_at))


def json_object(response: httpx.Response) -> dict[str, Any]:
    """The response's JSON object, or {} when the body is not one (an HTML error page, empty body)."""
    try:
        payload = response.json()
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}
