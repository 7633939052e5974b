"""TikTok Content Posting API: creator info, direct post (or inbox draft), sequential chunk PUTs, status polling.

Resume state lives in the upload checkpoint the moment TikTok hands it out (publish id, upload URL, plan, chunks
confirmed), so a re-execution continues the same upload instead of starting a second post. The upload URL is
pre-signed: the bearer token is sent to the API host only. PULL_FROM_URL is not used (it needs a verified domain);
the file is always pushed with FILE_UPLOAD.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import httpx

from resources.errors import ConfigurationError, InputRejected, ProviderError, RetryableError
from resources.http.retry import RetrySettings, http_failure, with_retries
from resources.http.secrets import redact
from resources.media.probe import probe
from resources.publish.captions import CAPTION_LIMITS
from resources.publish.platforms.common import json_object, make_post
from resources.records import Post, PostStatus

if TYPE_CHECKING:
    from resources.publish.ledger import UploadCheckpoint
    from resources.publish.publisher import PostRequest, Publisher

log = logging.getLogger(__name__)

API_BASE = "https://open.tiktokapis.com"
MIB = 1024 * 1024
# None = the shared retry defaults; tests shorten the backoff here (the Publisher has no retry setting).
RETRY: RetrySettings | None = None
# After PUBLISH_COMPLETE the public post id only appears once moderation ends (usually < 1 min); wait this long
# for it, then record the publish id instead of holding the run for hours.
POST_ID_WAIT_S = 60.0

# Never more public than asked: each setting lists the allowed levels from widest to narrowest.
PRIVACY_LEVELS: dict[str, tuple[str, ...]] = {
    "public": ("PUBLIC_TO_EVERYONE", "FOLLOWER_OF_CREATOR", "MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY"),
    "unlisted": ("MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY"),
    "private": ("SELF_ONLY",),
}
# Error codes no retry can fix, with what to do about them.
PERMANENT_ERRORS: dict[str, str] = {
    "spam_risk_too_many_posts": "TikTok's daily post cap for this account is reached; publish this partition tomorrow",
    "spam_risk_too_many_pending_share": "too many drafts wait in the creator's TikTok inbox; post or delete them",
    "privacy_level_option_mismatch": "the privacy level is not one this creator allows; change `privacy`",
    "scope_not_authorized": "the token lacks video.publish/video.upload; run `python -m pipeline_assets auth tiktok`",
    "reached_active_user_cap": "the app's daily quota of active publishing users is reached; try tomorrow",
    "spam_risk_user_banned_from_posting": "TikTok has banned this account from posting",
    "spam_risk_text": "TikTok flagged the caption as spam; edit the caption",
}
FAIL_REASONS: dict[str, str] = {
    "file_format_check_failed": "TikTok could not read the file as a video",
    "duration_check_failed": "the video is longer than this creator may post",
    "frame_rate_check_failed": "the frame rate is outside TikTok's limits",
    "picture_size_check_failed": "the resolution is outside TikTok's limits",
    "auth_removed": "the creator removed the app's access; run `python -m pipeline_assets auth tiktok`",
    "privacy_level_not_authorized": "this privacy level is not allowed for the app (unaudited apps: SELF_ONLY)",
    "publish_cancelled": "the publish was cancelled",
}


@dataclass(frozen=True)
class ChunkLimits:
    """TikTok's chunk rules (media transfer guide): 5–64 MB chunks, at most 1000, files under 5 MB in one chunk."""

    min_bytes: int = 5 * MIB
    max_bytes: int = 64 * MIB
    max_count: int = 1000


# Module-level so tests can shrink it together with the fake's limits and split a small file into several chunks.
CHUNK_LIMITS = ChunkLimits()


@dataclass(frozen=True)
class ChunkPlan:
    """How a file is cut: `count` chunks of `chunk_size`, the last one absorbing the remainder."""

    video_size: int
    chunk_size: int
    count: int

    def span(self, index: int) -> tuple[int, int]:
        """(first, last) byte of chunk `index`, inclusive, as Content-Range counts them."""
        first = index * self.chunk_size
        last = self.video_size - 1 if index == self.count - 1 else first + self.chunk_size - 1
        return first, last


def plan_chunks(video_size: int, preferred: int, limits: ChunkLimits | None = None) -> ChunkPlan:
    """The chunk plan TikTok accepts for `video_size`, as close to `preferred` chunks as its rules allow."""
    limits = limits or CHUNK_LIMITS
    if video_size <= 0:
        raise InputRejected("tiktok: the video is empty; render it again")
    if video_size < limits.min_bytes:
        return ChunkPlan(video_size, video_size, 1)
    chunk = max(preferred, limits.min_bytes, math.ceil(video_size / limits.max_count))
    chunk = min(chunk, limits.max_bytes, video_size)
    # floor division: the last chunk takes the remainder (it may exceed chunk_size, up to twice it).
    count = video_size // chunk
    if count > limits.max_count:
        raise InputRejected(f"tiktok: {video_size} bytes need more than {limits.max_count} chunks; shorten the video")
    return ChunkPlan(video_size, chunk, count)


def privacy_level(privacy: str, options: list[str]) -> str:
    """The widest level the creator allows that is no more public than `privacy`."""
    for level in PRIVACY_LEVELS[privacy]:
        if level in options:
            return level
    raise ConfigurationError(
        f"tiktok: privacy={privacy} maps to none of the creator's allowed levels {options}; choose another privacy"
    )


class _TokenRejected(ConfigurationError):
    """`access_token_invalid`: refresh once, then give up (not a RetryableError, so with_retries lets it out)."""


class _UploadUrlRejected(ProviderError):
    """The upload URL answered 4xx (expired or out of step): the upload starts over with a new init."""


class TikTokEngine:
    """Posts a short through TikTok's Content Posting API (FILE_UPLOAD, direct post or inbox draft)."""

    name = "tiktok"

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
        """Upload and post `request`; returns the published Post, or a dry-run Post without uploading."""
        where = f"tiktok[{request.partition_key}]"
        text = request.caption.text
        if len(text) > CAPTION_LIMITS["tiktok"]:
            raise InputRejected(f"{where}: the caption has {len(text)} characters; TikTok allows 2200")
        plan = plan_chunks(request.video_path.stat().st_size, self.publisher.chunk_size_bytes)
        with self._client:
            self._token = self._tokens.get()
            creator: dict[str, Any] = {}
            post_info: dict[str, Any] = {}
            if self.publisher.mode == "direct":
                creator = self._api("/v2/post/publish/creator_info/query/", None, "creator info")
                post_info = self._post_info(request, creator, where)
            if self.publisher.dry_run:
                return self._post(request, "dry_run", "dry-run", "")
            publish_id = self._upload(request, plan, post_info)
            status, post_id = self._await_outcome(publish_id, where)
        username = str(creator.get("creator_username") or "")
        if status == "SEND_TO_USER_INBOX":
            return self._post(request, "published", publish_id, "")  # a draft: the creator posts it in the app
        url = f"https://www.tiktok.com/@{username}/video/{post_id}" if post_id and username else ""
        return self._post(request, "published", post_id or publish_id, url)

    def _post_info(self, request: PostRequest, creator: Mapping[str, Any], where: str) -> dict[str, Any]:
        """The direct-post `post_info`: caption, a privacy level the creator allows, the AI label."""
        options = [str(option) for option in creator.get("privacy_level_options") or []]
        level = privacy_level(self.publisher.privacy, options)
        if level != PRIVACY_LEVELS[self.publisher.privacy][0]:
            log.warning(
                "%s: privacy=%s is not allowed for this creator; posting as %s", where, self.publisher.privacy, level
            )
        max_s = float(creator.get("max_video_post_duration_sec") or 0)
        duration = self._duration_s(request)
        if max_s and duration is not None and duration > max_s:
            raise InputRejected(
                f"{where}: the video lasts {duration:.0f} s; this creator may post at most {max_s:.0f} s"
            )
        return {
            "title": request.caption.text,
            "privacy_level": level,
            # The creator's own settings win: a disabled interaction must stay disabled.
            "disable_comment": bool(creator.get("comment_disabled", False)),
            "disable_duet": bool(creator.get("duet_disabled", False)),
            "disable_stitch": bool(creator.get("stitch_disabled", False)),
            "brand_content_toggle": False,
            "brand_organic_toggle": False,
            "is_aigc": request.contains_synthetic_media,
        }

    @staticmethod
    def _duration_s(request: PostRequest) -> float | None:
        # The render stage already probed the short; a file that cannot be probed here is left for TikTok to
        # judge (it fails with file_format_check_failed), so only the duration limit is checked early.
        try:
            return probe(request.video_path).duration_s
        except InputRejected:
            return None

    def _upload(self, request: PostRequest, plan: ChunkPlan, post_info: dict[str, Any]) -> str:
        """The publish id whose bytes are all in: resumed from the checkpoint when possible, else a new init."""
        checkpoint = self.checkpoint
        publish_id = str(checkpoint.get("publish_id") or "")
        if publish_id and checkpoint.get("uploaded"):
            return publish_id  # already posted (or posting): never init again
        if publish_id and checkpoint.get("plan") == asdict(plan) and checkpoint.get("mode") == self.publisher.mode:
            try:
                self._send_chunks(
                    request, plan, str(checkpoint.get("upload_url")), int(checkpoint.get("chunks_done", 0))
                )
            except _UploadUrlRejected as exc:
                log.warning(
                    "tiktok[%s]: the saved upload URL was refused (%s); starting over", request.partition_key, exc
                )
            else:
                checkpoint.set("uploaded", True)
                return publish_id
        checkpoint.clear()
        publish_id, upload_url = self._init(plan, post_info)
        checkpoint.set("mode", self.publisher.mode)
        checkpoint.set("plan", asdict(plan))
        checkpoint.set("upload_url", upload_url)
        checkpoint.set("publish_id", publish_id)
        self._send_chunks(request, plan, upload_url, 0)
        checkpoint.set("uploaded", True)
        return publish_id

    def _init(self, plan: ChunkPlan, post_info: dict[str, Any]) -> tuple[str, str]:
        source = {
            "source": "FILE_UPLOAD",
            "video_size": plan.video_size,
            "chunk_size": plan.chunk_size,
            "total_chunk_count": plan.count,
        }
        if self.publisher.mode == "inbox":
            data = self._api("/v2/post/publish/inbox/video/init/", {"source_info": source}, "inbox init")
        else:
            data = self._api("/v2/post/publish/video/init/", {"post_info": post_info, "source_info": source}, "init")
        if not data.get("publish_id") or not data.get("upload_url"):
            raise ProviderError(f"TikTok init answered without publish_id/upload_url: {sorted(data)}")
        return str(data["publish_id"]), str(data["upload_url"])

    def _send_chunks(self, request: PostRequest, plan: ChunkPlan, upload_url: str, start: int) -> None:
        """PUT chunks `start`.. in order; each confirmed chunk is checkpointed before the next is sent."""
        with request.video_path.open("rb") as video:
            for index in range(start, plan.count):
                first, last = plan.span(index)
                video.seek(first)
                chunk = video.read(last - first + 1)
                headers = {"Content-Type": "video/mp4", "Content-Range": f"bytes {first}-{last}/{plan.video_size}"}
                with_retries(
                    functools.partial(self._put_chunk, upload_url, chunk, headers),
                    what=f"TikTok chunk {index + 1}/{plan.count}",
                    settings=RETRY,
                )
                self.checkpoint.set("chunks_done", index + 1)

    def _put_chunk(self, upload_url: str, chunk: bytes, headers: dict[str, str]) -> None:
        try:
            response = self._client.put(upload_url, content=chunk, headers=headers)
        except httpx.TransportError as exc:
            raise RetryableError(f"TikTok upload: {type(exc).__name__}") from None
        if response.status_code in (200, 201, 206):
            return
        message = _error_detail(response)
        if 400 <= response.status_code < 500 and response.status_code not in (408, 429):
            raise _UploadUrlRejected(f"TikTok upload answered HTTP {response.status_code}: {message}")
        raise http_failure("TikTok upload", response.status_code, message, response.headers)

    def _await_outcome(self, publish_id: str, where: str) -> tuple[str, str]:
        """Poll the status until TikTok posts (status, public post id or "") or fails."""
        deadline = time.monotonic() + self.publisher.timeout_s
        complete_since: float | None = None
        while True:
            data = self._api("/v2/post/publish/status/fetch/", {"publish_id": publish_id}, "status fetch")
            status = str(data.get("status", ""))
            if status == "FAILED":
                self.checkpoint.clear()  # nothing was posted: a re-execution starts a new upload
                reason = str(data.get("fail_reason") or "unknown")
                raise ProviderError(f"{where}: TikTok failed the post ({reason}): {FAIL_REASONS.get(reason, reason)}")
            if status == "SEND_TO_USER_INBOX":
                return status, ""
            if status == "PUBLISH_COMPLETE":
                if self.checkpoint.get("status") != status:
                    self.checkpoint.set("status", status)
                ids = data.get("publicaly_available_post_id") or []  # sic: TikTok's spelling
                if ids:
                    return status, str(ids[0])
                complete_since = complete_since or time.monotonic()
                if time.monotonic() - complete_since >= POST_ID_WAIT_S or time.monotonic() >= deadline:
                    return status, ""
            elif time.monotonic() >= deadline:
                raise RetryableError(
                    f"{where}: still {status or 'processing'} after {self.publisher.timeout_s:.0f} s; "
                    "re-execute to keep waiting (the upload is not repeated)"
                )
            time.sleep(self.publisher.poll_interval_s)

    def _api(self, path: str, body: dict[str, Any] | None, what: str) -> dict[str, Any]:
        """POST JSON to the API with retries; `access_token_invalid` refreshes the token once."""

        def call() -> dict[str, Any]:
            return self._call(path, body, what)

        try:
            return with_retries(call, what=f"TikTok {what}", settings=RETRY)
        except _TokenRejected:
            if self._refreshed:
                raise ConfigurationError(
                    "tiktok: the access token was refused even after a refresh; "
                    "run `python -m pipeline_assets auth tiktok`"
                ) from None
            self._refreshed = True
            self._token = self._tokens.get(force_refresh=True)
            return with_retries(call, what=f"TikTok {what}", settings=RETRY)

    def _call(self, path: str, body: dict[str, Any] | None, what: str) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self._token}", "Content-Type": "application/json; charset=UTF-8"}
        content = json.dumps(body).encode() if body is not None else b""
        try:
            response = self._client.post(self.base_url + path, content=content, headers=headers)
        except httpx.TransportError as exc:
            raise RetryableError(f"TikTok {what}: {type(exc).__name__}") from None
        payload = json_object(response)
        error = payload.get("error")
        if not isinstance(error, dict):
            error = {}
        code = str(error.get("code") or "")
        if response.status_code < 400 and code in ("", "ok"):
            data = payload.get("data")
            return dict(data) if isinstance(data, dict) else {}
        if code == "access_token_invalid":
            raise _TokenRejected("tiktok: access_token_invalid")
        detail = f"{code}: {error.get('message', '')} (log_id {error.get('log_id', '-')})" if code else response.text
        detail = redact(detail[:300], self._token)
        if code in PERMANENT_ERRORS:
            raise ProviderError(f"tiktok {what}: {PERMANENT_ERRORS[code]} ({detail})")
        # A refusal inside a 200 is still a refusal; rate_limit_exceeded is retryable whatever the status says.
        status = 429 if code == "rate_limit_exceeded" else max(response.status_code, 400)
        raise http_failure(f"TikTok {what}", status, detail, response.headers)

    def _post(self, request: PostRequest, status: PostStatus, remote_id: str, url: str) -> Post:
        return make_post(request, status, remote_id, url)


def _error_detail(response: httpx.Response) -> str:
    error = json_object(response).get("error")
    if isinstance(error, dict):
        return f"{error.get('code', '')}: {error.get('message', '')}"
    return response.text[:200]
