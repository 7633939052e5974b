"""TikTok Content Posting API: creator info, direct post (or inbox draft), sequential chunk PUTs, status polling.

Resume state lives in the upload checkpoint the moment TikTok hands it out (publish id, upload URL, plan, chunks
confirmed), so a re-execution continues the same upload instead of starting a second post. The upload URL is
pre-signed: the bearer token is sent to the API host only. PULL_FROM_URL is not used (it needs a verified domain);
the file is always pushed with FILE_UPLOAD.

`metrics` reads a post's counts back with the Display API's Query Videos (`video.list` scope).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from dataclasses import KW_ONLY, asdict, dataclass
from typing import Any

import httpx

from resources.errors import ConfigurationError, InputRejected, MetricsUnavailable, ProviderError, RetryableError
from resources.http.deadline import Pending
from resources.media.probe import probe
from resources.publish.captions import CAPTION_LIMITS
from resources.publish.oauth import auth_command
from resources.publish.platforms import client as base
from resources.publish.platforms.common import dry_run_post, json_object
from resources.publish.publisher import PostRequest
from resources.records import Post

log = logging.getLogger(__name__)

API_BASE = "https://open.tiktokapis.com"
MIB = 1024 * 1024
# The status fetch reference: https://developers.tiktok.com/doc/content-posting-api-reference-get-video-status
STATUS_PATH = "/v2/post/publish/status/fetch/"
# Query Videos (https://developers.tiktok.com/doc/tiktok-api-v2-video-query): POST, scope video.list, `fields` in the
# query string, body {"filters": {"video_ids": [...]}}; it answers only the videos that belong to the token's user.
VIDEO_QUERY_PATH = "/v2/video/query/"
VIDEO_METRICS = {"view_count": "views", "like_count": "likes", "comment_count": "comments", "share_count": "shares"}

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
    "scope_not_authorized": "the token lacks video.publish/video.upload; run `shorts auth tiktok`",
    "reached_active_user_cap": "the app's daily quota of active publishing users is reached; try tomorrow",
    "spam_risk_user_banned_from_posting": "TikTok has banned this account from posting",
    "spam_risk_text": "TikTok flagged the caption as spam; edit the caption",
}
FAIL_REASONS: dict[str, str] = {
    "file_format_check_failed": "TikTok could not read the file as a video",
    "duration_check_failed": "the video is longer than this creator may post",
    "frame_rate_check_failed": "the frame rate is outside TikTok's limits",
    "picture_size_check_failed": "the resolution is outside TikTok's limits",
    "auth_removed": "the creator removed the app's access; run `shorts auth tiktok`",
    "privacy_level_not_authorized": "this privacy level is not allowed for the app (unaudited apps: SELF_ONLY)",
    "publish_cancelled": "the publish was cancelled",
}


@dataclass(frozen=True)
class ChunkLimits:
    """TikTok's chunk rules, from the media transfer guide's "base.Chunk restrictions"
    (https://developers.tiktok.com/doc/content-posting-api-media-transfer-guide):

    - total_chunk_count = video_size / chunk_size rounded down;
    - each chunk 5 MB–64 MB, except the final one, which may exceed chunk_size (up to 128 MB) for the trailing bytes;
    - a video under 5 MB goes whole (chunk_size = video_size); one over 64 MB in several chunks;
    - 1 to 1000 chunks, sent in order.

    The page does not say whether MB is 10^6 or 2^20 bytes, so each bound takes the stricter reading: at least
    5 MiB, at most 64,000,000 bytes (the final chunk, under twice that, stays under 128,000,000).
    """

    min_bytes: int = 5 * MIB
    max_bytes: int = 64_000_000
    max_count: int = 1000


# Module-level so tests can shrink it together with the fake's limits and split a small file into several chunks.
CHUNK_LIMITS = ChunkLimits()


@dataclass(frozen=True)
class ChunkPlan:
    """How a file is cut: `count` chunks of `chunk_size`, the last one absorbing the remainder."""

    video_size: int
    chunk_size: int
    count: int

    def chunks(self) -> list[base.Chunk]:
        return base.byte_ranges(self.video_size, self.chunk_size, count=self.count)

    def span(self, index: int) -> tuple[int, int]:
        """(first, last) byte of chunk `index`, inclusive, as Content-Range counts them."""
        chunk = self.chunks()[index]
        return chunk.first, chunk.last


def plan_chunks(video_size: int, preferred: int, limits: ChunkLimits | None = None) -> ChunkPlan:
    """The chunk plan TikTok accepts for `video_size`, as close to `preferred` chunks as its rules allow.

    A pure function of the sizes (ChunkLimits cites the rules): whatever `preferred` is, a file over
    `max_bytes` is cut in at least two chunks, and no chunk but the last exceeds `max_bytes`.
    """
    limits = limits or CHUNK_LIMITS
    if video_size <= 0:
        raise InputRejected("tiktok: the video is empty; render it again")
    if video_size < limits.min_bytes:
        return ChunkPlan(video_size, video_size, 1)
    chunk = max(preferred, limits.min_bytes, math.ceil(video_size / limits.max_count))
    chunk = min(chunk, limits.max_bytes, video_size)
    if video_size > limits.max_bytes:
        # "greater than 64 MB must be uploaded in multiple chunks": at most half, so floor division gives >= 2.
        chunk = min(chunk, video_size // 2)
    # floor division: the last chunk takes the remainder (it may exceed chunk_size, under twice it).
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


class _UploadUrlRejected(ProviderError):
    """The upload URL answered 4xx (expired or out of step): the upload starts over with a new init."""


class TikTokClient(base.PlatformClient):
    """TikTok's envelope `{"data", "error": {"code", "message", "log_id"}}`, whose errors may come in a 200."""

    def api(self, path: str, body: dict[str, Any] | None, doing: str) -> dict[str, Any]:
        """POST JSON to the API; the answer's `data`."""
        response = self.request(
            "POST",
            (self.settings.api_base_url or API_BASE).rstrip("/") + path,
            doing=doing,
            content=json.dumps(body).encode() if body is not None else b"",
            headers={"Content-Type": "application/json; charset=UTF-8"},
        )
        data = json_object(response).get("data")
        return dict(data) if isinstance(data, dict) else {}

    def check(self, response: httpx.Response, doing: str) -> None:
        error = json_object(response).get("error")
        if not isinstance(error, dict):
            error = {}
        code = str(error.get("code") or "")
        if response.status_code < 400 and code in ("", "ok"):
            return
        if code == "access_token_invalid":
            raise base.TokenRejected()
        detail = f"{code}: {error.get('message', '')} (log_id {error.get('log_id', '-')})" if code else response.text
        if code in PERMANENT_ERRORS:
            raise ProviderError(f"{self.where}: {doing}: {PERMANENT_ERRORS[code]} ({self.redact(detail[:300])})")
        # A refusal inside a 200 is still a refusal; rate_limit_exceeded is retryable whatever the status says.
        status = 429 if code == "rate_limit_exceeded" else max(response.status_code, 400)
        raise self.http_failure(status, detail[:300], doing, response.headers)

    def check_metrics(self, response: httpx.Response, doing: str) -> None:
        """`check` for a metrics read, with the codes of the error handling page
        (https://developers.tiktok.com/doc/tiktok-api-v2-error-handling): scope_not_authorized (401) is a grant
        without video.list, not a post refusal; access_token_invalid (401) and rate_limit_exceeded (429) as always."""
        error = json_object(response).get("error")
        if isinstance(error, dict) and error.get("code") in ("scope_not_authorized", "scope_permission_missed"):
            raise MetricsUnavailable(
                "missing_scope",
                f"{self.where}: {doing}: the token lacks video.list ({error.get('code')}: "
                f"{self.redact(str(error.get('message', '')))}); run {auth_command('tiktok')} to grant it",
            )
        self.check(response, doing)

    def check_upload(self, response: httpx.Response, doing: str) -> None:
        """The pre-signed upload URL answers without the envelope; its 4xx means the URL is no longer good."""
        if response.status_code in (200, 201, 206):
            return
        error = json_object(response).get("error")
        message = f"{error.get('code', '')}: {error.get('message', '')}" if isinstance(error, dict) else response.text
        if 400 <= response.status_code < 500 and response.status_code not in (408, 429):
            raise _UploadUrlRejected(f"{self.where}: the upload URL answered HTTP {response.status_code}: {message}")
        raise self.http_failure(response.status_code, message[:200], doing, response.headers)


@dataclass(frozen=True)
class TikTokEngine(base.ApiEngine):
    """Posts a short through TikTok's Content Posting API (FILE_UPLOAD, direct post or inbox draft)."""

    _: KW_ONLY
    privacy: str
    mode: str  # "direct" or "inbox" (a draft the creator posts in the app)
    chunk_limits: ChunkLimits | None = None  # None = CHUNK_LIMITS, TikTok's documented rules
    name = "tiktok"

    def metrics(self, post: Post) -> dict[str, float]:
        """Views, likes, comments and shares of the public post `remote_id` (never the publish id)."""
        where = f"tiktok[{post.partition_key}]"
        if not post.remote_id or post.remote_id == post.upload_id:
            # An inbox draft: the creator posted it in the app, so only its publish id is known.
            raise MetricsUnavailable(
                "failed",
                f"{where}: the ledger holds no public TikTok post id (an inbox draft has only its publish "
                "id); import the numbers from TikTok Studio instead (shorts analytics import)",
            )
        api = (self.settings.api_base_url or API_BASE).rstrip("/")
        try:
            with TikTokClient(self.settings, where) as client:
                response = client.request(
                    "POST",
                    api + VIDEO_QUERY_PATH,
                    doing="query videos",
                    params={"fields": ",".join(["id", *VIDEO_METRICS])},
                    content=json.dumps({"filters": {"video_ids": [post.remote_id]}}).encode(),
                    headers={"Content-Type": "application/json; charset=UTF-8"},
                    check=client.check_metrics,
                )
        except ConfigurationError as exc:  # no token, or one refused even after a refresh
            raise MetricsUnavailable("revoked", str(exc)) from None
        data = json_object(response).get("data")
        videos = (data.get("videos") if isinstance(data, dict) else None) or []
        video = next((v for v in videos if isinstance(v, dict) and str(v.get("id")) == post.remote_id), None)
        if video is None:  # the endpoint leaves out what is gone, private, or not the token's user's
            raise MetricsUnavailable(
                "deleted", f"{where}: TikTok returns no video {post.remote_id} for this account (deleted or private)"
            )
        return {metric: float(video[field]) for field, metric in VIDEO_METRICS.items() if video.get(field) is not None}

    def publish(self, request: PostRequest) -> Post:
        """Upload and post `request`; returns the published Post, or a dry-run Post without uploading."""
        text = request.caption.text
        if len(text) > CAPTION_LIMITS["tiktok"]:
            raise InputRejected(f"{request.where}: the caption has {len(text)} characters; TikTok allows 2200")
        plan = plan_chunks(request.video_path.stat().st_size, self.settings.chunk_size_bytes, self.chunk_limits)
        with TikTokClient(self.settings, request.where) as client:
            creator: dict[str, Any] = {}
            post_info: dict[str, Any] = {}
            if self.mode == "direct":
                creator = client.api("/v2/post/publish/creator_info/query/", None, "creator info")
                post_info = self._post_info(request, creator)
            if self.settings.dry_run:
                return dry_run_post(request)
            publish_id = self._upload(client, request, plan, post_info)
            status, post_id = self._await_outcome(client, publish_id)
        username = str(creator.get("creator_username") or "")
        if status == "SEND_TO_USER_INBOX":  # a draft: the creator posts it in the app, so only the publish id exists
            return request.post("published", publish_id).model_copy(update={"upload_id": publish_id})
        # The publish id is not the post id (per-post lookups come back empty with it): record the public one.
        url = f"https://www.tiktok.com/@{username}/video/{post_id}" if username else ""
        return request.post("published", post_id, url).model_copy(update={"upload_id": publish_id})

    def _post_info(self, request: PostRequest, creator: Mapping[str, Any]) -> dict[str, Any]:
        """The direct-post `post_info`: caption, a privacy level the creator allows, the AI label."""
        options = [str(option) for option in creator.get("privacy_level_options") or []]
        level = privacy_level(self.privacy, options)
        if level != PRIVACY_LEVELS[self.privacy][0]:
            log.warning(
                "%s: privacy=%s is not allowed for this creator; posting as %s", request.where, self.privacy, level
            )
        max_s = float(creator.get("max_video_post_duration_sec") or 0)
        duration = self._duration_s(request)
        if max_s and duration is not None and duration > max_s:
            raise InputRejected(
                f"{request.where}: the video lasts {duration:.0f} s; this creator may post at most {max_s:.0f} s"
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

    def _upload(self, client: TikTokClient, request: PostRequest, plan: ChunkPlan, post_info: dict[str, Any]) -> str:
        """The publish id whose bytes are all in: resumed from the checkpoint when possible, else a new init."""
        checkpoint = self.checkpoint
        publish_id = str(checkpoint.get("publish_id") or "")
        if publish_id and checkpoint.get("uploaded"):
            return publish_id  # already posted (or posting): never init again
        if publish_id and checkpoint.get("plan") == asdict(plan) and checkpoint.get("mode") == self.mode:
            try:
                self._send_chunks(
                    client, request, plan, str(checkpoint.get("upload_url")), int(checkpoint.get("chunks_done", 0))
                )
            except _UploadUrlRejected as exc:
                log.warning("%s: the saved upload URL was refused (%s); starting over", request.where, exc)
            else:
                checkpoint.set("uploaded", True)
                return publish_id
        checkpoint.clear()
        publish_id, upload_url = self._init(client, plan, post_info)
        checkpoint.set("mode", self.mode)
        checkpoint.set("plan", asdict(plan))
        checkpoint.set("upload_url", upload_url)
        checkpoint.set("publish_id", publish_id)
        self._send_chunks(client, request, plan, upload_url, 0)
        checkpoint.set("uploaded", True)
        return publish_id

    def _init(self, client: TikTokClient, plan: ChunkPlan, post_info: dict[str, Any]) -> tuple[str, str]:
        # Resendable, unlike the last chunk: an init only opens an upload, and with FILE_UPLOAD TikTok processes
        # (and posts) the video once all of its chunks have been PUT (media transfer guide,
        # https://developers.tiktok.com/doc/content-posting-api-media-transfer-guide). A lost init answer leaves an
        # unused publish id behind, never a post.
        source = {
            "source": "FILE_UPLOAD",
            "video_size": plan.video_size,
            "chunk_size": plan.chunk_size,
            "total_chunk_count": plan.count,
        }
        if self.mode == "inbox":
            data = client.api("/v2/post/publish/inbox/video/init/", {"source_info": source}, "inbox init")
        else:
            data = client.api("/v2/post/publish/video/init/", {"post_info": post_info, "source_info": source}, "init")
        if not data.get("publish_id") or not data.get("upload_url"):
            raise ProviderError(f"{client.where}: TikTok init answered without publish_id/upload_url: {sorted(data)}")
        return str(data["publish_id"]), str(data["upload_url"])

    def _send_chunks(
        self, client: TikTokClient, request: PostRequest, plan: ChunkPlan, upload_url: str, start: int
    ) -> None:
        """PUT chunks `start`.. in order (the URL is pre-signed: no token); each is checkpointed once confirmed.

        The last chunk completes the post, so it is the create call: sent at most once (`create_once`), and a lost
        answer is looked up with the status fetch instead of being sent again.
        """

        def put(chunk: base.Chunk, data: bytes) -> None:
            headers = {
                "Content-Type": "video/mp4",
                "Content-Range": f"bytes {chunk.first}-{chunk.last}/{plan.video_size}",
            }
            doing = f"chunk {chunk.index + 1}/{plan.count}"
            if chunk.index < plan.count - 1:
                client.request(
                    "PUT", upload_url, doing=doing, auth=None, content=data, headers=headers, check=client.check_upload
                )
                self.checkpoint.set("chunks_done", chunk.index + 1)
                return
            self._put_last_chunk(client, plan, upload_url, data, headers=headers, doing=doing)

        base.send_chunks(request.video_path, plan.chunks()[start:], put)

    def _put_last_chunk(
        self, client: TikTokClient, plan: ChunkPlan, url: str, data: bytes, *, headers: dict[str, str], doing: str
    ) -> None:
        publish_id = str(self.checkpoint.get("publish_id"))

        def check_last(response: httpx.Response, doing: str) -> None:
            if response.status_code == 416:
                # The range no longer fits: TikTok may hold these bytes already (an earlier PUT that did arrive).
                raise base.OutcomeUnknown(
                    f"{client.where}: {doing}: the upload URL answered HTTP 416 to the last chunk"
                )
            client.check_upload(response, doing)

        def send() -> str:
            client.create("PUT", url, doing=doing, auth=None, content=data, headers=headers, check=check_last)
            return publish_id

        def lookup() -> str | None:
            # Get Post Status, POST /v2/post/publish/status/fetch/ (https://developers.tiktok.com/doc/
            # content-posting-api-reference-get-video-status): all bytes received, or a status past the upload,
            # means the last chunk arrived. Fewer bytes cannot tell (the PUT may still be landing): unconfirmed.
            answer = client.api(STATUS_PATH, {"publish_id": publish_id}, "status fetch (looking the upload up)")
            status = str(answer.get("status") or "")
            received = answer.get("uploaded_bytes")
            if status not in ("", "PROCESSING_UPLOAD") or (isinstance(received, int) and received >= plan.video_size):
                return publish_id
            return None

        def save(found: str) -> None:
            self.checkpoint.set("chunks_done", plan.count)
            self.checkpoint.set("uploaded", True)

        call = base.CreateCall(
            f"PUT of the last chunk ({doing}, which completes the post)",
            "the TikTok account the token belongs to (shorts auth tiktok)",
            f"uploaded under the publish id {publish_id}",
        )
        client.create_once(self.checkpoint, call, send=send, lookup=lookup, save=save)

    def _await_outcome(self, client: TikTokClient, publish_id: str) -> tuple[str, str]:
        """Poll the status until TikTok posts (status, public post id; "" for an inbox draft) or fails."""

        def read() -> tuple[str, str] | Pending:
            data = client.api(STATUS_PATH, {"publish_id": publish_id}, "status fetch")
            status = str(data.get("status", ""))
            if status == "FAILED":
                self.checkpoint.clear()  # nothing was posted: a re-execution starts a new upload
                reason = str(data.get("fail_reason") or "unknown")
                raise ProviderError(
                    f"{client.where}: TikTok failed the post ({reason}): {FAIL_REASONS.get(reason, reason)}"
                )
            if status == "SEND_TO_USER_INBOX":
                return status, ""
            if status == "PUBLISH_COMPLETE":
                if self.checkpoint.get("status") != status:
                    self.checkpoint.set("status", status)
                # sic: TikTok's spelling. The public id appears only once moderation ends (status reference).
                ids = data.get("publicaly_available_post_id") or []
                if ids:
                    return status, str(ids[0])
            return Pending(status or "processing")

        def settle(last: Pending) -> tuple[str, str] | None:
            if last.status != "PUBLISH_COMPLETE":
                return None  # the deadline's own error: still processing, re-execute to keep waiting
            # Posted, but the publish id is not the post id: wait for the public one on the next run rather than
            # record an id that no per-post lookup knows. The checkpoint keeps the publish id; nothing is re-sent.
            raise RetryableError(
                f"{client.where}: TikTok posted {publish_id} but has not given out its public post id after "
                f"{self.settings.timeout_s:.0f} s (moderation can take hours); re-execute tiktok_post to keep "
                "polling (nothing is uploaded again)"
            )

        return client.poll(read, doing="waiting for TikTok to post", at_deadline=settle)
