"""A local YouTube Data API v3 server for tests: real HTTP on 127.0.0.1, driven by google-api-python-client.

Speaks the resumable upload protocol: `POST /upload/youtube/v3/videos?uploadType=resumable&part=...` answers 200
with a session `Location`; `PUT <session>` with `Content-Range: bytes s-e/total` answers 308 + `Range` until the
last byte, then 200 with the video resource; `Content-Range: bytes */total` is a status query. `GET
/youtube/v3/videos?part=status,processingDetails&id=` reports `uploaded`, then `processed` (or a scripted
failure). `POST /token` refreshes an OAuth access token. Every request needs a Bearer token the server issued.

Faults are scripted per kind of request ("start", "chunk", "query", "list"): an error status with Google's
error envelope, a dropped connection, a chunk accepted only in part, expired sessions. `lose_final_answer` lets the
last chunk create the video, then loses its answer (cut, or a 5xx) and can end the session with it, so only the
channel's uploads can tell: `channels.list(mine=true, part=contentDetails)` names the uploads playlist and
`playlistItems.list` lists it newest first (`uploads_hide_newest` makes it lag).

The numbers: `videos.list(part=statistics)` answers `statistics` (counts as strings) of the videos it holds, and
the YouTube Analytics API v2 `GET /v2/reports` (`reports.query`, same host here) the rows `seed_video` gave. Both
check the token's scopes (`token_scopes`, one grant for every token the fake issued) as Google does: 403
insufficientPermissions. Every `reports.query` is checked against the Analytics discovery document kept in
`tests/data/specs/youtubeAnalytics.v2.json` (as google-api-python-client ships it): a parameter it does not
declare is a 400 and fails the test when the fake stops.
"""

from __future__ import annotations

import json
import re
import secrets
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from tests.providers.fakes import base
from tests.providers.fakes.base import FakeServer, Faults, Recorded, Reply

RequestKind = Literal["start", "chunk", "query", "list", "token", "tokeninfo", "channels", "playlist_items", "reports"]
SCOPE = "https://www.googleapis.com/auth/"
# Who may call what, from the methods' scopes: videos.list's in the Data API discovery document; reports.query's
# user-activity metrics need one of the two Analytics scopes (Reports: Query, "Authorization",
# https://developers.google.com/youtube/analytics/reference/reports/query).
LIST_SCOPES = frozenset(SCOPE + name for name in ("youtube", "youtube.force-ssl", "youtube.readonly", "youtubepartner"))
ANALYTICS_SCOPES = frozenset(SCOPE + name for name in ("yt-analytics.readonly", "yt-analytics-monetary.readonly"))
ANALYTICS_DOC = Path(__file__).resolve().parents[2] / "data" / "specs" / "youtubeAnalytics.v2.json"
# The required parameters and formats of Reports: Query (the discovery document says them only in prose).
REPORT_PARAMETERS = {
    "ids": re.compile(r"[a-zA-Z]+==[a-zA-Z0-9_+-]+"),
    "startDate": re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}"),
    "endDate": re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}"),
    "metrics": re.compile(r"[0-9a-zA-Z,]+"),
}
INSUFFICIENT_SCOPES = "Request had insufficient authentication scopes."
QUOTA_ERRORS: dict[str, tuple[int, str, str]] = {
    "rateLimitExceeded": (
        429,
        "youtube.quota",
        "Quota exceeded for quota metric 'Video Uploads' and limit 'Video Uploads per day' of service "
        "'youtube.googleapis.com'.",
    ),
    "quotaExceeded": (
        403,
        "youtube.quota",
        'The request cannot be completed because you have exceeded your <a href="/youtube/v3/getting-started'
        '#quota">quota</a>.',
    ),
    "uploadLimitExceeded": (400, "youtube.video", "The user has exceeded the number of videos they may upload."),
}
CONTENT_RANGE = re.compile(r"^bytes (?:(?P<first>\d+)-(?P<last>\d+)|\*)/(?P<total>\d+|\*)$")


def error_envelope(status: int, reason: str, message: str, domain: str = "global") -> dict[str, Any]:
    """Google's JSON error body."""
    return {
        "error": {
            "code": status,
            "message": message,
            "errors": [{"message": message, "domain": domain, "reason": reason}],
        }
    }


def error(status: int, reason: str, message: str, domain: str = "global") -> Reply:
    return Reply(status, error_envelope(status, reason, message, domain))


UNAUTHORIZED = error(401, "authError", "Invalid Credentials", "global")


@cache
def analytics_parameters() -> frozenset[str]:
    """The query parameters `reports.query` takes: its own and the document's standard ones (alt, fields, ...)."""
    document = json.loads(ANALYTICS_DOC.read_text(encoding="utf-8"))
    method = document["resources"]["reports"]["methods"]["query"]
    return frozenset(method["parameters"]) | frozenset(document.get("parameters", {}))


@dataclass
class Fault(base.Fault):
    """What to do to a request of kind `route`, after letting `skip` of them through, `times` times: an error,
    a drop (the bytes are kept, no answer), or with `accept_bytes` a chunk accepted only in part."""

    accept_bytes: int | None = None
    final: bool = False  # only the chunk that completes the upload; it takes effect before the scripted answer
    expire: bool = False  # with `final`: the session is gone from then on


class RecordedRequest(Recorded):
    @property
    def kind(self) -> str:
        """start, chunk, query, list or token."""
        return self.route


@dataclass
class Session:
    """One resumable upload session and the bytes it holds."""

    upload_id: str
    total: int
    metadata: dict[str, Any]
    query: dict[str, str]
    received: bytearray = field(default_factory=bytearray)
    video_id: str = ""


class FakeYouTube(FakeServer[RecordedRequest]):
    """The fake API. Use as a context manager; `base_url` is the root to give the client."""

    record_type = RecordedRequest
    protocol_version = "HTTP/1.1"
    json_type = "application/json; charset=UTF-8"

    def __init__(self, *, refresh_token: str = "refresh-1", processing_polls: int = 1) -> None:
        super().__init__()
        self.refresh_token = refresh_token
        self.processing_polls = processing_polls  # `videos.list` answers before a video reads `processed`
        self.valid_tokens: set[str] = set()
        self.sessions: dict[str, Session] = {}
        self.videos: dict[str, dict[str, Any]] = {}
        self.faults: Faults[Fault] = Faults()
        self.expired: set[str] = set()
        self.outcome: tuple[str, str] = ("processed", "")  # (uploadStatus after processing, reason)
        self.tokens_issued = 0
        self._polls: Counter[str] = Counter()
        # Read-only account routes (the preflight): what Google's tokeninfo reports and the channel `mine` finds.
        self.token_scopes = " ".join(
            SCOPE + name for name in ("youtube.upload", "youtube.readonly", "yt-analytics.readonly")
        )
        self.channel: dict[str, Any] | None = {
            "id": "UCfakeChannel0000000000",
            "snippet": {"title": "Shorts Lab"},
            "status": {"privacyStatus": "public", "isLinked": True, "longUploadsStatus": "allowed"},
            "contentDetails": {"relatedPlaylists": {"uploads": "UUfakeChannel0000000000"}},
        }
        self.uploads_hide_newest = 0  # the uploads playlist lags: the newest videos are not listed yet
        # The numbers: video id -> `statistics` (strings, as YouTube sends them), and the Analytics row.
        self.statistics: dict[str, dict[str, str]] = {}
        self.analytics: dict[str, dict[str, float]] = {}
        self.spec_violations: list[str] = []

    # -- scripting -------------------------------------------------------------------------------------------

    def accept_token(self, token: str) -> None:
        self.valid_tokens.add(token)

    def revoke_token(self, token: str) -> None:
        self.valid_tokens.discard(token)

    def fail(
        self,
        kind: RequestKind,
        status: int = 503,
        *,
        times: int = 1,
        after: int = 0,
        reason: str = "",
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the next `times` requests of `kind` (after `after` good ones) with `status`."""
        body = error_envelope(status, reason or "backendError", f"Scripted HTTP {status}")
        self.faults.add(Fault(kind, status, body, headers or {}, times=times, skip=after))

    def seed_video(
        self,
        video_id: str,
        *,
        views: int = 0,
        likes: int = 0,
        comments: int = 0,
        minutes_watched: float | None = None,
        average_view_s: float | None = None,
    ) -> None:
        """A processed video of the channel with these counts (and an Analytics row when `minutes_watched`)."""
        with self.lock:
            self.videos[video_id] = {
                "kind": "youtube#video",
                "etag": secrets.token_hex(8),
                "id": video_id,
                "snippet": {"title": video_id, "description": "", "channelId": "UCfakechannel000000000000"},
                "status": {"uploadStatus": "processed", "privacyStatus": "public"},
            }
            self._polls[video_id] = self.processing_polls
            # YouTube sends the counts as strings; favoriteCount is always "0" (deprecated).
            counts = {"viewCount": views, "likeCount": likes, "favoriteCount": 0, "commentCount": comments}
            self.statistics[video_id] = {name: str(value) for name, value in counts.items()}
            if minutes_watched is not None:
                row = {"views": float(views), "estimatedMinutesWatched": minutes_watched}
                self.analytics[video_id] = row | {"averageViewDuration": average_view_s or 0.0}

    def delete_video(self, video_id: str) -> None:
        with self.lock:
            self.videos.pop(video_id, None)
            self.statistics.pop(video_id, None)
            self.analytics.pop(video_id, None)

    def grant(self, *names: str) -> None:
        """The grant of every token: these scopes (short names, e.g. "youtube.readonly")."""
        self.token_scopes = " ".join(SCOPE + name for name in names)

    def quota(self, reason: str = "rateLimitExceeded") -> None:
        """Refuse the next upload start with one of the daily quota errors (see QUOTA_ERRORS)."""
        status, domain, message = QUOTA_ERRORS[reason]
        body = error_envelope(status, reason, message, domain)
        self.faults.add(Fault("start", status, body))

    def drop(self, kind: RequestKind = "chunk", *, times: int = 1, after: int = 0) -> None:
        """Read the next request of `kind`, keep its bytes, and close the connection without answering."""
        self.faults.add(Fault(kind, drop=True, times=times, skip=after))

    def accept_partially(self, accept_bytes: int, *, after: int = 0) -> None:
        """Keep only the first `accept_bytes` of the next chunk and answer 308 with the smaller Range."""
        self.faults.add(Fault("chunk", status=None, skip=after, accept_bytes=accept_bytes))

    def lose_final_answer(self, *, how: str = "drop", expire: bool = True) -> None:
        """The chunk that completes the next upload creates the video, then its answer is lost (`drop`: the
        connection closes unanswered, as often as it is resent; `status`: a 503), the session ending with it
        when `expire`."""
        body = error_envelope(503, "backendError", "Scripted HTTP 503")
        self.faults.add(Fault("chunk", 503, body, drop=how == "drop", final=True, expire=expire, times=1))

    def expire_sessions(self) -> None:
        """Every session open now answers 404 from now on."""
        with self.lock:
            self.expired.update(self.sessions)

    def finish_processing_as(self, upload_status: str, reason: str = "") -> None:
        """What `videos.list` reports once processing ends: processed, failed or rejected (with a reason)."""
        self.outcome = (upload_status, reason)

    # -- what happened ---------------------------------------------------------------------------------------

    def count(self, kind: str) -> int:
        return len(self.calls(kind))

    def uploaded_bytes(self, video_id: str) -> bytes:
        with self.lock:
            return next(bytes(s.received) for s in self.sessions.values() if s.video_id == video_id)

    # -- protocol --------------------------------------------------------------------------------------------

    def route_of(self, request: RecordedRequest) -> str:
        if request.method == "PUT":
            content_range = CONTENT_RANGE.match(request.headers.get("content-range", ""))
            return "query" if content_range and content_range["first"] is None else "chunk"
        if request.method == "POST":
            return "token" if request.path == "/token" else "start"
        if request.method == "GET" and request.path in ("/tokeninfo", "/youtube/v3/channels"):
            return "tokeninfo" if request.path == "/tokeninfo" else "channels"
        if request.method == "GET" and request.path == "/youtube/v3/playlistItems":
            return "playlist_items"
        if request.method == "GET" and request.path == "/v2/reports":
            return "reports"
        return "list" if request.method == "GET" else ""

    def answer(self, request: RecordedRequest) -> Reply | None:
        if request.route == "token":
            return self._token(request)
        if request.route == "start":
            return self._start(request)
        if request.route in ("chunk", "query"):
            return self._put(request)
        if request.route == "list" and request.path == "/youtube/v3/videos":
            return self._list(request)
        if request.route == "tokeninfo":
            return self._tokeninfo(request)
        if request.route == "channels":
            return self._channels(request)
        if request.route == "playlist_items":
            return self._playlist_items(request)
        if request.route == "reports":
            return self._reports(request)
        return error(404, "notFound", f"No route {request.path}")

    def _granted(self, allowed: frozenset[str]) -> bool:
        return bool(allowed.intersection(self.token_scopes.split()))

    def _reports(self, request: RecordedRequest) -> Reply | None:
        """`reports.query` of one video (no dimension, `filters=video==ID`): one row, or none before YouTube
        has processed the video's data (and for a video the channel does not own)."""
        if not self._authorized(request):
            return UNAUTHORIZED
        unknown = sorted(set(request.query) - analytics_parameters())
        malformed = [
            name for name, pattern in REPORT_PARAMETERS.items() if not pattern.fullmatch(request.query.get(name, ""))
        ]
        if unknown or malformed:
            problem = f"GET /v2/reports: undeclared {unknown}, missing or malformed {malformed}"
            self.spec_violations.append(problem)
            return error(400, "badRequest", problem)
        if not self._granted(ANALYTICS_SCOPES):
            return error(403, "insufficientPermissions", INSUFFICIENT_SCOPES)
        fault = self.faults.take("reports")
        if fault is not None:
            return fault.reply()
        filters = request.query.get("filters", "")
        if request.query.get("ids") != "channel==MINE" or not filters.startswith("video==") or ";" in filters:
            return error(400, "badRequest", "this fake answers ids=channel==MINE with filters=video==ID only")
        names = request.query["metrics"].split(",")
        if not set(names) <= {"views", "estimatedMinutesWatched", "averageViewDuration"}:
            return error(400, "badRequest", f"Unknown identifier in metrics: {request.query['metrics']}")
        headers = [
            {"name": name, "columnType": "METRIC", "dataType": "FLOAT" if name == "averageViewDuration" else "INTEGER"}
            for name in names
        ]
        with self.lock:
            row = self.analytics.get(filters.removeprefix("video=="))
        body: dict[str, Any] = {"kind": "youtubeAnalytics#resultTable", "columnHeaders": headers}
        if row is not None:
            body["rows"] = [[row[name] for name in names]]
        return Reply(200, body)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Stop, then fail the test on an Analytics request the discovery document does not allow."""
        super().__exit__(exc_type, exc, tb)
        found, self.spec_violations = self.spec_violations, []
        if exc_type is None and found:
            raise AssertionError("requests that break youtubeAnalytics.v2.json:\n  " + "\n  ".join(found))

    def _authorized(self, request: RecordedRequest) -> bool:
        return bool(request.bearer) and request.bearer in self.valid_tokens

    def _tokeninfo(self, request: RecordedRequest) -> Reply:
        """Google's tokeninfo: `?access_token=`, no Authorization; 400 invalid_token for an unknown token."""
        token = request.query.get("access_token", "")
        if token not in self.valid_tokens:
            return Reply(400, {"error": "invalid_token", "error_description": "Invalid Value"})
        client = "fake-client.apps.googleusercontent.com"
        info = {
            "azp": client,
            "aud": client,
            "scope": self.token_scopes,
            "expires_in": "3599",
            "access_type": "offline",
        }
        return Reply(200, info)

    def _channels(self, request: RecordedRequest) -> Reply:
        """`channels.list`: `part` is required, `mine=true` lists the token's channel (none: an empty list)."""
        if not self._authorized(request):
            return UNAUTHORIZED
        if not request.query.get("part") or request.query.get("mine") != "true":
            return error(400, "missingRequiredParameter", "part and mine=true are required here")
        if "youtube.readonly" not in self.token_scopes and "auth/youtube " not in self.token_scopes + " ":
            return error(403, "insufficientPermissions", "Request had insufficient authentication scopes.")
        items = [self.channel] if self.channel is not None else []
        return Reply(
            200, {"kind": "youtube#channelListResponse", "pageInfo": {"totalResults": len(items)}, "items": items}
        )

    def _start(self, request: RecordedRequest) -> Reply | None:
        if request.path != "/upload/youtube/v3/videos" or request.query.get("uploadType") != "resumable":
            return error(404, "notFound", f"No route {request.path}")
        if not self._authorized(request):
            return UNAUTHORIZED
        fault = self.faults.take("start")
        if fault is not None and fault.accept_bytes is None:
            return fault.reply()
        if not request.query.get("part") or not isinstance(request.json, dict):
            return error(400, "invalidPart", "part and a video resource are required")
        length = request.headers.get("x-upload-content-length")
        if not length or not length.isdigit():
            return error(400, "badRequest", "X-Upload-Content-Length is required")
        upload_id = secrets.token_urlsafe(12)
        with self.lock:
            self.sessions[upload_id] = Session(upload_id, int(length), request.json, request.query)
        location = f"{self.base_url}/upload/youtube/v3/videos?uploadType=resumable&upload_id={upload_id}"
        return Reply(200, None, {"Location": location})

    def _put(self, request: RecordedRequest) -> Reply | None:
        """A chunk (`Content-Range: bytes s-e/total`) or a status query (`bytes */total`) of a session."""
        if not self._authorized(request):
            return UNAUTHORIZED
        with self.lock:
            session = self.sessions.get(request.query.get("upload_id", ""))
            gone = session is None or session.upload_id in self.expired
        if gone or session is None:
            return error(404, "notFound", "The upload session was not found or expired.")
        content_range = CONTENT_RANGE.match(request.headers.get("content-range", ""))
        if content_range is None or content_range["total"] != str(session.total):
            return error(400, "badRequest", "Content-Range must be bytes s-e/total")
        completes = self._completes(session, request)
        fault = self.faults.take(request.route, where=lambda f: not f.final or completes)
        if fault is not None and fault.final:
            return self._lose_final_answer(session, request, fault)
        if fault is not None and fault.accept_bytes is None and not fault.drop:
            return fault.reply()
        if request.route == "chunk":
            body = request.body
            first, last = int(content_range["first"]), int(content_range["last"])
            if first > len(session.received) or last - first + 1 != len(body):
                return error(400, "badRequest", "the chunk does not follow the upload")
            keep = fault.accept_bytes if fault is not None and fault.accept_bytes is not None else len(body)
            with self.lock:
                # A resent chunk may overlap what the session holds: keep only the new bytes.
                session.received.extend(body[len(session.received) - first : keep])
        if fault is not None and fault.drop:
            return None  # the bytes are kept, the answer is lost
        if len(session.received) == session.total:
            with self.lock:
                video = self.videos.get(session.video_id) or self._video(session)
            return Reply(200, video)
        held = len(session.received)
        return Reply(308, None, {"Range": f"bytes=0-{held - 1}"} if held else {})

    @staticmethod
    def _completes(session: Session, request: RecordedRequest) -> bool:
        """Whether this chunk holds the session's last byte."""
        content_range = CONTENT_RANGE.match(request.headers.get("content-range", ""))
        return bool(content_range and content_range["last"] and int(content_range["last"]) + 1 == session.total)

    def _lose_final_answer(self, session: Session, request: RecordedRequest, fault: Fault) -> Reply | None:
        """Take the last chunk (the video exists from now on), then lose the answer and maybe the session."""
        first = int(CONTENT_RANGE.match(request.headers["content-range"])["first"])  # type: ignore[index]
        with self.lock:
            session.received.extend(request.body[len(session.received) - first :])
            if not session.video_id:
                self._video(session)
            if fault.expire:
                self.expired.add(session.upload_id)
        return fault.reply()

    def _playlist_items(self, request: RecordedRequest) -> Reply:
        """`playlistItems.list` of the uploads playlist, newest first, with `snippet.resourceId.videoId`."""
        if not self._authorized(request):
            return UNAUTHORIZED
        uploads = ((self.channel or {}).get("contentDetails") or {}).get("relatedPlaylists", {}).get("uploads")
        if request.query.get("playlistId") != uploads or "snippet" not in request.query.get("part", ""):
            return error(
                404, "playlistNotFound", "The playlist identified with the request's playlistId cannot be found."
            )
        with self.lock:
            videos = list(self.videos.values())[: len(self.videos) - self.uploads_hide_newest]
        limit = int(request.query.get("maxResults", "5"))
        items = [
            {
                "kind": "youtube#playlistItem",
                "id": f"PLI{video['id']}",
                "snippet": {
                    "title": video["snippet"].get("title", ""),
                    "description": video["snippet"].get("description", ""),
                    "playlistId": uploads,
                    "resourceId": {"kind": "youtube#video", "videoId": video["id"]},
                },
            }
            for video in reversed(videos[-limit:])
        ]
        return Reply(200, {"kind": "youtube#playlistItemListResponse", "items": items})

    def _list(self, request: RecordedRequest) -> Reply | None:
        if not self._authorized(request):
            return UNAUTHORIZED
        if not self._granted(LIST_SCOPES):
            return error(403, "insufficientPermissions", INSUFFICIENT_SCOPES)
        fault = self.faults.take("list")
        if fault is not None:
            return fault.reply()
        ids = [item for item in request.query.get("id", "").split(",") if item]
        parts = request.query.get("part", "").split(",")
        if parts == ["statistics"]:  # only the parts asked for; an unknown (deleted) id is simply left out
            with self.lock:
                items = [
                    {"kind": "youtube#video", "etag": self.videos[video_id]["etag"], "id": video_id}
                    | {"statistics": self.statistics.get(video_id, {})}
                    for video_id in ids
                    if video_id in self.videos
                ]
            return Reply(200, {"kind": "youtube#videoListResponse", "items": items})
        with self.lock:
            items = [self._listed(video_id) for video_id in ids if video_id in self.videos]
        return Reply(200, {"kind": "youtube#videoListResponse", "items": items})

    def _token(self, request: RecordedRequest) -> Reply:
        form = request.urlencoded
        if form.get("grant_type") != "refresh_token" or form.get("refresh_token") != self.refresh_token:
            return Reply(400, {"error": "invalid_grant", "error_description": "Token has been revoked."})
        with self.lock:
            self.tokens_issued += 1
            token = f"ya29.fresh-{self.tokens_issued}-{secrets.token_hex(4)}"
            self.valid_tokens.add(token)
        return Reply(200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"})

    def _video(self, session: Session) -> dict[str, Any]:
        snippet = dict(session.metadata.get("snippet", {}))
        status = dict(session.metadata.get("status", {}))
        status.setdefault("privacyStatus", "public")
        status["madeForKids"] = bool(status.get("selfDeclaredMadeForKids", False))
        status.update({"uploadStatus": "uploaded", "license": "youtube", "embeddable": True})
        video_id = "yt" + secrets.token_urlsafe(7)[:9]
        video = {
            "kind": "youtube#video",
            "etag": secrets.token_hex(8),
            "id": video_id,
            "snippet": {**snippet, "channelId": "UCfakechannel000000000000"},
            "status": status,
            "processingDetails": {"processingStatus": "processing"},
        }
        session.video_id = video_id
        self.videos[video_id] = video
        return video

    def _listed(self, video_id: str) -> dict[str, Any]:
        video = json.loads(json.dumps(self.videos[video_id]))
        self._polls[video_id] += 1
        if self._polls[video_id] > self.processing_polls:
            upload_status, reason = self.outcome
            video["status"]["uploadStatus"] = upload_status
            if upload_status == "failed":
                video["status"]["failureReason"] = reason or "conversion"
            if upload_status == "rejected":
                video["status"]["rejectionReason"] = reason or "duplicate"
            video["processingDetails"] = {"processingStatus": "succeeded" if upload_status == "processed" else "failed"}
        return video
