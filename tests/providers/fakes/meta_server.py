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
from dataclasses import dataclass, field
from typing import Any

from tests.providers.fakes import base
from tests.providers.fakes.base import Exchange, FailAndDrop, FakeServer, Faults, Reply

VERSION = "v27.0"
UPLOAD_KINDS = {"ig-api-upload": "ig", "video-upload": "fb"}  # rupload's first path segment


class Recorded(base.Recorded):
    @property
    def params(self) -> dict[str, str]:
        """Where Graph reads its parameters: the query, and the fields of a form body."""
        form = self.urlencoded if self.content_type.startswith("application/x-www-form-urlencoded") else {}
        return self.query | form

    @property
    def segments(self) -> list[str]:
        return [segment for segment in self.path.split("/") if segment]

    @property
    def offset(self) -> int:
        return int(self.headers.get("offset", 0) or 0)


@dataclass
class Fault(base.Fault):
    """`times` answers on `route`: an HTTP error or, with `drop`, a connection cut mid-body."""

    min_offset: int = 0  # uploads: only at this offset or later


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


def error(status: int, message: str, code: int, subcode: int | None = None) -> Reply:
    return Reply(status, graph_error(message, code, subcode))


class FakeMeta(FailAndDrop[Fault], FakeServer[Recorded]):
    """Context manager; `.base_url` serves as both `api_base_url` and `upload_base_url`.

    `fail(route, status=, body=, times=, headers=, min_offset=)` and `drop(route, times=, min_offset=)` script
    faults on the routes upload, limit, media, publish, start, finish, page, permalink and status (uploads: only
    at `offset >= min_offset`).
    """

    record_type = Recorded
    fault_type = Fault
    protocol_version = "HTTP/1.1"

    def __init__(
        self, *, token: str = "meta-test-token", ig_user: str = "17841400000000001", page: str = "100000000000001"
    ) -> None:
        super().__init__()
        self.token = token
        self.ig_user = ig_user
        self.page = page
        self.processing_polls = 2  # status polls answered IN_PROGRESS/processing after the bytes are complete
        self.quota_usage = 0
        self.quota_total = 50
        self.uploads: dict[str, Upload] = {}
        self.media: dict[str, str] = {}  # IG media id -> container id
        self.published = 0
        self.faults: Faults[Fault] = Faults()
        self._expire_once = False
        self._container_error = ""
        self._ids = itertools.count(900000000000001)

    # --- scripting ---------------------------------------------------------------------------------------
    def scripted_error(self, status: int) -> Any:
        return graph_error("An unexpected error has occurred.", 2)

    def rate_limit(self, route: str, *, times: int = 1) -> None:
        """Graph code 4 (application request limit) on HTTP 400, as Meta sends it."""
        self.fail(route, status=400, body=graph_error("(#4) Application request limit reached", 4), times=times)

    def expire_token_once(self) -> None:
        """The next Graph call answers code 190 (expired token); later ones succeed."""
        self._expire_once = True

    def error_container(self, message: str = "Error: Video format is not supported (2207026)") -> None:
        """Every IG container created from now on ends in status_code ERROR with this status text."""
        self._container_error = message

    # --- views for tests ---------------------------------------------------------------------------------
    def received(self, object_id: str) -> bytes:
        return bytes(self.uploads[object_id].data)

    def routes(self, route: str) -> list[Recorded]:
        return self.calls(route)

    # --- protocol ----------------------------------------------------------------------------------------
    def route_of(self, request: Recorded) -> str:
        """The endpoint's name, for scripting faults: upload, limit, media, publish, start, finish, page,
        permalink, status."""
        segments = request.segments
        if segments and segments[0] in UPLOAD_KINDS:
            return "upload"
        tail = segments[1:]
        if len(tail) == 2:
            edges = {"content_publishing_limit": "limit", "media": "media", "media_publish": "publish"}
            return edges.get(tail[1]) or request.params.get("upload_phase", "unknown")
        if len(tail) == 1:
            if tail[0] in (self.page, self.ig_user):
                return "page"
            return "permalink" if tail[0] in self.media else "status"
        return "unknown"

    def handle(self, exchange: Exchange) -> None:
        """Faults on uploads act before the body is read: a drop keeps the half it got and logs nothing."""
        request = self.request_of(exchange)
        fault = None
        if request.route == "upload":
            fault = self.faults.take("upload", where=lambda f: request.offset >= f.min_offset)
            if fault is not None and fault.drop:
                exchange.cut(exchange.content_length // 2, lambda half: self._keep(request, half))
                return
        request.body = exchange.read_body()
        request.route = self.route_of(request)  # a form body may name the upload phase
        if request.route != "upload":
            fault = self.faults.take(request.route, where=lambda f: request.offset >= f.min_offset)
        self.log(request)
        exchange.send(self.answer(request, fault))

    def _keep(self, request: Recorded, half: bytes) -> None:
        """Store the part of a cut body that arrived (the server got it) where it belongs."""
        upload = self.uploads.get(request.segments[-1])
        if upload is not None and request.offset <= len(upload.data):
            with self.lock:
                upload.data[request.offset : request.offset + len(half)] = half

    def answer(self, request: Recorded, fault: Fault | None = None) -> Reply | None:
        segments, route = request.segments, request.route
        version = segments[1] if route == "upload" and len(segments) > 1 else (segments[0] if segments else "")
        if version != VERSION:
            return error(400, f"Unknown API version {version!r}", 2500)
        if not self._authorized(request):
            return error(401, "Invalid OAuth access token - Cannot parse access token", 190)
        if route != "upload" and self._expire_once:
            self._expire_once = False
            return error(401, "Error validating access token: Session has expired", 190, 463)
        if fault is not None:
            return fault.reply()
        with self.lock:
            return self._upload(request) if route == "upload" else self._graph(request)

    def _authorized(self, request: Recorded) -> bool:
        if request.route == "upload":
            return request.authorization_is("OAuth", self.token)
        return request.bearer_is(self.token) or request.params.get("access_token") == self.token

    def _graph(self, request: Recorded) -> Reply:
        method, route, params = request.method, request.route, request.params
        segments = request.segments
        account = segments[1] if len(segments) > 1 else ""
        if route == "limit" and account == self.ig_user:
            config = {"quota_total": self.quota_total, "quota_duration": 86400}
            return Reply(200, {"data": [{"quota_usage": self.quota_usage, "config": config}]})
        if route == "media" and method == "POST" and account == self.ig_user:
            if params.get("media_type") != "REELS" or params.get("upload_type") != "resumable":
                return error(400, "Only REELS with upload_type=resumable are supported here", 100)
            container = str(next(self._ids))
            self.uploads[container] = Upload("ig", account, params.get("caption", ""), fail_with=self._container_error)
            return Reply(200, {"id": container, "uri": f"{self.base_url}/ig-api-upload/{VERSION}/{container}"})
        if route == "publish" and method == "POST" and account == self.ig_user:
            upload = self.uploads.get(params.get("creation_id", ""))
            if upload is None or upload.kind != "ig":
                return error(400, "Invalid creation_id", 100)
            if upload.published_id:
                return error(400, "The media has already been published", 9007, 2207008)
            if not upload.complete or upload.polls < self.processing_polls or upload.fail_with:
                return error(400, "Media ID is not available", 9007, 2207027)
            if self.quota_usage >= self.quota_total:
                return error(400, "Application request limit reached", 9, 2207042)
            upload.published_id = str(next(self._ids))
            self.media[upload.published_id] = params["creation_id"]
            self.quota_usage += 1
            self.published += 1
            return Reply(200, {"id": upload.published_id})
        if route == "start" and method == "POST" and account == self.page:
            video_id = str(next(self._ids))
            self.uploads[video_id] = Upload("fb", account)
            return Reply(
                200, {"video_id": video_id, "upload_url": f"{self.base_url}/video-upload/{VERSION}/{video_id}"}
            )
        if route == "finish" and method == "POST" and account == self.page:
            upload = self.uploads.get(params.get("video_id", ""))
            if upload is None or upload.kind != "fb":
                return error(400, "Invalid video_id", 100)
            if not upload.complete:
                return error(400, "The video upload is not complete", 6000)
            if params.get("video_state") != "PUBLISHED":
                return error(400, "video_state must be PUBLISHED here", 100)
            if not upload.published_id:
                upload.published_id = params["video_id"]
                upload.caption = params.get("description", "")
                upload.polls = 0
                self.published += 1
            return Reply(200, {"success": True})
        if route == "page":
            return Reply(200, {"id": account, "name": "Fake Page"})
        if route == "permalink":
            return Reply(200, {"id": account, "permalink": f"https://www.instagram.com/reel/C{account[-6:]}/"})
        if route == "status" and account in self.uploads:
            upload = self.uploads[account]
            return Reply(200, self._ig_status(upload) if upload.kind == "ig" else self._fb_status(account, upload))
        return error(404, f"Unsupported {method} request to {'/'.join(segments)}", 100, 33)

    def _upload(self, request: Recorded) -> Reply:
        upload, body = self.uploads.get(request.segments[-1]), request.body
        if upload is None or upload.kind != UPLOAD_KINDS[request.segments[0]]:
            return error(400, "Unknown upload session", 100)
        try:
            offset, size = int(request.headers["offset"]), int(request.headers["file_size"])
        except (KeyError, ValueError):
            return error(400, "The offset and file_size headers are required", 100)
        if upload.file_size not in (None, size):
            return error(400, "file_size differs from the first request", 100)
        if offset > len(upload.data) or offset + len(body) > size:
            return error(400, f"Bad offset {offset}: {len(upload.data)} bytes received", 100)
        upload.file_size = size
        upload.data[offset : offset + len(body)] = body
        return Reply(200, {"success": True, "message": "Upload successful."})

    def _ig_status(self, upload: Upload) -> dict[str, Any]:
        if upload.published_id:
            return {"status_code": "PUBLISHED", "status": "Published"}
        if not upload.complete:
            return {"status_code": "IN_PROGRESS", "status": "In Progress"}
        upload.polls += 1
        if upload.polls <= self.processing_polls:
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
        done = upload.polls > self.processing_polls
        status = {
            "video_status": "ready" if done else "processing",
            "uploading_phase": uploading,
            "processing_phase": {"status": "complete" if done else "in_progress"},
            "publishing_phase": {"status": "complete", "publish_status": "published"}
            if done
            else {"status": "not_started"},
        }
        return {"id": video_id, "status": status, "permalink_url": f"/reel/{video_id}/"}
