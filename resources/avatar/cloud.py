"""What the cloud avatar engines (D-ID, Synthesia, HeyGen) share: one HTTP path, one poller, one normaliser.

A cloud engine only says how to upload the voice, create the job and read its status. Everything else lives
here once: every request goes through `with_retries`, the whole job runs against one deadline (on the
settings' clock), polling backs off, and the provider's video is re-encoded to what the render stage expects
(square, 25 fps, H.264 yuv420p) with OUR voice as the audio track, so subtitle timing never depends on the provider.
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

        def once() -> Any:
            response = self._send(self._api, method, url, doing, **kwargs)
            try:
                return response.json()
            except ValueError as exc:
                raise ProviderError(f"{self.provider}: the answer to {doing} is not JSON") from exc

        return self._retried(once, doing)

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

        self._retried(once, doing)

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

    def _retried(self, call: Callable[[], Any], doing: str) -> Any:
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
            raise self._failure(response, doing)
        return response

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


class CloudAvatarEngine(ABC):
    """Template for a cloud avatar provider: subclasses upload the voice, create the job and read its state."""

    provider: ClassVar[str]

    def __init__(self, settings: CloudSettings) -> None:
        self.settings = settings

    @abstractmethod
    def auth_headers(self) -> dict[str, str]:
        """The provider's authentication headers."""

    @abstractmethod
    def create_and_wait(self, client: ProviderClient, voice_mp3: Path, workdir: Path) -> str:
        """Upload what the job needs, create it, poll it; return the URL of the finished video."""

    def render(self, voice_path: Path, out_path: Path) -> list[Usage]:
        """Write `out_path` from the provider's video; ProviderError subclasses when the provider cannot."""
        duration_s = probe(voice_path).duration_s  # a broken voice fails here, before any credit is spent
        deadline = job_deadline(self.settings)
        with tempfile.TemporaryDirectory(prefix=f"avatar-{self.provider}-") as tmp:
            workdir = Path(tmp)
            voice_mp3 = voice_to_mp3(voice_path, workdir / "voice.mp3")
            with ProviderClient(self.settings, self.auth_headers(), deadline) as client:
                result_url = self.create_and_wait(client, voice_mp3, workdir)
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
