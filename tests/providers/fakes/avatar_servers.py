"""Local fakes of the D-ID, Synthesia and HeyGen avatar APIs: real HTTP servers on 127.0.0.1.

Each fake checks the provider's exact auth header, answers with the documented JSON shapes, moves jobs
through their states over successive polls, lists its jobs with the client-side id each was created with (D-ID
`user_data`, Synthesia `callbackId`, HeyGen `title`), serves a real MP4 (made once per session with ffmpeg) from
an unauthenticated "presigned" download path, and records every request for assertions.
Failures are scripted: `fail_next(status, headers, body)`, `lose_next_answer(path)` (the job is made, its answer
dropped), `outcome = "error" | "rejected" | "never"`.
The D-ID and HeyGen fakes check every API request against the provider's OpenAPI document
(`tests/data/specs/d-id.json`, `heygen.json`, see `openapi_check`) and fail the test on a violation, even one the
engine's fallback would hide.
"""

from __future__ import annotations

import functools
import itertools
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from resources.media.ffmpeg import run_ffmpeg
from tests.providers.fakes import base
from tests.providers.fakes.base import FakeServer, Fault, Faults, Reply, route
from tests.providers.fakes.openapi_check import SpecChecked

RESULT_SECONDS = 1.5  # shorter than the test voice on purpose: the engines must pad to the voice


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
class AvatarFault(Fault):
    """A scripted answer for requests whose path starts with `route` (and of `method`, when given).

    `after_processing` (with `drop`): the fake does the work (a job is created) and then drops the answer.
    """

    method: str | None = None
    after_processing: bool = False


class Recorded(base.Recorded):
    @property
    def fields(self) -> list[str]:
        """The multipart field names, in order."""
        return [part.name for part in self.parts]


class FakeAvatarApi(SpecChecked, FakeServer[Recorded]):
    """Base of the three fakes: auth, scripted failures, job progression, the presigned result download."""

    record_type = Recorded
    provider = ""
    pending_statuses: tuple[str, ...] = ()
    final: ClassVar[dict[str, str]] = {}  # the job status of each outcome
    not_found_code = ""  # the provider's error code for an unknown path

    def __init__(self, api_key: str = "test-key", *, polls_until_done: int = 2) -> None:
        super().__init__()
        self.api_key = api_key
        self.polls_until_done = polls_until_done
        self.outcome = "done"  # or "error", "rejected", "never"
        self.polls: dict[str, int] = {}
        self.jobs: dict[str, dict[str, Any]] = {}  # job id -> what the create set on it, in creation order
        self.faults: Faults[AvatarFault] = Faults()
        self._ids = itertools.count(1)

    # -- scripting and assertions ----------------------------------------------------------------------
    def fail_next(
        self,
        status: int,
        headers: dict[str, str] | None = None,
        body: Any = None,
        *,
        path: str | None = None,
        method: str | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next `times` API requests (whose path starts with `path`, of `method`, if given) with this."""
        body = body if body is not None else self.error_body(f"scripted {status}")
        self.faults.add(AvatarFault(path, status, body, headers or {}, times=times, method=method))

    def lose_next_answer(self, path: str, method: str = "POST") -> None:
        """Do the next such request's work (create the job), then drop the connection without answering."""
        self.faults.add(AvatarFault(path, status=None, drop=True, method=method, after_processing=True))

    def lines(self, host: str | None = None) -> list[str]:
        """'METHOD /path' of every request so far (optionally of one host), in order."""
        return [r.line for r in self.requests if host is None or r.host == host]

    # -- provider specifics (overridden) ---------------------------------------------------------------
    def authorized(self, request: Recorded) -> bool:
        raise NotImplementedError

    def error_body(self, message: str, code: str = "") -> Any:
        raise NotImplementedError

    def job_fields(self, job_id: str) -> dict[str, dict[str, Any]]:
        """What a job's answer adds in each final status (the result link, the failure)."""
        raise NotImplementedError

    # -- shared machinery ------------------------------------------------------------------------------
    def error(self, status: int, message: str, code: str = "") -> Reply:
        return Reply(status, self.error_body(message, code))

    def not_found(self, request: Recorded) -> Reply:
        return self.error(404, f"no route {request.line}", self.not_found_code)

    def new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids)}"

    def new_job(self, prefix: str, **fields: Any) -> str:
        """A new job (its polls counted from 0); `fields` are what the create set on it (shown when listed)."""
        job_id = self.new_id(prefix)
        with self.lock:
            self.polls[job_id] = 0
            self.jobs[job_id] = fields
        return job_id

    def status_of(self, job_id: str, final: dict[str, str]) -> str:
        """Count a poll of `job_id`: a pending status until `polls_until_done` polls, then the outcome's status."""
        with self.lock:
            self.polls[job_id] = self.polls.get(job_id, 0) + 1
        return self.current_status(job_id)

    def current_status(self, job_id: str) -> str:
        """The job's status after the polls so far (a listing does not count as a poll)."""
        polls = max(1, self.polls.get(job_id, 0))
        if self.outcome == "never" or polls < self.polls_until_done:
            return self.pending_statuses[min(polls - 1, len(self.pending_statuses) - 1)]
        return self.final[self.outcome]

    def listed(self, request: Recorded, *, offset: int) -> tuple[list[Any], int | None]:
        """One page of the jobs, newest first: the jobs from `offset` (at most `limit`), and the next offset."""
        limit = int(request.query.get("limit") or 100)
        with self.lock:
            newest_first = [
                {**FakeAvatarApi.job(self, job_id, self.current_status(job_id)), **fields}
                for job_id, fields in reversed(self.jobs.items())
            ]
        page = newest_first[offset : offset + limit]
        return page, offset + limit if offset + limit < len(newest_first) else None

    def result_url(self, job_id: str) -> str:
        return f"{self.base_url}/results/{job_id}.mp4"

    def poll(self, request: Recorded) -> Reply:
        """Count a poll of the job the path names and answer its state (404 when there is no such job)."""
        job_id = request.args["job_id"]
        if job_id not in self.polls:
            return self.not_found(request)
        return Reply(200, self.job(job_id, self.status_of(job_id, self.final)))

    def job(self, job_id: str, status: str) -> Any:
        """The provider's JSON for a job in `status`: its id and status, and what that status adds."""
        return {"id": job_id, "status": status, **self.job_fields(job_id).get(status, {})}

    def spec_refusal(self, problems: list[str]) -> Reply:
        """The provider's 400 for a request its OpenAPI document does not allow."""
        return self.error(400, "; ".join(problems), "BadRequestError")

    def answer(self, request: Recorded) -> Reply | None:
        if request.route == "result":
            return self.dispatch(request)
        if not self.authorized(request):
            return self.error(401, "missing or malformed credentials")
        problems = self.spec_problems(request) if self.spec_name else []
        if problems:
            return self.spec_refusal(problems)
        fault = self.faults.take(
            where=lambda f: (f.route is None or request.path.startswith(f.route)) and f.method in (None, request.method)
        )
        if fault is not None and fault.after_processing and request.route:
            self.dispatch(request)  # the work is done; only its answer never arrives
            return None
        if fault is not None:
            return fault.reply()
        if not request.route:
            return self.not_found(request)
        return self.dispatch(request)

    @route("result", "GET", r"/results/.*")
    def _result(self, request: Recorded) -> Reply:
        """A presigned storage link: no API credentials expected (nor wanted)."""
        return Reply(200, result_video(), {"Content-Type": "video/mp4"})


class FakeDId(FakeAvatarApi):
    """D-ID: `Authorization: Basic <key>`, `/images`, `/audios`, `/talks`, `{"kind","description"}` errors."""

    provider = "d-id"
    pending_statuses = ("created", "started")
    final: ClassVar[dict[str, str]] = {"done": "done", "error": "error", "rejected": "rejected"}
    not_found_code = "NotFoundError"

    def authorized(self, request: Recorded) -> bool:
        return request.authorization_is("Basic", self.api_key)

    spec_name = "d-id.json"

    def error_body(self, message: str, code: str = "") -> Any:
        return {"kind": code or "ScriptedError", "description": message}

    def spec_refusal(self, problems: list[str]) -> Reply:
        if any(": source_url: " in problem for problem in problems):
            # The example of POST /talks' documented 400 (`JsonError`) in D-ID's API reference.
            return Reply(400, {"kind": "BadRequestError", "description": "invalid actor url", "details": problems})
        return Reply(400, {"kind": "ValidationError", "description": "; ".join(problems)})

    @route("images", "POST", "/images")
    def _image(self, request: Recorded) -> Reply:
        if "image" not in request.fields:
            return self.error(400, "image is required", "BadRequestError")
        return Reply(201, {"id": self.new_id("img_"), "url": "s3://d-id-images-prod/fake/presenter.png"})

    @route("audios", "POST", "/audios")
    def _audio(self, request: Recorded) -> Reply:
        if "audio" not in request.fields:
            return self.error(400, "audio is required", "BadRequestError")
        return Reply(201, {"id": self.new_id("aud_"), "url": "s3://d-id-audios-prod/fake/voice.mp3"})

    @route("talks", "POST", "/talks")
    def _create_talk(self, request: Recorded) -> Reply:
        create = request.json if isinstance(request.json, dict) else {}
        script = create.get("script", {})
        valid = script.get("type") == "audio" and re.fullmatch(
            r"(https|s3)://.*\.(m4a|flac|mp3|mp4|wav)", str(script.get("audio_url", ""))
        )  # source_url: its pattern is checked with the spec
        if not valid:
            return self.error(400, "Failed to validate script", "BadRequestError")
        user_data = create.get("user_data")
        if user_data is not None and not (isinstance(user_data, str) and 1 <= len(user_data) <= 1000):
            return self.error(400, "user_data must be a string of 1 to 1000 characters", "ValidationError")
        talk_id = self.new_job("tlk_", **({"user_data": user_data} if user_data is not None else {}))
        body = {"id": talk_id, "object": "talk", "created_by": "fake", "created_at": "2026-01-01T00:00:00Z"}
        return Reply(201, {**body, "status": "created"})

    @route("talks_list", "GET", "/talks")
    def _talks(self, request: Recorded) -> Reply:
        """`GET /talks?limit=&token=`: `{"talks": [...], "token": <next page>}` (no token on the last page)."""
        token = request.query.get("token", "")
        if token and not token.isdigit():
            return self.error(400, "invalid pagination token", "BadRequestError")
        talks, next_offset = self.listed(request, offset=int(token or 0))
        return Reply(200, {"talks": talks, **({"token": str(next_offset)} if next_offset is not None else {})})

    @route("talk", "GET", r"/talks/(?P<job_id>[\w-]+)")
    def _talk(self, request: Recorded) -> Reply:
        return self.poll(request)

    def job_fields(self, job_id: str) -> dict[str, dict[str, Any]]:
        face = {"error": {"kind": "FaceError", "description": "no face found in the source image"}}
        return {
            "done": {"result_url": self.result_url(job_id), "duration": RESULT_SECONDS},
            "error": face,
            "rejected": face,
        }


class FakeSynthesia(FakeAvatarApi):
    """Synthesia v2: raw `Authorization: <key>`, upload host `/v2/scriptAudio`, `/v2/videos`, `{"error"}` errors."""

    provider = "synthesia"
    pending_statuses = ("in_progress",)
    hosts = ("api", "upload")
    final: ClassVar[dict[str, str]] = {"done": "complete", "error": "error", "rejected": "rejected"}

    def __init__(self, api_key: str = "test-key", *, polls_until_done: int = 2) -> None:
        super().__init__(api_key, polls_until_done=polls_until_done)
        self.audio_ids: set[str] = set()

    @property
    def upload_base_url(self) -> str:
        return self.url_of("upload")

    def authorized(self, request: Recorded) -> bool:
        return request.headers.get("authorization") == self.api_key

    def error_body(self, message: str, code: str = "") -> Any:
        return {"error": message}

    def not_found(self, request: Recorded) -> Reply:
        where = " on the upload host" if request.host == "upload" else ""
        return self.error(404, f"no route {request.line}{where}")

    @route("script_audio", "POST", "/v2/scriptAudio", host="upload")
    def _script_audio(self, request: Recorded) -> Reply:
        if request.content_type != "audio/mpeg" or not request.body:
            return self.error(400, "expected a raw audio/mpeg body")
        audio_id = self.new_id("audio-")
        self.audio_ids.add(audio_id)
        return Reply(201, {"id": audio_id})

    @route("videos", "POST", "/v2/videos", host="api")
    def _create_video(self, request: Recorded) -> Reply:
        video = request.json if isinstance(request.json, dict) else {}
        scene = (video.get("input") or [{}])[0]
        missing = [key for key in ("avatar", "background", "scriptLanguage") if not scene.get(key)]
        if missing or scene.get("scriptAudio") not in self.audio_ids:
            return Reply(400, {"error": "invalid input", "context": f"missing {missing} or unknown scriptAudio"})
        if video.get("aspectRatio") not in ("16:9", "9:16", "1:1", "4:5", "5:4"):
            return self.error(400, "invalid aspectRatio")
        callback_id = video.get("callbackId")
        if callback_id is not None and not isinstance(callback_id, str):
            return self.error(400, "callbackId must be a string")
        video_id = self.new_job("vid-", **({"callbackId": callback_id} if callback_id is not None else {}))
        return Reply(201, {"id": video_id, "status": "in_progress", "createdAt": 1767225600, **video})

    @route("videos_list", "GET", "/v2/videos", host="api")
    def _videos(self, request: Recorded) -> Reply:
        """`GET /v2/videos?limit=&offset=`: `{"videos": [...], "nextOffset": <next page>}` (none on the last)."""
        offset = request.query.get("offset", "0")
        if not offset.isdigit():
            return self.error(400, "offset must be a non-negative integer")
        videos, next_offset = self.listed(request, offset=int(offset))
        return Reply(200, {"videos": videos, **({"nextOffset": next_offset} if next_offset is not None else {})})

    @route("video", "GET", r"/v2/videos/(?P<job_id>[\w-]+)", host="api")
    def _video(self, request: Recorded) -> Reply:
        return self.poll(request)

    def job(self, job_id: str, status: str) -> Any:
        return super().job(job_id, status) | {"lastUpdatedAt": 1767225700}

    def job_fields(self, job_id: str) -> dict[str, dict[str, Any]]:
        return {"complete": {"download": self.result_url(job_id), "duration": f"{RESULT_SECONDS}"}}


class FakeHeyGen(FakeAvatarApi):
    """HeyGen v3: `X-Api-Key`, `/v3/assets`, `/v3/videos`, `{"data": …}` envelope, `{"error":{code,message}}`."""

    provider = "heygen"
    pending_statuses = ("pending", "processing")
    final: ClassVar[dict[str, str]] = {"done": "completed", "error": "failed", "rejected": "failed"}
    not_found_code = "not_found"

    def __init__(self, api_key: str = "test-key", *, polls_until_done: int = 2) -> None:
        super().__init__(api_key, polls_until_done=polls_until_done)
        self.asset_ids: set[str] = set()

    def authorized(self, request: Recorded) -> bool:
        return request.headers.get("x-api-key") == self.api_key

    spec_name = "heygen.json"
    # The kept copy (April 2026) allows only 16:9 and 9:16. HeyGen's current document allows 1:1 (with 4:5, 5:4
    # and auto): "Supported values: '16:9', '9:16', '4:5', '5:4', '1:1', 'auto'" in the POST /v3/videos request
    # schema the official heygen-cli generated from it (commit 7699a8ee, 2026-07-22, gen/video.go). We ask for 1:1.
    spec_amendments: ClassVar[dict[str, Any]] = {
        "/components/schemas/VideoAspectRatio/enum": ["16:9", "9:16", "4:5", "5:4", "1:1", "auto"]
    }

    def error_body(self, message: str, code: str = "") -> Any:
        return {"error": {"code": code or "scripted", "message": message}}

    def spec_refusal(self, problems: list[str]) -> Reply:
        # The documented 400 of every v3 operation: `{"error": StandardAPIError}` with code invalid_parameter.
        return self.error(400, "; ".join(problems), "invalid_parameter")

    @route("assets", "POST", "/v3/assets")
    def _asset(self, request: Recorded) -> Reply:
        if "file" not in request.fields:
            return self.error(400, "file is required", "invalid_parameter")
        asset_id = self.new_id("asset_")
        self.asset_ids.add(asset_id)
        asset = {"asset_id": asset_id, "url": f"https://files.example/{asset_id}.mp3", "mime_type": "audio/mpeg"}
        return Reply(200, {"data": {**asset, "size_bytes": len(request.body)}})

    @route("videos", "POST", "/v3/videos")
    def _create_video(self, request: Recorded) -> Reply:
        video = request.json if isinstance(request.json, dict) else {}
        if video.get("type") != "avatar" or not video.get("avatar_id"):
            return self.error(400, "avatar_id is required", "invalid_parameter")
        if video.get("audio_asset_id") not in self.asset_ids:
            return self.error(400, "unknown audio_asset_id", "invalid_parameter")
        if not all(isinstance(video.get(key, ""), str) for key in ("title", "callback_id")):
            return self.error(400, "title and callback_id must be strings", "invalid_parameter")
        video_id = self.new_job("video_", **({"title": video["title"]} if "title" in video else {}))
        return Reply(200, {"data": {"video_id": video_id, "status": "waiting"}})

    @route("videos_list", "GET", "/v3/videos")
    def _videos(self, request: Recorded) -> Reply:
        """`GET /v3/videos?limit=&token=&title=`: `{"data": [...], "has_more", "next_token"}`; `title` filters by
        substring."""
        token = request.query.get("token", "")
        if token and not token.isdigit():
            return self.error(400, "invalid token", "invalid_parameter")
        videos, next_offset = self.listed(request, offset=int(token or 0))
        title = request.query.get("title")
        if title:
            videos = [video for video in videos if title in str(video.get("title", ""))]
        more = next_offset is not None
        return Reply(200, {"data": videos, "has_more": more, "next_token": str(next_offset) if more else None})

    @route("video", "GET", r"/v3/videos/(?P<job_id>[\w-]+)")
    def _video(self, request: Recorded) -> Reply:
        return self.poll(request)

    def job(self, job_id: str, status: str) -> Any:
        return {"data": super().job(job_id, status)}

    def job_fields(self, job_id: str) -> dict[str, dict[str, Any]]:
        return {
            "completed": {"video_url": self.result_url(job_id), "duration": RESULT_SECONDS},
            "failed": {"failure_code": "AVATAR_NOT_FOUND", "failure_message": "the avatar is not available"},
        }
