"""A local LinkedIn server for tests: the Videos and Posts APIs plus the part-upload URLs, on one real HTTP server
on 127.0.0.1.

`POST /rest/videos?action=initializeUpload` answers several `uploadInstructions` (each with its own URL pointing
back here), every part `PUT` answers its own `ETag`, `finalizeUpload` checks the ETags in part order, the video
status goes WAITING_UPLOAD → PROCESSING → AVAILABLE over polls, and `POST /rest/posts` answers 201 with the post
URN in `x-restli-id`. Every `/rest` call must carry `Authorization: Bearer`, `LinkedIn-Version` and
`X-Restli-Protocol-Version: 2.0.0`. Faults are scripted per route (`fail`, `drop`, `fail_processing`).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit


@dataclass
class Recorded:
    method: str
    route: str
    path: str
    headers: dict[str, str]
    json: Any
    body_size: int


@dataclass
class Fault:
    route: str
    times: int
    status: int = 500
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    part: int | None = None


@dataclass
class Video:
    urn: str
    owner: str
    size: int
    upload_token: str
    ranges: list[tuple[int, int]]
    parts: dict[int, bytes] = field(default_factory=dict)
    etags: dict[int, str] = field(default_factory=dict)
    status: str = "WAITING_UPLOAD"
    polls: int = 0
    fail_reason: str = ""

    def data(self) -> bytes:
        return b"".join(self.parts[i] for i in range(len(self.ranges)) if i in self.parts)


class FakeLinkedIn:
    """Context manager running the fake on a free port; `.base_url` is the `api_base_url`."""

    def __init__(self, *, token: str = "li-test-token", version: str = "202605", part_size: int = 256 * 1024) -> None:
        self.token = token
        self.version = version
        self.part_size = part_size
        self.processing_polls = 2
        self.videos: dict[str, Video] = {}
        self.posts: dict[str, dict[str, Any]] = {}
        self.requests: list[Recorded] = []
        self._faults: list[Fault] = []
        self._fail_reason = ""
        self._ids = itertools.count(7100000000000000001)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-linkedin", daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> FakeLinkedIn:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail(
        self,
        route: str,
        *,
        status: int = 500,
        body: Any = None,
        times: int = 1,
        headers: dict[str, str] | None = None,
        part: int | None = None,
    ) -> None:
        """The next `times` requests on `route` get this error (`part`: only that part's PUT).

        Routes: initialize, upload, finalize, video, posts.
        """
        with self._lock:
            self._faults.append(Fault(route, times, status, body, headers or {}, part=part))

    def drop(self, route: str = "upload", *, times: int = 1, part: int | None = None) -> None:
        """Cut the connection halfway through the body of the next `times` requests on `route`."""
        with self._lock:
            self._faults.append(Fault(route, times, drop=True, part=part))

    def fail_processing(self, reason: str = "Video is too short: minimum duration is 3 seconds") -> None:
        """Videos finalized from now on end PROCESSING_FAILED with this reason."""
        self._fail_reason = reason

    def routes(self, route: str) -> list[Recorded]:
        return [r for r in self.requests if r.route == route]

    def _take_fault(self, route: str, part: int | None) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.route == route and fault.times > 0 and fault.part in (None, part):
                    fault.times -= 1
                    return fault
        return None


def _error(status: int, message: str, code: str = "") -> dict[str, Any]:
    return {"status": status, "code": code or "ERROR", "message": message}


def _route(method: str, path: str, action: str) -> tuple[str, int | None]:
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["dms-uploads"] and method == "PUT" and len(parts) == 3:
        return "upload", int(parts[2])
    if parts == ["rest", "videos"] and method == "POST":
        return {"initializeUpload": "initialize", "finalizeUpload": "finalize"}.get(action, "unknown"), None
    if parts[:2] == ["rest", "videos"] and len(parts) == 3 and method == "GET":
        return "video", None
    if parts == ["rest", "posts"] and method == "POST":
        return "posts", None
    return "unknown", None


def _handler_for(fake: FakeLinkedIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out as separate writes: avoid delayed-ACK stalls

        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def do_PUT(self) -> None:
            self._handle("PUT")

        def _send(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            if body is not None:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def _handle(self, method: str) -> None:
            url = urlsplit(self.path)
            params = dict(parse_qsl(url.query))
            headers = {k.lower(): v for k, v in self.headers.items()}
            length = int(headers.get("content-length", 0))
            route, part = _route(method, url.path, params.get("action", ""))
            fault = fake._take_fault(route, part)
            if fault is not None and fault.drop:
                self.rfile.read(length // 2)
                self.close_connection = True
                self.connection.close()
                return
            raw = self.rfile.read(length) if length else b""
            body: Any = None
            if route != "upload" and raw:
                try:
                    body = json.loads(raw)
                except ValueError:
                    self._send(400, _error(400, "Body is not JSON"))
                    return
            fake.requests.append(Recorded(method, route, url.path, headers, body, len(raw)))
            if headers.get("authorization") != f"Bearer {fake.token}":
                self._send(401, _error(401, "Invalid access token", "REVOKED_ACCESS_TOKEN"))
                return
            if route != "upload":
                if headers.get("linkedin-version") != fake.version:
                    self._send(426, _error(426, f"Requested version {headers.get('linkedin-version')} is not active"))
                    return
                if headers.get("x-restli-protocol-version") != "2.0.0":
                    self._send(400, _error(400, "X-Restli-Protocol-Version 2.0.0 is required"))
                    return
            if fault is not None:
                self._send(fault.status, fault.body or _error(fault.status, "Internal Server Error"), fault.headers)
                return
            with fake._lock:
                status, answer, extra = self._answer(route, part, url.path, params, body, raw)
            self._send(status, answer, extra)

        def _answer(
            self, route: str, part: int | None, path: str, params: dict[str, str], body: Any, raw: bytes
        ) -> tuple[int, Any, dict[str, str]]:
            video: Video | None
            if route == "initialize":
                request = (body or {}).get("initializeUploadRequest") or {}
                size = request.get("fileSizeBytes")
                if not isinstance(size, int) or size <= 0 or not str(request.get("owner", "")).startswith("urn:li:"):
                    return 400, _error(400, "owner and fileSizeBytes are required"), {}
                if request.get("uploadCaptions") is not False or request.get("uploadThumbnail") is not False:
                    return 400, _error(400, "uploadCaptions/uploadThumbnail must be false here"), {}
                serial = next(fake._ids)
                urn = f"urn:li:video:D4E10AQ{serial}"
                ranges = [(first, min(first + fake.part_size, size) - 1) for first in range(0, size, fake.part_size)]
                new = Video(urn, request["owner"], size, f"token-{serial}", ranges, fail_reason=fake._fail_reason)
                fake.videos[urn] = new
                instructions = [
                    {
                        "uploadUrl": f"{fake.base_url}/dms-uploads/{serial}/{i}?ca=vector_feedshare&sig=s{i}",
                        "firstByte": first,
                        "lastByte": last,
                    }
                    for i, (first, last) in enumerate(ranges)
                ]
                expires = int((time.time() + 3600) * 1000)
                value = {
                    "video": urn,
                    "uploadToken": new.upload_token,
                    "uploadUrlsExpireAt": expires,
                    "uploadInstructions": instructions,
                }
                return 200, {"value": value}, {}
            if route == "upload" and part is not None:
                number = path.split("/")[2]
                video = fake.videos.get(f"urn:li:video:D4E10AQ{number}")
                if video is None or part >= len(video.ranges):
                    return 404, _error(404, "Unknown upload URL"), {}
                first, last = video.ranges[part]
                if len(raw) != last - first + 1:
                    return 400, _error(400, f"Part {part} must be {last - first + 1} bytes, got {len(raw)}"), {}
                video.parts[part] = raw
                etag = "/ambry-video/signedId/" + hashlib.sha1(raw + str(time.time_ns()).encode()).hexdigest()
                video.etags[part] = etag
                return 200, None, {"ETag": etag}
            if route == "finalize":
                request = (body or {}).get("finalizeUploadRequest") or {}
                video = fake.videos.get(request.get("video", ""))
                if video is None or request.get("uploadToken") != video.upload_token:
                    return 400, _error(400, "Unknown video or upload token"), {}
                expected = [video.etags.get(i) for i in range(len(video.ranges))]
                if request.get("uploadedPartIds") != expected:
                    return 400, _error(400, "uploadedPartIds do not match the uploaded parts in order"), {}
                video.status = "PROCESSING"
                return 200, {}, {}
            if route == "video":
                video = fake.videos.get(unquote(path.split("/")[3]))
                if video is None:
                    return 404, _error(404, "Not found"), {}
                if video.status == "PROCESSING":
                    video.polls += 1
                    if video.polls > fake.processing_polls:
                        video.status = "PROCESSING_FAILED" if video.fail_reason else "AVAILABLE"
                answer = {"id": video.urn, "owner": video.owner, "status": video.status}
                if video.status == "PROCESSING_FAILED":
                    answer["processingFailureReason"] = video.fail_reason
                return 200, answer, {}
            if route == "posts":
                return self._post(body or {})
            return 404, _error(404, "No resource here"), {}

        def _post(self, body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
            media = (body.get("content") or {}).get("media") or {}
            video = fake.videos.get(media.get("id", ""))
            distribution = {"feedDistribution": "MAIN_FEED", "targetEntities": [], "thirdPartyDistributionChannels": []}
            if (
                body.get("visibility") != "PUBLIC"
                or body.get("lifecycleState") != "PUBLISHED"
                or body.get("distribution") != distribution
                or body.get("isReshareDisabledByAuthor") is not False
                or not isinstance(body.get("commentary"), str)
            ):
                return 422, _error(422, "Invalid post body"), {}
            if video is None or video.owner != body.get("author"):
                return 403, _error(403, "Accessing this video resource is forbidden"), {}
            if video.status != "AVAILABLE":
                return 400, _error(400, f"Video {video.urn} is not AVAILABLE ({video.status})"), {}
            urn = f"urn:li:share:{next(fake._ids)}"
            fake.posts[urn] = body
            return 201, None, {"x-restli-id": urn}

    return Handler
