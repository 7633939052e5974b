"""A local TikTok Content Posting API for tests: real HTTP on 127.0.0.1 speaking the v2 protocol.

Routes: `POST /v2/oauth/token/` (refresh, rotating the refresh token), creator info, direct and inbox init,
`PUT` chunks to the pre-signed upload URL it hands out (`/video/?upload_id=&upload_token=`, no bearer), and
status fetch. Every JSON answer uses TikTok's envelope `{"data": ..., "error": {"code", "message", "log_id"}}`.
It enforces the chunk arithmetic of the media transfer guide (floor division, min/max chunk size, the last chunk
absorbing the remainder, sequential Content-Range) with limits a test may shrink, keeps the bytes it received, and
moves a publish through PROCESSING_UPLOAD → PUBLISH_COMPLETE with an empty `publicaly_available_post_id` at first.
Faults are scripted per route (`fail_next`, `drop_next`); an expired upload URL answers 403 (the code TikTok
uses there is not documented; the fake's is `upload_url_expired`). `lose_answer_after_next("upload:<index>")`
lets a chunk PUT take effect (the last one completes the post) and then loses its answer: held until the
client's next request, cut, or replaced by a 5xx. The public post id is reported only once processing is complete
(PUBLISH_COMPLETE), after `post_id_polls` more polls (moderation).

Query Videos (`POST /v2/video/query/?fields=...`, body `{"filters": {"video_ids": [...]}}`) answers the counts of
the account's public posts (`videos`: post id -> counts; a post gets zeros when it is published, tests seed
others) and leaves out ids it does not hold. It needs the video.list scope (`scope_not_authorized`, 401) and
refuses fields the Video Object does not have (`invalid_params`), as the reference describes
(https://developers.tiktok.com/doc/tiktok-api-v2-video-query).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from tests.providers.fakes import base
from tests.providers.fakes.base import FakeServer, Faults, Recorded, Reply, route

MIB = 1024 * 1024
PRIVACY_LEVELS = ["PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "FOLLOWER_OF_CREATOR", "SELF_ONLY"]
CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")
# The Video Object's fields that Query Videos may return (the reference's `fields` list).
VIDEO_FIELDS = frozenset(
    {
        "id", "create_time", "cover_image_url", "share_url", "video_description", "duration", "height", "width",
        "title", "embed_html", "embed_link", "like_count", "comment_count", "share_count", "view_count",
    }
)  # fmt: skip
VIDEO_COUNTS = ("view_count", "like_count", "comment_count", "share_count")
MAX_QUERY_IDS = 20  # "Up to 20 video IDs can be included per request."


@dataclass
class Fault(base.Fault):
    after_effect: bool = False  # the request takes effect, then the scripted answer (or none) goes out


@dataclass
class Upload:
    """One init: its plan, the bytes received so far, and where its status stands."""

    publish_id: str
    upload_token: str
    mode: str
    post_info: dict[str, Any]
    video_size: int
    chunk_size: int
    chunk_count: int
    received: bytearray = field(default_factory=bytearray)
    ranges: list[tuple[int, int]] = field(default_factory=list)
    expired: bool = False
    fail_reason: str = ""
    polls_after_upload: int = 0
    post_id: int = 0

    @property
    def complete(self) -> bool:
        return len(self.received) == self.video_size


def envelope(data: Any = None, code: str = "ok", message: str = "") -> dict[str, Any]:
    return {"data": data if data is not None else {}, "error": {"code": code, "message": message, "log_id": "fake-log"}}


def error(status: int, code: str, message: str) -> Reply:
    return Reply(status, envelope(code=code, message=message))


class FakeTikTok(FakeServer[Recorded]):
    """Context manager running the fake on a free port; `.base_url` is the API host and the token host."""

    record_type = Recorded
    json_type = "application/json; charset=UTF-8"

    def __init__(
        self,
        access_token: str = "tt-access-token",
        *,
        client_key: str = "tt-client",
        client_secret: str = "tt-secret",
        refresh_token: str = "rft.0",
    ) -> None:
        super().__init__()
        self.access_token = access_token
        self.client_key, self.client_secret, self.refresh_token = client_key, client_secret, refresh_token
        self.privacy_options = list(PRIVACY_LEVELS)  # an unaudited app's creator sees ["SELF_ONLY"] only
        self.scopes = {"user.info.basic", "video.publish", "video.upload", "video.list"}  # what the token was granted
        self.username = "shorts.lab"
        self.max_duration_s = 600
        # TikTok's real limits; tests shrink min/max so a 2 MB file splits into several chunks.
        self.min_chunk_bytes = 5 * MIB
        # "MB" read as 10^6 here, the stricter reading for the upper bounds (the lower one is 5 MiB, also stricter).
        self.max_chunk_bytes = 64_000_000
        self.max_last_chunk_bytes = 128_000_000
        self.processing_polls = 1  # PROCESSING_UPLOAD answers after the last chunk
        self.post_id_polls = 1  # PUBLISH_COMPLETE answers with an empty post-id list before the id appears
        self.uploads: dict[str, Upload] = {}
        self.videos: dict[str, dict[str, int]] = {}  # public post id -> view_count, like_count, ...
        self.refreshes = 0
        self.faults: Faults[Fault] = Faults()
        self._next_fail_reason = ""

    # --- scripting -------------------------------------------------------------------------------------------
    def fail_next(
        self,
        route: str,
        status: int = 500,
        code: str = "internal_error",
        message: str = "Something went wrong.",
        *,
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """The next `times` requests to `route` (a route name, or `upload:<chunk index>`) get this error."""
        body = {"error": code} if route == "token" else envelope(code=code, message=message)
        self.faults.add(Fault(route, status, body, headers or {}, times=times))

    def drop_next(self, route: str, *, times: int = 1) -> None:
        """The next `times` requests to `route` are read, then the connection is closed without an answer."""
        self.faults.add(Fault(route, drop=True, times=times))

    def lose_answer_after_next(self, route: str, *, how: str = "timeout", status: int = 503) -> None:
        """The next request to `route` (e.g. `upload:3`) takes effect, then its answer is lost: held until the
        client's next request (`timeout`: the client gives up first), cut (`drop`) or replaced by a 5xx (`status`)."""
        body = envelope(code="internal_error", message="Something went wrong.")
        self.faults.add(Fault(route, status, body, drop=how == "drop", hold=how == "timeout", after_effect=True))

    def fail_next_publish(self, reason: str) -> None:
        """The next init's status ends in FAILED with this fail_reason."""
        self._next_fail_reason = reason

    def seed_video(self, post_id: str, *, views: int = 0, likes: int = 0, comments: int = 0, shares: int = 0) -> None:
        """A public post of the account with these counts."""
        counts = {"view_count": views, "like_count": likes, "comment_count": comments, "share_count": shares}
        self.videos[post_id] = counts

    def expire_upload_urls(self) -> None:
        for upload in self.uploads.values():
            upload.expired = True

    # --- what tests assert on --------------------------------------------------------------------------------
    @property
    def posts(self) -> list[Upload]:
        """Direct posts TikTok made: every fully uploaded direct init that did not fail."""
        return [u for u in self.uploads.values() if u.mode == "direct" and u.complete and not u.fail_reason]

    # --- protocol --------------------------------------------------------------------------------------------
    def answer(self, request: Recorded) -> Reply | None:
        """The reply to one request; None drops the connection."""
        if request.route == "upload":
            return self._upload(request)
        if not request.route:
            return error(404, "not_found", "Unknown path")
        if request.route == "token":
            fault = self.faults.take("token")
            return fault.reply() if fault is not None else self._token(request)
        if not request.bearer_is(self.access_token):
            return error(401, "access_token_invalid", "The access token is invalid or not found.")
        fault = self.faults.take(request.route)
        if fault is not None:
            return fault.reply()
        if request.content_type.split(";")[0] != "application/json":
            return error(400, "invalid_params", "Content-Type must be application/json")
        return self.dispatch(request)

    @route("token", "POST", "/v2/oauth/token/")
    def _token(self, request: Recorded) -> Reply:
        form = request.urlencoded
        if (form.get("client_key"), form.get("client_secret")) != (self.client_key, self.client_secret):
            return Reply(401, {"error": "invalid_client", "error_description": "Client key or secret is wrong."})
        if form.get("grant_type") == "authorization_code":
            # Desktop apps must send the PKCE verifier: 43–128 unreserved characters (Login Kit for Desktop).
            verifier = form.get("code_verifier", "")
            if not form.get("code") or not form.get("redirect_uri") or not 43 <= len(verifier) <= 128:
                invalid = {"error": "invalid_request", "error_description": "Code verifier or code is invalid."}
                return Reply(400, invalid)
            self.refresh_token = f"rft.0.{secrets.token_hex(4)}"
            form = {**form, "grant_type": "refresh_token", "refresh_token": self.refresh_token}
        if form.get("grant_type") != "refresh_token" or form.get("refresh_token") != self.refresh_token:
            return Reply(400, {"error": "invalid_grant", "error_description": "Refresh token is invalid or expired."})
        # Rotation: the old refresh token stops working once a new one is issued.
        self.refreshes += 1
        self.access_token = f"act.{self.refreshes}.{secrets.token_hex(4)}"
        self.refresh_token = f"rft.{self.refreshes}.{secrets.token_hex(4)}"
        tokens = {
            "access_token": self.access_token,
            "expires_in": 7200,
            "open_id": "fake-open-id",
            "refresh_token": self.refresh_token,
            "refresh_expires_in": 15552000,
            "scope": ",".join(sorted(self.scopes)),
            "token_type": "Bearer",
        }
        return Reply(200, tokens)

    @route("creator_info", "POST", "/v2/post/publish/creator_info/query/")
    def _creator_info(self, request: Recorded) -> Reply:
        if "video.publish" not in self.scopes:
            return Reply(401, envelope(code="scope_not_authorized", message="The user did not authorize the scope."))
        info = {
            "creator_avatar_url": "https://example.invalid/avatar.jpg",
            "creator_username": self.username,
            "creator_nickname": "Shorts Lab",
            "privacy_level_options": self.privacy_options,
            "comment_disabled": False,
            "duet_disabled": False,
            "stitch_disabled": True,
            "max_video_post_duration_sec": self.max_duration_s,
        }
        return Reply(200, envelope(info))

    def _chunk_error(self, size: Any, chunk: Any, count: Any) -> str:
        """Why a source_info breaks the media transfer guide's chunk rules ("" when it does not)."""
        if not all(isinstance(value, int) and value > 0 for value in (size, chunk, count)):
            return "video_size, chunk_size and total_chunk_count must be positive integers"
        if size < self.min_chunk_bytes:
            return "" if (chunk, count) == (size, 1) else "a file under the minimum chunk goes whole in one chunk"
        if not self.min_chunk_bytes <= chunk <= self.max_chunk_bytes:
            return f"chunk_size must be {self.min_chunk_bytes}–{self.max_chunk_bytes} bytes"
        if count != size // chunk or not 1 <= count <= 1000:
            return f"total_chunk_count must be floor(video_size / chunk_size) = {size // chunk}"
        if size > self.max_chunk_bytes and count < 2:
            return f"a video over {self.max_chunk_bytes} bytes must be uploaded in multiple chunks"
        # The final chunk may exceed chunk_size up to 128 MB (with shrunk test limits: up to twice the maximum).
        if size - (count - 1) * chunk > min(self.max_last_chunk_bytes, 2 * self.max_chunk_bytes):
            return "the last chunk is too large"
        return ""

    @route("init", "POST", "/v2/post/publish/video/init/")
    def _direct_init(self, request: Recorded) -> Reply:
        return self._init("init", request.json if isinstance(request.json, dict) else {})

    @route("inbox_init", "POST", "/v2/post/publish/inbox/video/init/")
    def _inbox_init(self, request: Recorded) -> Reply:
        return self._init("inbox_init", request.json if isinstance(request.json, dict) else {})

    def _init(self, route: str, body: dict[str, Any]) -> Reply:
        source = body.get("source_info") or {}
        post_info = body.get("post_info") or {}
        if source.get("source") != "FILE_UPLOAD":
            return error(400, "invalid_params", "source must be FILE_UPLOAD")
        size, chunk, count = source.get("video_size"), source.get("chunk_size"), source.get("total_chunk_count")
        problem = self._chunk_error(size, chunk, count)
        if problem:
            return error(400, "invalid_params", problem)
        assert isinstance(size, int) and isinstance(chunk, int) and isinstance(count, int)  # checked just above
        if route == "init":
            if not isinstance(post_info.get("title"), str) or len(post_info["title"]) > 2200:
                return error(400, "invalid_params", "title must be a string of ≤ 2200 characters")
            if post_info.get("privacy_level") not in self.privacy_options:
                mismatch = "privacy_level is not one of the creator's privacy_level_options"
                return error(400, "privacy_level_option_mismatch", mismatch)
            flags = ("disable_duet", "disable_comment", "disable_stitch", "is_aigc")
            if any(not isinstance(post_info.get(flag, False), bool) for flag in flags):
                return error(400, "invalid_params", "disable_* and is_aigc must be booleans")
        publish_id = f"v_pub_file~v2-1.{len(self.uploads) + 1}"
        upload = Upload(
            publish_id=publish_id,
            upload_token=secrets.token_hex(8),
            mode="direct" if route == "init" else "inbox",
            post_info=post_info,
            video_size=size,
            chunk_size=chunk,
            chunk_count=count,
            fail_reason=self._next_fail_reason,
        )
        self._next_fail_reason = ""
        self.uploads[publish_id] = upload
        upload_url = f"{self.base_url}/video/?upload_id={publish_id}&upload_token={upload.upload_token}"
        return Reply(200, envelope({"publish_id": publish_id, "upload_url": upload_url}))

    @route("upload", "PUT", "/video/")
    def _upload(self, request: Recorded) -> Reply | None:
        upload = self.uploads.get(request.query.get("upload_id", ""))
        if upload is None or request.query.get("upload_token") != upload.upload_token:
            return error(404, "not_found", "Unknown upload")
        if "authorization" in request.headers:
            return error(400, "invalid_params", "the upload URL is pre-signed; send no token")
        if upload.expired:
            return error(403, "upload_url_expired", "The upload URL has expired.")
        match = CONTENT_RANGE.match(request.headers.get("content-range", ""))
        if request.headers.get("content-type") != "video/mp4" or match is None:
            return error(400, "invalid_params", "need Content-Type video/mp4 and a Content-Range")
        first, last, total = (int(group) for group in match.groups())
        index = first // upload.chunk_size
        fault = self.faults.take(f"upload:{index}", "upload")
        if fault is not None and not fault.after_effect:
            return fault.reply()
        answer = self._take_chunk(upload, request, first, last, total, index)
        if fault is not None and fault.hold:
            self.hold_until_next_request(request)  # the client times out before this answer goes out
            return answer
        return fault.reply() if fault is not None else answer

    def _take_chunk(self, upload: Upload, request: Recorded, first: int, last: int, total: int, index: int) -> Reply:
        expected = upload.video_size - first if index == upload.chunk_count - 1 else upload.chunk_size
        if (
            total != upload.video_size
            or first != len(upload.received)  # sequential, no gaps, no repeats
            or first != index * upload.chunk_size
            or last - first + 1 != expected
            or len(request.body) != expected
            or int(request.headers.get("content-length", -1)) != expected
        ):
            return error(416, "invalid_params", f"Content-Range {first}-{last}/{total} is wrong")
        upload.received += request.body
        upload.ranges.append((first, last))
        return Reply(201 if upload.complete else 206, envelope())

    @route("status", "POST", "/v2/post/publish/status/fetch/")
    def _status(self, request: Recorded) -> Reply:
        body = request.json if isinstance(request.json, dict) else {}
        upload = self.uploads.get(str(body.get("publish_id")))
        if upload is None:
            return error(400, "invalid_params", "Unknown publish_id")
        data: dict[str, Any] = {
            "status": "PROCESSING_UPLOAD",
            "uploaded_bytes": len(upload.received),
            "downloaded_bytes": 0,
            "publicaly_available_post_id": [],
        }
        if upload.complete:
            upload.polls_after_upload += 1
            polls = upload.polls_after_upload - self.processing_polls
            if polls > 0 and upload.fail_reason:
                data |= {"status": "FAILED", "fail_reason": upload.fail_reason}
            elif polls > 0 and upload.mode == "inbox":
                data["status"] = "SEND_TO_USER_INBOX"
            elif polls > 0:
                data["status"] = "PUBLISH_COMPLETE"
                if polls > self.post_id_polls:
                    upload.post_id = upload.post_id or 7_400_000_000_000_000_000 + len(self.posts)
                    self.videos.setdefault(str(upload.post_id), dict.fromkeys(VIDEO_COUNTS, 0))
                    data["publicaly_available_post_id"] = [upload.post_id]
        return Reply(200, envelope(data))

    @route("video_query", "POST", "/v2/video/query/")
    def _video_query(self, request: Recorded) -> Reply:
        if "video.list" not in self.scopes:
            return error(
                401,
                "scope_not_authorized",
                "The user did not authorize the scope required for completing this request.",
            )
        fields = [name for name in request.query.get("fields", "").split(",") if name]
        if not fields or not set(fields) <= VIDEO_FIELDS:
            return error(
                400, "invalid_params", f"fields must be Video Object fields, got {request.query.get('fields')!r}"
            )
        body = request.json if isinstance(request.json, dict) else {}
        ids = (body.get("filters") or {}).get("video_ids") if isinstance(body.get("filters"), dict) else None
        if not isinstance(ids, list) or not 1 <= len(ids) <= MAX_QUERY_IDS or not all(isinstance(i, str) for i in ids):
            return error(400, "invalid_params", "filters.video_ids must list 1 to 20 video ids (strings)")
        videos = []
        for video_id in ids:
            if video_id in self.videos:
                video = {"id": video_id, **self.videos[video_id]}
                videos.append({name: video[name] for name in fields if name in video})
        return Reply(200, envelope({"videos": videos}))
