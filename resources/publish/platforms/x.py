"""X API v2: path-style chunked media upload (initialize, append, finalize), STATUS polling, then one post.

The checkpoint holds the media id and the segments X confirmed, so a re-execution appends only what is missing,
and the post id the moment `POST /2/tweets` answers, so a re-execution after that never posts again.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import httpx

from resources.errors import ConfigurationError, InputRejected, ProviderError, RetryableError
from resources.http.retry import RetrySettings, http_failure, with_retries
from resources.http.secrets import redact
from resources.publish.captions import CAPTION_LIMITS
from resources.publish.platforms.common import json_object, make_post
from resources.records import Post, PostStatus

if TYPE_CHECKING:
    from resources.publish.ledger import UploadCheckpoint
    from resources.publish.publisher import PostRequest, Publisher

log = logging.getLogger(__name__)

API_BASE = "https://api.x.com"
MIB = 1024 * 1024
# None = the shared retry defaults; tests shorten the backoff here (the Publisher has no retry setting).
RETRY: RetrySettings | None = None
# APPEND takes at most 5 MB per segment and segment_index 0–999; 4 MiB stays under 5 MB however MB is counted.
MAX_SEGMENT_BYTES = 4 * MIB
MAX_SEGMENTS = 1000
MAX_VIDEO_BYTES = 512 * MIB


class _TokenRejected(ConfigurationError):
    """HTTP 401: refresh once, then give up (not a RetryableError, so with_retries lets it out)."""


class _MediaGone(ProviderError):
    """An append or finalize for a saved media id was refused (expired, unknown): the upload starts over."""


def segment_size(total_bytes: int, preferred: int) -> int:
    """The APPEND segment size for `total_bytes`: `preferred` within X's per-segment and segment-count limits."""
    if total_bytes <= 0:
        raise InputRejected("x: the video is empty; render it again")
    if total_bytes > MAX_VIDEO_BYTES:
        raise InputRejected(f"x: the video has {total_bytes} bytes; X takes at most {MAX_VIDEO_BYTES}")
    return min(max(preferred, math.ceil(total_bytes / MAX_SEGMENTS)), MAX_SEGMENT_BYTES)


def retry_headers(headers: Mapping[str, str], now: float | None = None) -> dict[str, str]:
    """`headers` plus a Retry-After derived from X's `x-rate-limit-reset` (epoch seconds) when none is given."""
    lowered = {name.lower(): value for name, value in headers.items()}
    reset = lowered.get("x-rate-limit-reset", "")
    if "retry-after" not in lowered and reset.strip().isdigit():
        wait = max(0.0, float(reset) - (time.time() if now is None else now))
        lowered["retry-after"] = f"{math.ceil(wait)}"
    return lowered


class XEngine:
    """Posts a short to X: chunked media upload with the user's OAuth 2.0 token, then `POST /2/tweets`."""

    name = "x"

    def __init__(self, publisher: Publisher, checkpoint: UploadCheckpoint) -> None:
        self.publisher = publisher
        self.checkpoint = checkpoint
        self.base_url = (publisher.api_base_url or API_BASE).rstrip("/")
        self._tokens = publisher.tokens()
        self._token = ""
        self._refreshed = False
        # One engine serves one publish (the Publisher builds it per call); publish() closes the client.
        self._client = httpx.Client(timeout=httpx.Timeout(120.0, connect=15.0))

    def publish(self, request: PostRequest) -> Post:
        """Upload the video and post the caption with it; a dry run stops before the first upload call."""
        where = f"x[{request.partition_key}]"
        text = request.caption.text
        if not text.strip() or len(text) > CAPTION_LIMITS["x"]:
            raise InputRejected(f"{where}: the post text has {len(text)} characters; X takes 1–280")
        total = request.video_path.stat().st_size
        segment = segment_size(total, self.publisher.chunk_size_bytes)
        with self._client:
            self._token = self._tokens.get()
            if self.publisher.dry_run:
                return self._post(request, "dry_run", "dry-run")
            tweet_id = str(self.checkpoint.get("tweet_id") or "")
            if tweet_id:
                log.info("%s: X already answered post %s; not posting again", where, tweet_id)
            else:
                media_id = self._upload(request, total, segment)
                self._await_processing(media_id, where)
                tweet_id = self._tweet(text, media_id)
        return self._post(request, "published", tweet_id)

    def _upload(self, request: PostRequest, total: int, segment: int) -> str:
        """The finalized media id: the saved upload resumed when possible, else a new one."""
        checkpoint = self.checkpoint
        media_id = str(checkpoint.get("media_id") or "")
        if media_id and checkpoint.get("finalized"):
            return media_id
        fresh = checkpoint.get("expires_at", 0) > time.time() + 60
        if media_id and fresh and checkpoint.get("plan") == [total, segment]:
            try:
                self._append(request, media_id, total, segment, int(checkpoint.get("segments_done", 0)))
                return self._finalize(media_id)
            except _MediaGone as exc:
                log.warning("x[%s]: the saved media id was refused (%s); starting over", request.partition_key, exc)
        checkpoint.clear()
        body = {"media_type": "video/mp4", "total_bytes": total, "media_category": "amplify_video"}
        data = self._api("POST", "/2/media/upload/initialize", "media initialize", json=body)
        media_id = str(data.get("id") or "")
        if not media_id:
            raise ProviderError(f"X media initialize answered without an id: {sorted(data)}")
        checkpoint.set("plan", [total, segment])
        checkpoint.set("expires_at", time.time() + float(data.get("expires_after_secs") or 86400))
        checkpoint.set("media_id", media_id)
        self._append(request, media_id, total, segment, 0)
        return self._finalize(media_id)

    def _append(self, request: PostRequest, media_id: str, total: int, segment: int, start: int) -> None:
        """APPEND segments `start`.. in order; each confirmed segment is checkpointed before the next."""
        count = math.ceil(total / segment)
        with request.video_path.open("rb") as video:
            for index in range(start, count):
                video.seek(index * segment)
                chunk = video.read(segment)
                try:
                    self._api(
                        "POST",
                        f"/2/media/upload/{media_id}/append",
                        f"media append {index + 1}/{count}",
                        data={"segment_index": str(index)},
                        files={"media": ("segment", chunk, "application/octet-stream")},
                    )
                except ProviderError as exc:
                    raise _MediaGone(str(exc)) from None
                self.checkpoint.set("segments_done", index + 1)

    def _finalize(self, media_id: str) -> str:
        try:
            data = self._api("POST", f"/2/media/upload/{media_id}/finalize", "media finalize")
        except ProviderError as exc:
            raise _MediaGone(str(exc)) from None  # X will not finalize this media: a resume starts over
        self.checkpoint.set("finalized", True)
        self.checkpoint.set("processing", data.get("processing_info") is not None)
        return media_id

    def _await_processing(self, media_id: str, where: str) -> None:
        """Poll STATUS as X asks (check_after_secs, capped by poll_interval_s) until the video is ready."""
        if self.checkpoint.get("processing") is False:
            return  # FINALIZE gave no processing_info: the media is ready
        deadline = time.monotonic() + self.publisher.timeout_s
        while True:
            data = self._api(
                "GET", "/2/media/upload", "media status", params={"command": "STATUS", "media_id": media_id}
            )
            info = data.get("processing_info") or {}
            state = str(info.get("state", "succeeded"))
            if state == "succeeded":
                self.checkpoint.set("processing", False)
                return
            if state == "failed":
                self.checkpoint.clear()  # X will not take this media: a re-execution uploads again
                message = (info.get("error") or {}).get("message", "no reason given")
                raise ProviderError(f"{where}: X could not process the video: {message}")
            if time.monotonic() >= deadline:
                raise RetryableError(
                    f"{where}: X still processing after {self.publisher.timeout_s:.0f} s; "
                    "re-execute to keep waiting (the upload is not repeated)"
                )
            wait = float(info.get("check_after_secs") or self.publisher.poll_interval_s)
            time.sleep(min(wait, self.publisher.poll_interval_s))

    def _tweet(self, text: str, media_id: str) -> str:
        body = {"text": text, "media": {"media_ids": [media_id]}}
        data = self._api("POST", "/2/tweets", "post", json=body)
        tweet_id = str(data.get("id") or "")
        if not tweet_id:
            raise ProviderError(f"X answered the post without an id: {sorted(data)}")
        self.checkpoint.set("tweet_id", tweet_id)
        return tweet_id

    def _api(self, method: str, path: str, what: str, **kwargs: Any) -> dict[str, Any]:
        """One API call with retries; a 401 refreshes the token once."""
        call = functools.partial(self._call, method, path, what, **kwargs)
        try:
            return with_retries(call, what=f"X {what}", settings=RETRY)
        except _TokenRejected:
            if self._refreshed:
                raise ConfigurationError(
                    "x: the access token was refused even after a refresh; run `python -m pipeline_assets auth x`"
                ) from None
            self._refreshed = True
            self._token = self._tokens.get(force_refresh=True)
            return with_retries(call, what=f"X {what}", settings=RETRY)

    def _call(self, method: str, path: str, what: str, **kwargs: Any) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self._token}"}
        try:
            response = self._client.request(method, self.base_url + path, headers=headers, **kwargs)
        except httpx.TransportError as exc:
            raise RetryableError(f"X {what}: {type(exc).__name__}") from None
        payload = json_object(response)
        if response.status_code < 400:
            data = payload.get("data")
            return dict(data) if isinstance(data, dict) else {}
        if response.status_code == 401:
            raise _TokenRejected("x: 401 Unauthorized")
        message = redact(_error_message(payload, response), self._token)
        if response.status_code == 403 and "duplicate" in message.lower():
            raise ProviderError(
                f"X {what}: X says this text was already posted ({message}); check the account before re-posting"
            )
        raise http_failure(f"X {what}", response.status_code, message, retry_headers(response.headers))

    def _post(self, request: PostRequest, status: PostStatus, remote_id: str) -> Post:
        url = f"https://x.com/i/web/status/{remote_id}" if status == "published" else ""
        return make_post(request, status, remote_id, url)


def _error_message(payload: Mapping[str, Any], response: httpx.Response) -> str:
    """X's problem details (`detail`/`title`) or v1-style `errors[].message`, else the raw text."""
    if payload.get("detail") or payload.get("title"):
        return str(payload.get("detail") or payload.get("title"))
    errors = payload.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return str(errors[0].get("message") or errors[0])
    return response.text[:200]
