"""Local fakes of the D-ID, Synthesia and HeyGen avatar APIs: real HTTP servers on 127.0.0.1.

Each fake checks the provider's exact auth header, answers with the documented JSON shapes, moves jobs
through their states over successive polls, serves a real MP4 (made once per session with ffmpeg) from
an unauthenticated "presigned" download path, and records every request for assertions.
Failures are scripted: `fail_next(status, headers, body)`, `outcome = "error" | "rejected" | "never"`.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from resources.media.ffmpeg import run_ffmpeg

RESULT_SECONDS = 1.5  # shorter than the test voice on purpose: the engines must pad to the voice
_FIELD = re.compile(rb'Content-Disposition: form-data; name="([^"]+)"', re.IGNORECASE)


@functools.cache
def result_video() -> bytes:
    """A real 512×512 H.264 + silent AAC MP4 of RESULT_SECONDS, made once per session."""
    workdir = Path(tempfile.mkdtemp(prefix="fake-avatar-"))
    try:
        out = workdir / "result.mp4"
        run_ffmpeg(
            [
                "-f", "lavfi", "-i", f"testsrc=size=512x512:rate=25:duration={RESULT_SECONDS}",
                "-f", "lavfi", "-i", "anullsrc=r=44100:cl=mono", "-t", str(RESULT_SECONDS),
                "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", str(out),
            ],
            what="making the fake provider's result video",
        )  # fmt: skip
        return out.read_bytes()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@dataclass
class Recorded:
    """One request as the fake saw it."""

    host: str  # "api" or "upload"
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    fields: list[str] = field(default_factory=list)  # multipart field names, in order

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def line(self) -> str:
        return f"{self.method} {self.path}"


@dataclass
class Answer:
    status: int
    body: Any = None  # dict/list → JSON; bytes as is
    headers: dict[str, str] = field(default_factory=dict)


class FakeAvatarApi:
    """Base of the three fakes: servers, recording, auth, scripted failures, job progression."""

    provider = ""
    pending_statuses: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ("api",)

    def __init__(self, api_key: str = "test-key", *, polls_until_done: int = 2) -> None:
        self.api_key = api_key
        self.polls_until_done = polls_until_done
        self.outcome = "done"  # or "error", "rejected", "never"
        self.requests: list[Recorded] = []
        self.polls: dict[str, int] = {}
        self._scripted: list[tuple[str | None, Answer]] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._servers: dict[str, ThreadingHTTPServer] = {}
        self._threads: list[threading.Thread] = []

    # -- lifecycle -------------------------------------------------------------------------------------
    def __enter__(self) -> FakeAvatarApi:
        for host in self.hosts:
            server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self, host))
            server.daemon_threads = True
            thread = threading.Thread(target=server.serve_forever, name=f"fake-{self.provider}-{host}", daemon=True)
            thread.start()
            self._servers[host] = server
            self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        for server in self._servers.values():
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)

    def url_of(self, host: str) -> str:
        port = self._servers[host].server_address[1]
        return f"http://127.0.0.1:{port}"

    @property
    def base_url(self) -> str:
        return self.url_of("api")

    # -- scripting and assertions ----------------------------------------------------------------------
    def fail_next(
        self, status: int, headers: dict[str, str] | None = None, body: Any = None, *, path: str | None = None
    ) -> None:
        """Answer the next API request (whose path starts with `path`, if given) with this failure."""
        answer = Answer(status, body if body is not None else self.error_body(f"scripted {status}"), headers or {})
        with self._lock:
            self._scripted.append((path, answer))

    def lines(self, host: str | None = None) -> list[str]:
        """'METHOD /path' of every request so far (optionally of one host), in order."""
        return [r.line for r in self.requests if host is None or r.host == host]

    # -- provider specifics (overridden) ---------------------------------------------------------------
    def authorized(self, headers: dict[str, str]) -> bool:
        raise NotImplementedError

    def error_body(self, message: str) -> Any:
        raise NotImplementedError

    def route(self, request: Recorded) -> Answer:
        raise NotImplementedError

    # -- shared machinery ------------------------------------------------------------------------------
    def new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids)}"

    def status_of(self, job_id: str, final: dict[str, str]) -> str:
        """Count a poll of `job_id`: a pending status until `polls_until_done` polls, then the outcome's status."""
        with self._lock:
            self.polls[job_id] = polls = self.polls.get(job_id, 0) + 1
        if self.outcome == "never" or polls < self.polls_until_done:
            return self.pending_statuses[min(polls - 1, len(self.pending_statuses) - 1)]
        return final[self.outcome]

    def result_url(self, job_id: str) -> str:
        return f"{self.base_url}/results/{job_id}.mp4"

    def handle(self, request: Recorded) -> Answer:
        with self._lock:
            self.requests.append(request)
        if request.method == "GET" and request.path.startswith("/results/"):
            # A presigned storage link: no API credentials expected (nor wanted).
            return Answer(200, result_video(), {"Content-Type": "video/mp4"})
        if not self.authorized(request.headers):
            return Answer(401, self.error_body("missing or malformed credentials"))
        with self._lock:
            for index, (prefix, answer) in enumerate(self._scripted):
                if prefix is None or request.path.startswith(prefix):
                    del self._scripted[index]
                    return answer
        return self.route(request)


def _handler(fake: FakeAvatarApi, host: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def _serve(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            fields = []
            if self.headers.get("Content-Type", "").startswith("multipart/form-data"):
                fields = [name.decode() for name in _FIELD.findall(body)]
            request = Recorded(host, self.command, self.path, dict(self.headers.items()), body, fields)
            answer = fake.handle(request)
            payload = answer.body if isinstance(answer.body, bytes) else json.dumps(answer.body).encode()
            self.send_response(answer.status)
            headers = {"Content-Type": "application/json", **answer.headers}
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
            pass

    return Handler


def _header(headers: dict[str, str], name: str) -> str:
    return next((value for key, value in headers.items() if key.lower() == name.lower()), "")


class FakeDId(FakeAvatarApi):
    """D-ID: `Authorization: Basic <key>`, `/images`, `/audios`, `/talks`, `{"kind","description"}` errors."""

    provider = "d-id"
    pending_statuses = ("created", "started")
    final = {"done": "done", "error": "error", "rejected": "rejected"}  # noqa: RUF012

    def authorized(self, headers: dict[str, str]) -> bool:
        return _header(headers, "Authorization") == f"Basic {self.api_key}"

    def error_body(self, message: str) -> Any:
        return {"kind": "ScriptedError", "description": message}

    def route(self, request: Recorded) -> Answer:
        if request.line == "POST /images":
            if "image" not in request.fields:
                return Answer(400, {"kind": "BadRequestError", "description": "image is required"})
            return Answer(201, {"id": self.new_id("img_"), "url": "s3://d-id-images-prod/fake/presenter.png"})
        if request.line == "POST /audios":
            if "audio" not in request.fields:
                return Answer(400, {"kind": "BadRequestError", "description": "audio is required"})
            return Answer(201, {"id": self.new_id("aud_"), "url": "s3://d-id-audios-prod/fake/voice.mp3"})
        if request.line == "POST /talks":
            create = request.json
            script = create.get("script", {})
            valid = (
                re.fullmatch(r"(https|s3):.*\.(jpg|jpeg|png)", str(create.get("source_url", "")))
                and script.get("type") == "audio"
                and re.fullmatch(r"(https|s3)://.*\.(m4a|flac|mp3|mp4|wav)", str(script.get("audio_url", "")))
            )
            if not valid:
                return Answer(400, {"kind": "BadRequestError", "description": "Failed to validate script"})
            talk_id = self.new_id("tlk_")
            self.polls[talk_id] = 0
            body = {"id": talk_id, "object": "talk", "created_by": "fake", "created_at": "2026-01-01T00:00:00Z"}
            return Answer(201, {**body, "status": "created"})
        match = re.fullmatch(r"/talks/([\w-]+)", request.path)
        if request.method == "GET" and match and match[1] in self.polls:
            talk_id = match[1]
            status = self.status_of(talk_id, self.final)
            talk: dict[str, Any] = {"id": talk_id, "status": status}
            if status == "done":
                talk |= {"result_url": self.result_url(talk_id), "duration": RESULT_SECONDS}
            elif status in ("error", "rejected"):
                talk["error"] = {"kind": "FaceError", "description": "no face found in the source image"}
            return Answer(200, talk)
        return Answer(404, {"kind": "NotFoundError", "description": f"no route {request.line}"})


class FakeSynthesia(FakeAvatarApi):
    """Synthesia v2: raw `Authorization: <key>`, upload host `/v2/scriptAudio`, `/v2/videos`, `{"error"}` errors."""

    provider = "synthesia"
    pending_statuses = ("in_progress",)
    hosts = ("api", "upload")
    final = {"done": "complete", "error": "error", "rejected": "rejected"}  # noqa: RUF012

    def __init__(self, api_key: str = "test-key", *, polls_until_done: int = 2) -> None:
        super().__init__(api_key, polls_until_done=polls_until_done)
        self.audio_ids: set[str] = set()

    @property
    def upload_base_url(self) -> str:
        return self.url_of("upload")

    def authorized(self, headers: dict[str, str]) -> bool:
        return _header(headers, "Authorization") == self.api_key

    def error_body(self, message: str) -> Any:
        return {"error": message}

    def route(self, request: Recorded) -> Answer:
        if request.host == "upload":
            if request.line != "POST /v2/scriptAudio":
                return Answer(404, {"error": f"no route {request.line} on the upload host"})
            if _header(request.headers, "Content-Type") != "audio/mpeg" or not request.body:
                return Answer(400, {"error": "expected a raw audio/mpeg body"})
            audio_id = self.new_id("audio-")
            self.audio_ids.add(audio_id)
            return Answer(201, {"id": audio_id})
        if request.line == "POST /v2/videos":
            video = request.json
            scene = (video.get("input") or [{}])[0]
            missing = [key for key in ("avatar", "background", "scriptLanguage") if not scene.get(key)]
            if missing or scene.get("scriptAudio") not in self.audio_ids:
                return Answer(400, {"error": "invalid input", "context": f"missing {missing} or unknown scriptAudio"})
            if video.get("aspectRatio") not in ("16:9", "9:16", "1:1", "4:5", "5:4"):
                return Answer(400, {"error": "invalid aspectRatio"})
            video_id = self.new_id("vid-")
            self.polls[video_id] = 0
            return Answer(201, {"id": video_id, "status": "in_progress", "createdAt": 1767225600, **video})
        match = re.fullmatch(r"/v2/videos/([\w-]+)", request.path)
        if request.method == "GET" and match and match[1] in self.polls:
            video_id = match[1]
            status = self.status_of(video_id, self.final)
            answer: dict[str, Any] = {"id": video_id, "status": status, "lastUpdatedAt": 1767225700}
            if status == "complete":
                answer |= {"download": self.result_url(video_id), "duration": f"{RESULT_SECONDS}"}
            return Answer(200, answer)
        return Answer(404, {"error": f"no route {request.line}"})


class FakeHeyGen(FakeAvatarApi):
    """HeyGen v3: `X-Api-Key`, `/v3/assets`, `/v3/videos`, `{"data": …}` envelope, `{"error":{code,message}}`."""

    provider = "heygen"
    pending_statuses = ("pending", "processing")
    final = {"done": "completed", "error": "failed", "rejected": "failed"}  # noqa: RUF012

    def __init__(self, api_key: str = "test-key", *, polls_until_done: int = 2) -> None:
        super().__init__(api_key, polls_until_done=polls_until_done)
        self.asset_ids: set[str] = set()

    def authorized(self, headers: dict[str, str]) -> bool:
        return _header(headers, "X-Api-Key") == self.api_key

    def error_body(self, message: str) -> Any:
        return {"error": {"code": "scripted", "message": message}}

    def route(self, request: Recorded) -> Answer:
        if request.line == "POST /v3/assets":
            if "file" not in request.fields:
                return Answer(400, {"error": {"code": "invalid_parameter", "message": "file is required"}})
            asset_id = self.new_id("asset_")
            self.asset_ids.add(asset_id)
            asset = {"asset_id": asset_id, "url": f"https://files.example/{asset_id}.mp3", "mime_type": "audio/mpeg"}
            return Answer(200, {"data": {**asset, "size_bytes": len(request.body)}})
        if request.line == "POST /v3/videos":
            video = request.json
            if video.get("type") != "avatar" or not video.get("avatar_id"):
                return Answer(400, {"error": {"code": "invalid_parameter", "message": "avatar_id is required"}})
            if video.get("audio_asset_id") not in self.asset_ids:
                return Answer(400, {"error": {"code": "invalid_parameter", "message": "unknown audio_asset_id"}})
            video_id = self.new_id("video_")
            self.polls[video_id] = 0
            return Answer(200, {"data": {"video_id": video_id, "status": "waiting"}})
        match = re.fullmatch(r"/v3/videos/([\w-]+)", request.path)
        if request.method == "GET" and match and match[1] in self.polls:
            video_id = match[1]
            status = self.status_of(video_id, self.final)
            data: dict[str, Any] = {"id": video_id, "status": status}
            if status == "completed":
                data |= {"video_url": self.result_url(video_id), "duration": RESULT_SECONDS}
            elif status == "failed":
                data |= {"failure_code": "AVATAR_NOT_FOUND", "failure_message": "the avatar is not available"}
            return Answer(200, {"data": data})
        return Answer(404, {"error": {"code": "not_found", "message": f"no route {request.line}"}})
