"""A local Meta server for tests: Graph API (`/v27.0/...`) and rupload (`/ig-api-upload/...`, `/video-upload/...`)
on one real HTTP server on 127.0.0.1.

Instagram: `content_publishing_limit`, `POST /{ig-user}/media` (REELS, resumable) → `{id, uri}`, rupload with
`offset`/`file_size`, container `status_code` IN_PROGRESS → FINISHED over polls, `media_publish`, `permalink`.
Facebook: `GET /{page}`, `POST /{page}/video_reels` start/finish, rupload, `GET /{video}?fields=status` whose
phases progress over polls (with `uploading_phase.bytes_transferred`).
Graph calls need `Authorization: Bearer <token>` (or `access_token=`); rupload needs `Authorization: OAuth <token>`.
Faults are scripted per route (`fail`, `drop`, `expire_token_once`, `error_container`); bytes are stored per
object so tests can compare them with the file, and `published` counts posts.
"""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

VERSION = "v27.0"


@dataclass
class Recorded:
    method: str
    route: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    body_size: int


@dataclass
class Fault:
    """`times` answers on `route`: an HTTP error (status + body) or, with `drop`, a connection cut mid-body."""

    route: str
    times: int
    status: int = 500
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    min_offset: int = 0


@dataclass
class Upload:
    """An IG container or a FB video: the bytes received so far and its processing state."""

    kind: str  # "ig" or "fb"
    owner: str
    caption: str = ""
    file_size: int | None = None
    data: bytearray = field(default_factory=bytearray)
    polls: int = 0
    published_id: str = ""
    fail_with: str = ""  # IG container ERROR status text

    @property
    def complete(self) -> bool:
        return self.file_size is not None and len(self.data) >= self.file_size


def graph_error(message: str, code: int, subcode: int | None = None, kind: str = "OAuthException") -> dict[str, Any]:
    error: dict[str, Any] = {"message": message, "type": kind, "code": code, "fbtrace_id": "AfakeTrace123"}
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": error}


class FakeMeta:
    """Context manager; `.base_url` serves as both `api_base_url` and `upload_base_url`."""

    def __init__(
        self, *, token: str = "meta-test-token", ig_user: str = "17841400000000001", page: str = "100000000000001"
    ) -> None:
        self.token = token
        self.ig_user = ig_user
        self.page = page
        self.processing_polls = 2  # status polls answered IN_PROGRESS/processing after the bytes are complete
        self.quota_usage = 0
        self.quota_total = 50
        self.uploads: dict[str, Upload] = {}
        self.media: dict[str, str] = {}  # IG media id -> container id
        self.requests: list[Recorded] = []
        self.published = 0
        self._faults: list[Fault] = []
        self._expire_once = False
        self._ids = itertools.count(900000000000001)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-meta", daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> FakeMeta:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --- scripting ---------------------------------------------------------------------------------------
    def fail(
        self,
        route: str,
        *,
        status: int = 500,
        body: Any = None,
        times: int = 1,
        headers: dict[str, str] | None = None,
        min_offset: int = 0,
    ) -> None:
        """The next `times` requests on `route` (uploads: at `offset >= min_offset`) get this error.

        Routes: upload, limit, media, publish, start, finish, page, permalink, status.
        """
        with self._lock:
            self._faults.append(Fault(route, times, status, body, headers or {}, min_offset=min_offset))

    def rate_limit(self, route: str, *, times: int = 1) -> None:
        """Graph code 4 (application request limit) on HTTP 400, as Meta sends it."""
        self.fail(route, status=400, body=graph_error("(#4) Application request limit reached", 4), times=times)

    def drop(self, route: str = "upload", *, times: int = 1, min_offset: int = 0) -> None:
        """Cut the connection halfway through the body of the next `times` uploads at `offset >= min_offset`."""
        with self._lock:
            self._faults.append(Fault(route, times, drop=True, min_offset=min_offset))

    def expire_token_once(self) -> None:
        """The next Graph call answers code 190 (expired token); later ones succeed."""
        self._expire_once = True

    def error_container(self, message: str = "Error: Video format is not supported (2207026)") -> None:
        """Every IG container created from now on ends in status_code ERROR with this status text."""
        self._container_error = message

    _container_error = ""

    # --- views for tests ---------------------------------------------------------------------------------
    def received(self, object_id: str) -> bytes:
        return bytes(self.uploads[object_id].data)

    def routes(self, route: str) -> list[Recorded]:
        return [r for r in self.requests if r.route == route]

    def _take_fault(self, route: str, offset: int) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.route == route and fault.times > 0 and offset >= fault.min_offset:
                    fault.times -= 1
                    return fault
        return None


def _route(parts: list[str], params: dict[str, str], fake: FakeMeta) -> str:
    """The endpoint's name, for scripting faults: upload, limit, media, publish, start, finish, page, permalink,
    status."""
    if parts and parts[0] in ("ig-api-upload", "video-upload"):
        return "upload"
    tail = parts[1:]
    if len(tail) == 2:
        edges = {"content_publishing_limit": "limit", "media": "media", "media_publish": "publish"}
        return edges.get(tail[1]) or params.get("upload_phase", "unknown")
    if len(tail) == 1:
        if tail[0] in (fake.page, fake.ig_user):
            return "page"
        return "permalink" if tail[0] in fake.media else "status"
    return "unknown"


def _handler_for(fake: FakeMeta) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out as separate writes: avoid delayed-ACK stalls

        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def _handle(self, method: str) -> None:
            url = urlsplit(self.path)
            parts = [p for p in url.path.split("/") if p]
            params = dict(parse_qsl(url.query))
            headers = {k.lower(): v for k, v in self.headers.items()}
            length = int(headers.get("content-length", 0))
            offset = int(headers.get("offset", 0) or 0)
            if _route(parts, params, fake) == "upload":
                fault = fake._take_fault("upload", offset)
                if fault is not None and fault.drop:
                    self._drop_midway(parts, headers, length)
                    return
            body = self.rfile.read(length) if length else b""
            if headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
                params |= dict(parse_qsl(body.decode()))
            route = _route(parts, params, fake)
            if route != "upload":
                fault = fake._take_fault(route, offset)
            fake.requests.append(Recorded(method, route, url.path, params, headers, len(body)))
            version = parts[1] if route == "upload" and len(parts) > 1 else (parts[0] if parts else "")
            if version != VERSION:
                self._send(400, graph_error(f"Unknown API version {version!r}", 2500))
                return
            if not self._authorized(route, headers, params):
                self._send(401, graph_error("Invalid OAuth access token - Cannot parse access token", 190))
                return
            if route != "upload" and fake._expire_once:
                fake._expire_once = False
                self._send(401, graph_error("Error validating access token: Session has expired", 190, 463))
                return
            if fault is not None:
                self._send(
                    fault.status, fault.body or graph_error("An unexpected error has occurred.", 2), fault.headers
                )
                return
            with fake._lock:
                status, answer = self._answer(method, route, parts, params, headers, body)
            self._send(status, answer)

        def _authorized(self, route: str, headers: dict[str, str], params: dict[str, str]) -> bool:
            auth = headers.get("authorization", "")
            if route == "upload":
                return auth == f"OAuth {fake.token}"
            return auth == f"Bearer {fake.token}" or params.get("access_token") == fake.token

        def _drop_midway(self, parts: list[str], headers: dict[str, str], length: int) -> None:
            """Store the first half of the body (the server got it), then cut the connection unanswered."""
            half = self.rfile.read(length // 2)
            upload = fake.uploads.get(parts[-1])
            offset = int(headers.get("offset", 0) or 0)
            if upload is not None and offset <= len(upload.data):
                with fake._lock:
                    upload.data[offset : offset + len(half)] = half
            self.close_connection = True
            self.connection.close()

        def _answer(
            self,
            method: str,
            route: str,
            parts: list[str],
            params: dict[str, str],
            headers: dict[str, str],
            body: bytes,
        ) -> tuple[int, Any]:
            if route == "upload":
                return self._upload(parts, headers, body)
            account = parts[1] if len(parts) > 1 else ""
            if route == "limit" and account == fake.ig_user:
                return 200, {
                    "data": [
                        {
                            "quota_usage": fake.quota_usage,
                            "config": {"quota_total": fake.quota_total, "quota_duration": 86400},
                        }
                    ]
                }
            if route == "media" and method == "POST" and account == fake.ig_user:
                if params.get("media_type") != "REELS" or params.get("upload_type") != "resumable":
                    return 400, graph_error("Only REELS with upload_type=resumable are supported here", 100)
                container = str(next(fake._ids))
                fake.uploads[container] = Upload(
                    "ig", account, params.get("caption", ""), fail_with=fake._container_error
                )
                return 200, {"id": container, "uri": f"{fake.base_url}/ig-api-upload/{VERSION}/{container}"}
            if route == "publish" and method == "POST" and account == fake.ig_user:
                upload = fake.uploads.get(params.get("creation_id", ""))
                if upload is None or upload.kind != "ig":
                    return 400, graph_error("Invalid creation_id", 100)
                if upload.published_id:
                    return 400, graph_error("The media has already been published", 9007, 2207008)
                if not upload.complete or upload.polls < fake.processing_polls or upload.fail_with:
                    return 400, graph_error("Media ID is not available", 9007, 2207027)
                if fake.quota_usage >= fake.quota_total:
                    return 400, graph_error("Application request limit reached", 9, 2207042)
                upload.published_id = str(next(fake._ids))
                fake.media[upload.published_id] = params["creation_id"]
                fake.quota_usage += 1
                fake.published += 1
                return 200, {"id": upload.published_id}
            if route == "start" and method == "POST" and account == fake.page:
                video_id = str(next(fake._ids))
                fake.uploads[video_id] = Upload("fb", account)
                return 200, {"video_id": video_id, "upload_url": f"{fake.base_url}/video-upload/{VERSION}/{video_id}"}
            if route == "finish" and method == "POST" and account == fake.page:
                upload = fake.uploads.get(params.get("video_id", ""))
                if upload is None or upload.kind != "fb":
                    return 400, graph_error("Invalid video_id", 100)
                if not upload.complete:
                    return 400, graph_error("The video upload is not complete", 6000)
                if params.get("video_state") != "PUBLISHED":
                    return 400, graph_error("video_state must be PUBLISHED here", 100)
                if not upload.published_id:
                    upload.published_id = params["video_id"]
                    upload.caption = params.get("description", "")
                    upload.polls = 0
                    fake.published += 1
                return 200, {"success": True}
            if route == "page":
                return 200, {"id": account, "name": "Fake Page"}
            if route == "permalink":
                return 200, {"id": account, "permalink": f"https://www.instagram.com/reel/C{account[-6:]}/"}
            if route == "status" and account in fake.uploads:
                upload = fake.uploads[account]
                return 200, self._ig_status(upload) if upload.kind == "ig" else self._fb_status(account, upload)
            return 404, graph_error(f"Unsupported {method} request to {'/'.join(parts)}", 100, 33)

        def _upload(self, parts: list[str], headers: dict[str, str], body: bytes) -> tuple[int, Any]:
            kind = {"ig-api-upload": "ig", "video-upload": "fb"}[parts[0]]
            upload = fake.uploads.get(parts[-1])
            if upload is None or upload.kind != kind:
                return 400, graph_error("Unknown upload session", 100)
            try:
                offset, size = int(headers["offset"]), int(headers["file_size"])
            except (KeyError, ValueError):
                return 400, graph_error("The offset and file_size headers are required", 100)
            if upload.file_size not in (None, size):
                return 400, graph_error("file_size differs from the first request", 100)
            if offset > len(upload.data) or offset + len(body) > size:
                return 400, graph_error(f"Bad offset {offset}: {len(upload.data)} bytes received", 100)
            upload.file_size = size
            upload.data[offset : offset + len(body)] = body
            return 200, {"success": True, "message": "Upload successful."}

        def _ig_status(self, upload: Upload) -> dict[str, Any]:
            if upload.published_id:
                return {"status_code": "PUBLISHED", "status": "Published"}
            if not upload.complete:
                return {"status_code": "IN_PROGRESS", "status": "In Progress"}
            upload.polls += 1
            if upload.polls <= fake.processing_polls:
                return {"status_code": "IN_PROGRESS", "status": "In Progress"}
            if upload.fail_with:
                return {"status_code": "ERROR", "status": upload.fail_with}
            return {"status_code": "FINISHED", "status": "Finished: Media has been uploaded and it is ready"}

        def _fb_status(self, video_id: str, upload: Upload) -> dict[str, Any]:
            uploading = {
                "status": "complete" if upload.complete else "in_progress",
                "bytes_transferred": len(upload.data),
            }
            not_started = {"status": "not_started"}
            if not upload.published_id:
                status = {
                    "video_status": "upload_complete" if upload.complete else "uploading",
                    "uploading_phase": uploading,
                    "processing_phase": not_started,
                    "publishing_phase": not_started,
                }
                return {"id": video_id, "status": status}
            upload.polls += 1
            done = upload.polls > fake.processing_polls
            status = {
                "video_status": "ready" if done else "processing",
                "uploading_phase": uploading,
                "processing_phase": {"status": "complete" if done else "in_progress"},
                "publishing_phase": {"status": "complete", "publish_status": "published"}
                if done
                else {"status": "not_started"},
            }
            return {"id": video_id, "status": status, "permalink_url": f"/reel/{video_id}/"}

    return Handler
