"""What the cloud avatar engines (D-ID, Synthesia, HeyGen) share: one HTTP path, one job lifecycle, one normaliser.

A cloud engine only says how to upload the voice, create a job, find a job in the provider's list and read a job's
status. Everything else lives here once: every request goes through `with_retries`, the whole job runs against one
deadline (on the settings' clock), polling backs off, and the provider's video is re-encoded to what the render
stage expects (square, 25 fps, H.264 yuv420p) with OUR voice as the audio track, so subtitle timing never depends on
the provider.

A job is paid for when it is created, so its creation is never repeated blindly. The stage's checkpoint
(`resources.http.checkpoint`) keeps the uploads and the job id the moment the provider answers; any retry (HTTP,
Dagster, a re-execution) polls that job. The create request is sent once per attempt and counted; when its answer
is lost (a timeout or a dropped connection after sending), the next attempt first looks for the job in the
provider's list by the client-side id it was sent with, and stops as "unconfirmed" when the list cannot tell.
"""

from __future__ import annotations

import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import httpx

from resources.errors import InputRejected, ProviderError, RetryableError
from resources.http.checkpoint import Checkpoint, JobRecord, UnconfirmedJob, active_checkpoint, never_processed
from resources.http.deadline import Deadline, Pending, poll
from resources.http.retry import http_failure, with_retries
from resources.http.secrets import redact
from resources.http.settings import ClientSettings
from resources.media.ffmpeg import run_ffmpeg
from resources.media.probe import probe
from resources.usage import Usage, priced

# Polls never wait longer than this between two status reads, however long the job runs.
MAX_POLL_INTERVAL_S = 30.0
# Per-request limits; the job as a whole is bounded by `CloudSettings.timeout_s`.
_HTTP_TIMEOUT = httpx.Timeout(120.0, connect=15.0)
# Speech only drives the lips (our own WAV is the final audio): 64 kbit/s mono keeps 10 min under 6 MB.
_MP3_BITRATE = "64k"
# A create whose answer was lost is looked for in this many pages of the provider's job list.
LOOKUP_PAGES = 5
LOOKUP_PAGE_SIZE = 100


class AvatarJobFailed(ProviderError):
    """The provider finished the job without a video (error, rejected, moderation) or sent an unusable one."""


class AvatarJobTimedOut(ProviderError):
    """The job did not produce a video before the configured deadline."""


@dataclass(frozen=True, kw_only=True)
class CloudSettings(ClientSettings):
    """Everything a cloud engine needs from the AvatarRenderer resource, with defaults already resolved."""

    provider: str
    api_key: str = field(repr=False)
    avatar_id: str
    size: int
    fps: int
    poll_backoff: float  # each wait is the previous one times this, up to MAX_POLL_INTERVAL_S


@dataclass(frozen=True)
class JobState:
    """One status read of a provider job: finished (`result_url`), failed (`failure`), or still running."""

    status: str
    result_url: str = ""
    failure: str = ""


def job_deadline(settings: CloudSettings) -> Deadline:
    """The one deadline of a whole job (uploads, creation, polls, retries, download)."""

    def timed_out(doing: str) -> AvatarJobTimedOut:
        return AvatarJobTimedOut(
            f"{settings.provider}: no video within timeout_s={settings.timeout_s:g} s ({doing}); "
            "raise timeout_s or check the job in the provider's dashboard"
        )

    return Deadline(settings.timeout_s, expired=timed_out, clock=settings.clock)


def error_detail(response: httpx.Response) -> str:
    """The provider's own words from an error body: D-ID `kind/description`, Synthesia `error/context`, …"""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300] or response.reason_phrase
    if not isinstance(body, dict):
        return str(body)[:300]
    error = body.get("error")
    if isinstance(error, dict):  # HeyGen: {"error": {"code", "message"}}
        parts = [error.get("code"), error.get("message")]
    elif "kind" in body:  # D-ID
        parts = [body.get("kind"), body.get("description")]
    else:  # Synthesia and generic bodies
        parts = [error, body.get("context") or body.get("message") or body.get("detail")]
    return ": ".join(str(part) for part in parts if part) or str(body)[:300]


def field_of(body: Any, *path: str, provider: str, doing: str) -> str:
    """The non-empty string at `path` inside a JSON answer; ProviderError when the answer lacks it."""
    value = body
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    if not isinstance(value, str) or not value:
        raise ProviderError(f"{provider}: the answer to {doing} has no '{'.'.join(path)}'; the API may have changed")
    return value


class ProviderClient:
    """Authenticated HTTP to one provider; every call retried by `with_retries` and bounded by the deadline."""

    def __init__(self, settings: CloudSettings, auth_headers: dict[str, str], deadline: Deadline) -> None:
        self.provider = settings.provider
        self.settings = settings
        self.deadline = deadline
        self._api = httpx.Client(headers=auth_headers, timeout=_HTTP_TIMEOUT)
        # Result links are presigned storage URLs on another host: they must never receive our key.
        self._plain = httpx.Client(timeout=_HTTP_TIMEOUT, follow_redirects=True)

    def __enter__(self) -> ProviderClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self._api.close()
        self._plain.close()

    def json(self, method: str, url: str, *, doing: str, **kwargs: Any) -> Any:
        """Send one API request and return its JSON answer (errors per `http_failure`)."""

        return self.retried(lambda: self._parsed(self._send(self._api, method, url, doing, **kwargs), doing), doing)

    def create_job(self, url: str, *path: str, doing: str, **kwargs: Any) -> str:
        """POST the request that creates a paid job, ONCE (the caller decides about retries); the new job's id.

        Its errors keep their httpx cause, so `never_processed` tells a request that never reached the provider
        (or was refused) from one whose answer was lost.
        """
        body = self._parsed(self._send(self._api, "POST", url, doing, **kwargs), doing)
        return field_of(body, *path, provider=self.provider, doing=doing)

    def json_field(self, method: str, url: str, *path: str, doing: str, **kwargs: Any) -> str:
        """Send one API request and return the non-empty string at `path` in its answer (see `field_of`)."""
        return field_of(self.json(method, url, doing=doing, **kwargs), *path, provider=self.provider, doing=doing)

    def download(self, url: str, dest: Path, *, doing: str) -> None:
        """Stream `url` (no credentials sent) to `dest`."""

        def once() -> None:
            self.deadline.check(doing)
            try:
                with self._plain.stream("GET", url) as response:
                    if not response.is_success:
                        response.read()
                        raise self._failure(response, doing)
                    with dest.open("wb") as out:
                        for chunk in response.iter_bytes(1 << 20):
                            out.write(chunk)
            except httpx.TimeoutException as exc:
                raise RetryableError(f"{self.provider}: {doing} timed out") from exc
            except httpx.TransportError as exc:
                raise RetryableError(f"{self.provider}: {doing} failed: {type(exc).__name__}") from exc

        self.retried(once, doing)

    def poll(self, read: Callable[[], JobState], *, doing: str) -> str:
        """Read the job's state until it has a result URL; the wait grows by `poll_backoff` up to 30 s.

        Raises AvatarJobFailed when the provider reports a failure, AvatarJobTimedOut at the deadline.
        """

        def settle() -> str | Pending:
            state = read()
            if state.failure:
                raise AvatarJobFailed(f"{self.provider}: {doing} ended with status '{state.status}': {state.failure}")
            return state.result_url or Pending(state.status)

        return poll(
            settle,
            deadline=self.deadline,
            doing=doing,
            interval_s=self.settings.poll_interval_s,
            backoff=self.settings.poll_backoff,
            max_interval_s=MAX_POLL_INTERVAL_S,
        )

    def retried(self, call: Callable[[], Any], doing: str) -> Any:
        try:
            return with_retries(
                call,
                what=f"{self.provider}: {doing}",
                settings=self.settings.retry,
                sleep=lambda seconds: self.deadline.sleep(seconds, f"waiting to retry {doing}"),
            )
        except (ProviderError, RetryableError) as exc:
            # Provider answers are quoted in messages: make sure none of them echoes the key.
            if self.settings.api_key in str(exc):
                raise type(exc)(redact(str(exc), self.settings.api_key)) from None
            raise

    def _send(self, client: httpx.Client, method: str, url: str, doing: str, **kwargs: Any) -> httpx.Response:
        self.deadline.check(doing)
        try:
            response = client.request(method, url, **kwargs)
        except httpx.TimeoutException as exc:
            raise RetryableError(f"{self.provider}: {doing} timed out") from exc
        except httpx.TransportError as exc:
            raise RetryableError(f"{self.provider}: {doing} failed: {type(exc).__name__}: {exc}") from exc
        if not response.is_success:
            # The status travels as the cause: it tells a refusal (nothing charged) from a lost answer.
            status = httpx.HTTPStatusError(f"HTTP {response.status_code}", request=response.request, response=response)
            raise self._failure(response, doing) from status
        return response

    def _parsed(self, response: httpx.Response, doing: str) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            raise ProviderError(f"{self.provider}: the answer to {doing} is not JSON") from exc

    def _failure(self, response: httpx.Response, doing: str) -> Exception:
        message = redact(f"{error_detail(response)} (while {doing})", self.settings.api_key)
        return http_failure(self.provider, response.status_code, message, response.headers)


def voice_to_mp3(voice_path: Path, out: Path) -> Path:
    """The voice as a small mono MP3: what every provider accepts, well under D-ID's 6 MB upload limit."""
    run_ffmpeg(
        ["-i", str(voice_path), "-vn", "-ac", "1", "-c:a", "libmp3lame", "-b:a", _MP3_BITRATE, str(out)],
        what="converting the voice to MP3 for the avatar provider",
    )
    return out


def normalise_video(video: Path, voice_path: Path, out_path: Path, *, size: int, fps: int, duration_s: float) -> None:
    """Re-encode the provider's video to size×size at `fps` with the original voice; exactly `duration_s` long.

    Scale-to-cover then centre-crop keeps the face unstretched; `tpad` repeats the last frame when the provider's
    video is a little shorter than the voice, and `-t` cuts it when longer.
    """
    vf = (
        f"scale={size}:{size}:force_original_aspect_ratio=increase,crop={size}:{size},setsar=1,fps={fps},"
        f"tpad=stop_mode=clone:stop_duration={duration_s:.3f}"
    )
    partial = out_path.with_name(f".{out_path.stem}.partial{out_path.suffix}")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        run_ffmpeg(
            [
                "-i", str(video), "-i", str(voice_path), "-map", "0:v:0", "-map", "1:a:0", "-vf", vf,
                "-t", f"{duration_s:.3f}", "-c:v", "libx264", "-preset", "veryfast", "-crf", "23",
                "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "160k", "-movflags", "+faststart", str(partial),
            ],
            what="normalising the provider's avatar video",
        )  # fmt: skip
        partial.replace(out_path)
    finally:
        partial.unlink(missing_ok=True)


def search_pages(
    fetch: Callable[[str], tuple[list[Any], str]],
    matches: Callable[[dict[str, Any]], bool],
    *,
    provider: str,
    what: str,
) -> dict[str, Any] | None:
    """The first item of a provider's job list that `matches`, reading at most LOOKUP_PAGES pages.

    `fetch(cursor)` reads one page ("" for the first) and returns its items and the next page's cursor ("" at the
    end). None when the list ends without a match; ProviderError when it is longer than we read (we cannot tell).
    """
    cursor = ""
    for _ in range(LOOKUP_PAGES):
        items, cursor = fetch(cursor)
        for item in items:
            if isinstance(item, dict) and matches(item):
                return item
        if not cursor or not items:
            return None
    raise ProviderError(f"{provider}: {what} is not among the first {LOOKUP_PAGES * LOOKUP_PAGE_SIZE} jobs of the list")


def items_of(page: Any, *path: str, provider: str, doing: str) -> list[Any]:
    """The list at `path` in a page of a provider's job list; ProviderError when the page has none."""
    value = page
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    if not isinstance(value, list):
        raise ProviderError(
            f"{provider}: the answer to {doing} has no '{'.'.join(path)}' list; the API may have changed"
        )
    return value


class CloudAvatarEngine(ABC):
    """Template for a cloud avatar provider: subclasses upload, create, find and read a job; the lifecycle is here."""

    provider: ClassVar[str]
    job_kind: ClassVar[str] = "video"  # what the provider calls a job ("talk" at D-ID)
    request_key_field: ClassVar[str]  # the create field that carries our request key, as the dashboard shows it

    def __init__(self, settings: CloudSettings) -> None:
        self.settings = settings

    @property
    def job_name(self) -> str:
        """The job's name in the checkpoint, e.g. "d-id talk"."""
        return f"{self.provider} {self.job_kind}"

    @abstractmethod
    def auth_headers(self) -> dict[str, str]:
        """The provider's authentication headers."""

    @abstractmethod
    def upload(self, client: ProviderClient, voice_mp3: Path, workdir: Path) -> dict[str, str]:
        """Upload what a job needs (the voice, a portrait); the ids or URLs a create refers to."""

    @abstractmethod
    def create(self, client: ProviderClient, assets: dict[str, str], request_key: str) -> str:
        """Create the job from `assets` with ONE `client.create_job` request carrying `request_key`; its id."""

    @abstractmethod
    def find(self, client: ProviderClient, request_key: str) -> str | None:
        """The id of the job created with `request_key`, from the provider's job list; None when it has none."""

    @abstractmethod
    def read(self, client: ProviderClient, job_id: str) -> JobState:
        """One status read of the job."""

    def render(self, voice_path: Path, out_path: Path) -> list[Usage]:
        """Write `out_path` from the provider's video; ProviderError subclasses when the provider cannot.

        UnconfirmedJob and PaidAttemptsExhausted (never ProviderError: no fallback may hide them) when a paid job
        may exist that we cannot find, or this input has been paid for as often as allowed.
        """
        duration_s = probe(voice_path).duration_s  # a broken voice fails here, before any credit is spent
        deadline = job_deadline(self.settings)
        checkpoint = active_checkpoint()
        with tempfile.TemporaryDirectory(prefix=f"avatar-{self.provider}-") as tmp:
            workdir = Path(tmp)
            with ProviderClient(self.settings, self.auth_headers(), deadline) as client:
                job_id = self.job_for_input(
                    client, checkpoint, lambda: voice_to_mp3(voice_path, workdir / "voice.mp3"), workdir
                )
                result_url = self.wait(client, checkpoint, job_id)
                downloaded = workdir / "result.mp4"
                client.download(result_url, downloaded, doing="downloading the finished video")
            try:
                if not probe(downloaded).has_video:
                    raise InputRejected("it has no video stream")
            except InputRejected as exc:
                raise AvatarJobFailed(f"{self.provider}: the finished video is unusable ({exc})") from exc
            normalise_video(
                downloaded, voice_path, out_path, size=self.settings.size, fps=self.settings.fps, duration_s=duration_s
            )
        return [priced(self.provider, {"video_seconds": duration_s})]

    def job_for_input(
        self, client: ProviderClient, checkpoint: Checkpoint, voice_mp3: Callable[[], Path], workdir: Path
    ) -> str:
        """This input's job: the one an earlier attempt created (to be polled again), else a new one."""
        kept = checkpoint.job(self.job_name)
        if kept.job_id:
            return kept.job_id
        doing = f"creating the {self.job_kind}"

        def attempt() -> str:
            job = checkpoint.job(self.job_name)
            if job.state in ("creating", "unconfirmed"):
                found = self._look_up(client, checkpoint, job)
                if found:
                    return found
                job = checkpoint.job(self.job_name)
            reused = bool(job.assets)
            if not reused:
                job = JobRecord(assets=self.upload(client, voice_mp3(), workdir))
                checkpoint.save_job(self.job_name, job)
            client.deadline.check(doing)
            key = checkpoint.new_request_key()
            try:
                with checkpoint.paid_attempt(self.job_name, f"{self.provider}: {doing}"):
                    checkpoint.save_job(self.job_name, job.model_copy(update={"state": "creating", "request_key": key}))
                    job_id = self.create(client, job.assets, key)
            except (ProviderError, RetryableError) as exc:
                if not never_processed(exc):
                    raise  # its answer may be lost: the next attempt looks for the job before creating one
                refused_uploads = reused and isinstance(exc, ProviderError)
                checkpoint.save_job(self.job_name, JobRecord(assets={} if refused_uploads else job.assets))
                if refused_uploads:
                    # Uploads kept from an earlier attempt may have expired: upload again and create once more.
                    raise RetryableError(f"{self.provider}: {doing} from earlier uploads was refused ({exc})") from exc
                raise
            created = job.model_copy(update={"state": "created", "request_key": key, "job_id": job_id})
            checkpoint.save_job(self.job_name, created)
            return job_id

        created_id: str = client.retried(attempt, doing)
        return created_id

    def wait(self, client: ProviderClient, checkpoint: Checkpoint, job_id: str) -> str:
        """Poll the job until it has a result URL (see `ProviderClient.poll`)."""
        try:
            return client.poll(lambda: self.read(client, job_id), doing=f"{self.job_kind} {job_id}")
        except AvatarJobTimedOut:
            raise  # the job may still finish: a re-execution polls it again
        except ProviderError:
            # The job failed, or the provider no longer knows it: the next attempt creates a new one.
            checkpoint.save_job(self.job_name, JobRecord(assets=checkpoint.job(self.job_name).assets))
            raise

    def _look_up(self, client: ProviderClient, checkpoint: Checkpoint, job: JobRecord) -> str | None:
        """The job a create whose answer was lost made, if the provider lists it; UnconfirmedJob when it cannot tell."""
        try:
            found = self.find(client, job.request_key)
        except (ProviderError, RetryableError) as exc:
            checkpoint.save_job(self.job_name, job.model_copy(update={"state": "unconfirmed", "note": str(exc)}))
            raise UnconfirmedJob(
                f"{self.provider}: the answer to creating the {self.job_kind} was lost and the provider's list could "
                f"not tell whether it was made ({exc}). A {self.job_kind} may exist and be billed: look in the "
                f"{self.provider} dashboard for {self.request_key_field} {job.request_key}. If it is there, write its "
                f"id as jobs[{self.job_name!r}].job_id in {checkpoint.where} and re-execute to use it; if not, delete "
                f"{checkpoint.where} and re-execute to create a new one"
            ) from None
        if found:
            checkpoint.save_job(self.job_name, job.model_copy(update={"state": "created", "job_id": found}))
            return found
        checkpoint.save_job(self.job_name, JobRecord(assets=job.assets))  # it was never made: creating one is safe
        return None
