"""A local X API v2 for tests: real HTTP on 127.0.0.1 speaking the path-style chunked media upload and posts.

Routes: `POST /2/media/upload/initialize` (JSON), `POST /2/media/upload/{id}/append` (multipart `segment_index`,
`media`), `POST /2/media/upload/{id}/finalize`, `GET /2/media/upload?command=STATUS&media_id=`, `POST /2/tweets`,
all behind `Authorization: Bearer`. Errors are X's problem details (`title`, `detail`, `type`, `status`).
Appends must arrive in order and within the segment limit; FINALIZE checks the byte total; STATUS goes
pending → in_progress → succeeded (or failed) over polls. Faults are scripted per route; `fail_after_next`
answers an error although the request took effect (the post exists, the client never learns its id).
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

MIB = 1024 * 1024
MEDIA_PATH = re.compile(r"^/2/media/upload/(?P<id>\d+)/(?P<command>append|finalize)$")


@dataclass
class Recorded:
    """One request as received: method, route name, query, lower-cased headers, raw body, parsed fields."""

    method: str
    route: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    json: Any = None
    form: dict[str, bytes] = field(default_factory=dict)


@dataclass
class Fault:
    """A scripted answer: an error (status, headers, problem detail), a dropped connection, or an error after
    the request took effect (`after`)."""

    status: int = 500
    detail: str = "Internal error"
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    after: bool = False


@dataclass
class Media:
    media_id: str
    total_bytes: int
    media_category: str
    segments: dict[int, bytes] = field(default_factory=dict)
    finalized: bool = False
    status_polls: int = 0
    error: str = ""

    @property
    def received(self) -> bytes:
        return b"".join(self.segments[index] for index in sorted(self.segments))


def problem(status: int, title: str, detail: str) -> dict[str, Any]:
    return {"title": title, "detail": detail, "type": "about:blank", "status": status}


def parse_multipart(content_type: str, body: bytes) -> dict[str, bytes] | None:
    """The fields of a multipart/form-data body, or None when it is not one."""
    if not content_type.startswith("multipart/form-data"):
        return None
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    if not message.is_multipart():
        return None
    fields: dict[str, bytes] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            fields[name] = payload
    return fields


class FakeX:
    """Context manager running the fake on a free port; `.base_url` replaces https://api.x.com."""

    def __init__(self, access_token: str = "x-user-token") -> None:
        self.access_token = access_token
        self.max_segment_bytes = 5 * MIB
        self.processing_polls = 2  # STATUS answers before `succeeded`
        self.check_after_secs = 1
        self.requests: list[Recorded] = []
        self.media: dict[str, Media] = {}
        self.tweets: list[dict[str, Any]] = []
        self._next_processing_error = ""
        self._faults: dict[str, deque[Fault]] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-x", daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # --- scripting -------------------------------------------------------------------------------------------
    def fail_next(
        self,
        route: str,
        status: int = 500,
        detail: str = "Internal error",
        *,
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """The next `times` requests to `route` (initialize, append, append:<index>, finalize, status, tweets)
        get this error."""
        with self._lock:
            self._faults.setdefault(route, deque()).extend(Fault(status, detail, headers or {}) for _ in range(times))

    def drop_next(self, route: str, *, times: int = 1) -> None:
        """The next `times` requests to `route` are read, then the connection is closed without an answer."""
        with self._lock:
            self._faults.setdefault(route, deque()).extend(Fault(drop=True) for _ in range(times))

    def fail_after_next(self, route: str, status: int = 503, detail: str = "Service Unavailable") -> None:
        """The next request to `route` takes effect, then is answered with this error."""
        with self._lock:
            self._faults.setdefault(route, deque()).append(Fault(status, detail, after=True))

    def fail_next_processing(self, message: str) -> None:
        """The next media's processing ends in `failed` with this message."""
        self._next_processing_error = message

    def calls(self, route: str) -> list[Recorded]:
        return [r for r in self.requests if r.route == route]

    def __enter__(self) -> FakeX:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # --- protocol --------------------------------------------------------------------------------------------
    def _fault(self, *routes: str) -> Fault | None:
        with self._lock:
            for route in routes:
                queue = self._faults.get(route)
                if queue:
                    return queue.popleft()
        return None

    def answer(self, request: Recorded) -> tuple[int, dict[str, str], Any] | None:
        """(status, headers, JSON body) for one request; None drops the connection."""
        if not request.route:
            return 404, {}, problem(404, "Not Found Error", f"{request.method} {request.path} does not exist")
        if request.headers.get("authorization") != f"Bearer {self.access_token}":
            return 401, {}, problem(401, "Unauthorized", "Unauthorized")
        fault = None
        if request.route == "append" and request.form is not None and request.form.get("segment_index", b"").isdigit():
            fault = self._fault(f"append:{int(request.form['segment_index'])}")
        fault = fault or self._fault(request.route)
        if fault is not None and fault.drop:
            return None
        if fault is not None and not fault.after:
            return fault.status, fault.headers, problem(fault.status, "Error", fault.detail)
        answer = self._serve(request)
        if fault is not None:
            return fault.status, fault.headers, problem(fault.status, "Error", fault.detail)
        return answer

    def _serve(self, request: Recorded) -> tuple[int, dict[str, str], Any]:
        if request.route == "initialize":
            return self._initialize(request.json if isinstance(request.json, dict) else {})
        if request.route == "tweets":
            return self._tweet(request.json if isinstance(request.json, dict) else {})
        media_id = request.query.get("media_id", "") if request.route == "status" else request.path.split("/")[4]
        media = self.media.get(media_id)
        if media is None:
            return 400, {}, problem(400, "Invalid Request", f"media_id {media_id} is unknown or expired")
        if request.route == "append":
            return self._append(media, request.form)
        if request.route == "finalize":
            return self._finalize(media)
        return self._status(media, request.query)

    def _initialize(self, body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        total = body.get("total_bytes")
        if body.get("media_type") != "video/mp4" or not isinstance(total, int) or not 0 < total <= 512 * MIB:
            return 400, {}, problem(400, "Invalid Request", "media_type video/mp4 and total_bytes 1–512 MiB needed")
        if body.get("media_category") not in ("amplify_video", "tweet_video"):
            return 400, {}, problem(400, "Invalid Request", "media_category must be a video category")
        media_id = str(1_880_000_000_000_000_000 + len(self.media) + 1)
        self.media[media_id] = Media(media_id, total, body["media_category"], error=self._next_processing_error)
        self._next_processing_error = ""
        data = {"id": media_id, "media_key": f"7_{media_id}", "expires_after_secs": 86400}
        return 200, {}, {"data": data}

    def _append(self, media: Media, form: dict[str, bytes]) -> tuple[int, dict[str, str], Any]:
        index_text, chunk = form.get("segment_index", b""), form.get("media")
        if media.finalized or not index_text.isdigit() or chunk is None:
            return 400, {}, problem(400, "Invalid Request", "multipart segment_index and media are required")
        index = int(index_text)
        # In order, no gaps; re-sending a segment replaces it (what a retry after a lost answer does).
        if index > len(media.segments) or index > 999 or not 0 < len(chunk) <= self.max_segment_bytes:
            return 400, {}, problem(400, "Invalid Request", f"segment {index} is out of order or of a bad size")
        media.segments[index] = chunk
        return 200, {}, {"data": {"expires_at": int(time.time()) + 86400}}

    def _finalize(self, media: Media) -> tuple[int, dict[str, str], Any]:
        if len(media.received) != media.total_bytes:
            detail = f"received {len(media.received)} of {media.total_bytes} bytes"
            return 400, {}, problem(400, "Invalid Request", detail)
        media.finalized = True
        info = {"state": "pending", "check_after_secs": self.check_after_secs}
        data = {"id": media.media_id, "media_key": f"7_{media.media_id}", "size": media.total_bytes}
        return 200, {}, {"data": data | {"expires_after_secs": 86400, "processing_info": info}}

    def _status(self, media: Media, query: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        if query.get("command") != "STATUS" or not media.finalized:
            return 400, {}, problem(400, "Invalid Request", "STATUS needs a finalized media_id")
        media.status_polls += 1
        info: dict[str, Any] = {"state": "in_progress", "check_after_secs": self.check_after_secs}
        info["progress_percent"] = min(99, 100 * media.status_polls // (self.processing_polls + 1))
        if media.status_polls > self.processing_polls:
            info = {"state": "failed", "error": {"code": 1, "name": "InvalidMedia", "message": media.error}}
            if not media.error:
                info = {"state": "succeeded", "progress_percent": 100}
        return 200, {}, {"data": {"id": media.media_id, "media_key": f"7_{media.media_id}", "processing_info": info}}

    def _tweet(self, body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        text = body.get("text")
        media_ids = (body.get("media") or {}).get("media_ids")
        if not isinstance(text, str) or not 0 < len(text) <= 280:
            return 400, {}, problem(400, "Invalid Request", "text must be 1–280 characters")
        if not isinstance(media_ids, list) or len(media_ids) != 1:
            return 400, {}, problem(400, "Invalid Request", "one video per post: media.media_ids needs one id")
        media = self.media.get(str(media_ids[0]))
        if media is None or media.status_polls <= self.processing_polls or media.error:
            return 400, {}, problem(400, "Invalid Request", "the media is not processed yet")
        if any(tweet["text"] == text for tweet in self.tweets):
            detail = "You are not allowed to create a Tweet with duplicate content."
            return 403, {}, problem(403, "Forbidden", detail)
        tweet = {"id": str(1_890_000_000_000_000_000 + len(self.tweets) + 1), "text": text, "media_ids": media_ids}
        self.tweets.append(tweet)
        return 201, {}, {"data": {"id": tweet["id"], "text": text}}


def _route(method: str, path: str) -> str:
    if method == "POST" and path == "/2/media/upload/initialize":
        return "initialize"
    if method == "GET" and path == "/2/media/upload":
        return "status"
    if method == "POST" and path == "/2/tweets":
        return "tweets"
    match = MEDIA_PATH.match(path)
    return match.group("command") if match and method == "POST" else ""


def _handler_for(fake: FakeX) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self._serve()

        def do_GET(self) -> None:
            self._serve()

        def _serve(self) -> None:
            url = urlsplit(self.path)
            raw = self.rfile.read(int(self.headers.get("content-length") or 0))
            content_type = self.headers.get("content-type", "")
            try:
                payload = json.loads(raw) if raw and content_type.startswith("application/json") else None
            except json.JSONDecodeError:
                payload = None
            request = Recorded(
                method=self.command,
                route=_route(self.command, url.path),
                path=url.path,
                query={name: values[0] for name, values in parse_qs(url.query).items()},
                headers={name.lower(): value for name, value in self.headers.items()},
                body=raw,
                json=payload,
                form=parse_multipart(content_type, raw) or {},
            )
            with fake._lock:
                fake.requests.append(request)
            answer = fake.answer(request)
            if answer is None:
                self.close_connection = True  # the client sees the connection drop mid-request
                return
            status, headers, body = answer
            data = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("content-type", "application/json; charset=utf-8")
                self.send_header("content-length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep pytest output clean

    return Handler
