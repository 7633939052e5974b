"""A local YouTube Data API v3 server for tests: real HTTP on 127.0.0.1, driven by google-api-python-client.

Speaks the resumable upload protocol: `POST /upload/youtube/v3/videos?uploadType=resumable&part=...` answers 200
with a session `Location`; `PUT <session>` with `Content-Range: bytes s-e/total` answers 308 + `Range` until the
last byte, then 200 with the video resource; `Content-Range: bytes */total` is a status query. `GET
/youtube/v3/videos?part=status,processingDetails&id=` reports `uploaded`, then `processed` (or a scripted
failure). `POST /token` refreshes an OAuth access token. Every request needs a Bearer token the server issued.

Faults are scripted per kind of request ("start", "chunk", "query", "list"): an error status with Google's
error envelope, a dropped connection, a chunk accepted only in part, expired sessions.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

RequestKind = Literal["start", "chunk", "query", "list", "token"]
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


@dataclass
class Fault:
    """What to do to a request of `kind`, after letting `after` of them through, `times` times."""

    kind: RequestKind
    action: Literal["status", "drop", "partial"]
    times: int = 1
    after: int = 0
    status: int = 503
    body: dict[str, Any] | None = None
    accept_bytes: int = 0


@dataclass
class Session:
    """One resumable upload session and the bytes it holds."""

    upload_id: str
    total: int
    metadata: dict[str, Any]
    query: dict[str, str]
    received: bytearray = field(default_factory=bytearray)
    video_id: str = ""


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body_size: int
    kind: str


class FakeYouTube:
    """The fake API. Use as a context manager; `base_url` is the root to give the client."""

    def __init__(self, *, refresh_token: str = "refresh-1", processing_polls: int = 1) -> None:
        self.refresh_token = refresh_token
        self.processing_polls = processing_polls  # `videos.list` answers before a video reads `processed`
        self.valid_tokens: set[str] = set()
        self.sessions: dict[str, Session] = {}
        self.videos: dict[str, dict[str, Any]] = {}
        self.requests: list[RecordedRequest] = []
        self.faults: list[Fault] = []
        self.expired: set[str] = set()
        self.outcome: tuple[str, str] = ("processed", "")  # (uploadStatus after processing, reason)
        self.tokens_issued = 0
        self._seen: Counter[str] = Counter()
        self._polls: Counter[str] = Counter()
        self.lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)

    # -- lifecycle -------------------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> FakeYouTube:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- scripting -------------------------------------------------------------------------------------------

    def accept_token(self, token: str) -> None:
        self.valid_tokens.add(token)

    def revoke_token(self, token: str) -> None:
        self.valid_tokens.discard(token)

    def fail(self, kind: RequestKind, status: int = 503, *, times: int = 1, after: int = 0, reason: str = "") -> None:
        """Answer the next `times` requests of `kind` (after `after` good ones) with `status`."""
        body = error_envelope(status, reason or "backendError", f"Scripted HTTP {status}")
        self.faults.append(Fault(kind, "status", times=times, after=after, status=status, body=body))

    def quota(self, reason: str = "rateLimitExceeded") -> None:
        """Refuse the next upload start with one of the daily quota errors (see QUOTA_ERRORS)."""
        status, domain, message = QUOTA_ERRORS[reason]
        body = error_envelope(status, reason, message, domain)
        self.faults.append(Fault("start", "status", status=status, body=body))

    def drop(self, kind: RequestKind = "chunk", *, times: int = 1, after: int = 0) -> None:
        """Read the next request of `kind`, keep its bytes, and close the connection without answering."""
        self.faults.append(Fault(kind, "drop", times=times, after=after))

    def accept_partially(self, accept_bytes: int, *, after: int = 0) -> None:
        """Keep only the first `accept_bytes` of the next chunk and answer 308 with the smaller Range."""
        self.faults.append(Fault("chunk", "partial", after=after, accept_bytes=accept_bytes))

    def expire_sessions(self) -> None:
        """Every session open now answers 404 from now on."""
        with self.lock:
            self.expired.update(self.sessions)

    def finish_processing_as(self, upload_status: str, reason: str = "") -> None:
        """What `videos.list` reports once processing ends: processed, failed or rejected (with a reason)."""
        self.outcome = (upload_status, reason)

    # -- what happened ---------------------------------------------------------------------------------------

    def count(self, kind: str) -> int:
        return sum(1 for request in self.requests if request.kind == kind)

    def uploaded_bytes(self, video_id: str) -> bytes:
        with self.lock:
            return next(bytes(s.received) for s in self.sessions.values() if s.video_id == video_id)

    # -- protocol --------------------------------------------------------------------------------------------

    def _take_fault(self, kind: str) -> Fault | None:
        with self.lock:
            self._seen[kind] += 1
            for fault in self.faults:
                if fault.kind != kind or fault.times <= 0:
                    continue
                if fault.after > 0:
                    fault.after -= 1
                    return None
                fault.times -= 1
                return fault
        return None

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

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _reply(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                if body is not None:
                    self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _read(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _record(self, kind: str, body: bytes) -> tuple[str, dict[str, str]]:
                parts = urlsplit(self.path)
                query = {name: values[0] for name, values in parse_qs(parts.query).items()}
                with fake.lock:
                    fake.requests.append(
                        RecordedRequest(
                            self.command,
                            parts.path,
                            query,
                            {k.lower(): v for k, v in self.headers.items()},
                            len(body),
                            kind,
                        )
                    )
                return parts.path, query

            def _authorized(self) -> bool:
                header = self.headers.get("Authorization", "")
                token = header.removeprefix("Bearer ") if header.startswith("Bearer ") else ""
                if token and token in fake.valid_tokens:
                    return True
                self._reply(401, error_envelope(401, "authError", "Invalid Credentials", "global"))
                return False

            def _fault(self, kind: RequestKind, body: bytes) -> Fault | None:
                """Apply a scripted status or drop; return a 'partial' fault for the caller to apply."""
                fault = fake._take_fault(kind)
                if fault is None or fault.action == "partial":
                    return fault
                if fault.action == "drop":
                    self.close_connection = True
                    return Fault(kind, "drop")  # the caller keeps the bytes, then says nothing
                self._reply(fault.status, fault.body)
                return Fault(kind, "status")

            def do_POST(self) -> None:
                body = self._read()
                parts = urlsplit(self.path)
                if parts.path == "/token":
                    self._record("token", body)
                    self._token(body)
                    return
                path, query = self._record("start", body)
                if path != "/upload/youtube/v3/videos" or query.get("uploadType") != "resumable":
                    self._reply(404, error_envelope(404, "notFound", f"No route {path}"))
                    return
                if not self._authorized():
                    return
                fault = self._fault("start", body)
                if fault is not None and fault.action != "partial":
                    return
                if not query.get("part") or not body:
                    self._reply(400, error_envelope(400, "invalidPart", "part and a video resource are required"))
                    return
                length = self.headers.get("X-Upload-Content-Length")
                if not length or not length.isdigit():
                    self._reply(400, error_envelope(400, "badRequest", "X-Upload-Content-Length is required"))
                    return
                upload_id = secrets.token_urlsafe(12)
                with fake.lock:
                    fake.sessions[upload_id] = Session(upload_id, int(length), json.loads(body), query)
                location = f"{fake.base_url}/upload/youtube/v3/videos?uploadType=resumable&upload_id={upload_id}"
                self._reply(200, None, {"Location": location})

            def do_PUT(self) -> None:
                body = self._read()
                content_range = CONTENT_RANGE.match(self.headers.get("Content-Range", ""))
                kind: RequestKind = "query" if content_range and content_range["first"] is None else "chunk"
                _, query = self._record(kind, body)
                if not self._authorized():
                    return
                with fake.lock:
                    session = fake.sessions.get(query.get("upload_id", ""))
                    gone = session is None or session.upload_id in fake.expired
                if gone or session is None:
                    self._reply(404, error_envelope(404, "notFound", "The upload session was not found or expired."))
                    return
                if content_range is None or content_range["total"] != str(session.total):
                    self._reply(400, error_envelope(400, "badRequest", "Content-Range must be bytes s-e/total"))
                    return
                fault = self._fault(kind, body)
                if fault is not None and fault.action == "status":
                    return
                if kind == "chunk":
                    first, last = int(content_range["first"]), int(content_range["last"])
                    if first > len(session.received) or last - first + 1 != len(body):
                        self._reply(400, error_envelope(400, "badRequest", "the chunk does not follow the upload"))
                        return
                    keep = fault.accept_bytes if fault is not None and fault.action == "partial" else len(body)
                    with fake.lock:
                        # A resent chunk may overlap what the session holds: keep only the new bytes.
                        session.received.extend(body[len(session.received) - first : keep])
                if fault is not None and fault.action == "drop":
                    return
                if len(session.received) == session.total:
                    with fake.lock:
                        video = fake.videos.get(session.video_id) or fake._video(session)
                    self._reply(200, video)
                    return
                held = len(session.received)
                self._reply(308, None, {"Range": f"bytes=0-{held - 1}"} if held else {})

            def do_GET(self) -> None:
                path, query = self._record("list", b"")
                if path != "/youtube/v3/videos":
                    self._reply(404, error_envelope(404, "notFound", f"No route {path}"))
                    return
                if not self._authorized():
                    return
                fault = self._fault("list", b"")
                if fault is not None:
                    return
                ids = [item for item in query.get("id", "").split(",") if item]
                with fake.lock:
                    items = [fake._listed(video_id) for video_id in ids if video_id in fake.videos]
                self._reply(200, {"kind": "youtube#videoListResponse", "items": items})

            def _token(self, body: bytes) -> None:
                form = {name: values[0] for name, values in parse_qs(body.decode()).items()}
                if form.get("grant_type") != "refresh_token" or form.get("refresh_token") != fake.refresh_token:
                    self._reply(400, {"error": "invalid_grant", "error_description": "Token has been revoked."})
                    return
                with fake.lock:
                    fake.tokens_issued += 1
                    token = f"ya29.fresh-{fake.tokens_issued}-{secrets.token_hex(4)}"
                    fake.valid_tokens.add(token)
                self._reply(200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"})

        return Handler
