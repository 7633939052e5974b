"""The avatar stage's resource: turn the voiceover into a video of a presenter speaking it.

`AvatarRenderer.provider` picks an engine from `ENGINES`. An engine is anything with
`render(voice_path, out_path) -> list[Usage]`; a cloud provider (D-ID, Synthesia, HeyGen) is one module
built on `resources.avatar.cloud` plus one line in `ENGINES` (and its name in the `provider` Literal).
When a cloud provider refuses, fails or times out, the offline presenter renders instead (`fallback_to_local`).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal, Protocol

import dagster as dg
import numpy as np
from pydantic import BaseModel, Field, model_validator

from resources.avatar.cloud import CloudSettings
from resources.avatar.did_engine import DIdEngine, check_presenter_image
from resources.avatar.envelope import (
    blink_schedule,
    blink_track,
    frame_count,
    loudness_envelope,
    read_wav_mono,
)
from resources.avatar.heygen_engine import HeyGenEngine
from resources.avatar.presenter import PresenterDrawer, PresenterLook
from resources.avatar.synthesia_engine import SynthesiaEngine
from resources.errors import ConfigurationError, ProviderError
from resources.http.secrets import redact, require_secret
from resources.media.ffmpeg import FfmpegError, ffmpeg_exe
from resources.usage import Usage

# Once every frame is written, ffmpeg only flushes the encoder and muxes: minutes mean it is stuck.
_FINISH_TIMEOUT_S = 300.0
# The avatar file is an intermediate: the render decodes it once and re-encodes it inside the short. ultrafast at
# crf 18 is better than the veryfast/23 it was and costs half the CPU (2.3 s instead of 4.8 s per 30 s at 600 px);
# the file is about 5x bigger (≈3.5 MB per 30 s).
_INTERMEDIATE_X264 = ("-c:v", "libx264", "-preset", "ultrafast", "-crf", "18", "-pix_fmt", "yuv420p")
# The diameter at which the default layout (avatar_over_blur) overlays the avatar: drawn at that size, the render
# only masks it (resources/render/filtergraph.py AVATAR_D; tests/unit/test_filtergraph.py keeps the two equal).
# It was drawn at 720 and scaled down in the render: 44% more pixels to draw, encode, decode and scale.
DEFAULT_SIZE = 600


class AvatarEngine(Protocol):
    """What every avatar provider does: write an MP4 of a presenter speaking `voice_path`."""

    def render(self, voice_path: Path, out_path: Path) -> list[Usage]: ...


@dataclass(frozen=True)
class LocalAvatarEngine:
    """The offline presenter: frames drawn with numpy, driven by the voice, encoded by one ffmpeg process."""

    size: int
    fps: int
    look: PresenterLook
    seed: int

    def render(self, voice_path: Path, out_path: Path) -> list[Usage]:
        """Write `out_path` (H.264 yuv420p + AAC, as long as the voice); InputRejected on a bad voice. Free."""
        samples, rate = read_wav_mono(voice_path)
        duration_s = samples.size / rate
        n_frames = frame_count(samples.size, rate, self.fps)
        mouth = loudness_envelope(samples, rate, self.fps)
        blinks = blink_track(blink_schedule(duration_s, self.seed), n_frames, self.fps)
        drawer = PresenterDrawer(self.size, self.fps, self.look, self.seed)
        frames = (drawer.draw(i, float(mouth[i]), float(blinks[i])) for i in range(n_frames))
        encode_frames(
            frames,
            voice_path=voice_path,
            out_path=out_path,
            size=self.size,
            fps=self.fps,
            duration_s=duration_s,
        )
        return []


def encode_frames(
    frames: Iterable[np.ndarray], *, voice_path: Path, out_path: Path, size: int, fps: int, duration_s: float
) -> None:
    """Pipe raw rgb24 frames into ffmpeg with the voice as audio; write `out_path` atomically.

    `-t` (not `-shortest`) bounds the output: with `-shortest` ffmpeg buffered 1.18 GB of raw frames.
    Raises FfmpegError with the tail of ffmpeg's log when it fails or dies mid-stream.
    """
    partial = out_path.with_name(f".{out_path.stem}.partial{out_path.suffix}")
    cmd = [
        ffmpeg_exe(), "-hide_banner", "-loglevel", "warning", "-y",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{size}x{size}", "-r", str(fps), "-i", "-",
        "-i", str(voice_path),
        "-map", "0:v:0", "-map", "1:a:0", "-t", f"{duration_s:.3f}",
        *_INTERMEDIATE_X264, "-c:a", "aac", "-b:a", "160k", "-movflags", "+faststart", str(partial),
    ]  # fmt: skip
    out_path.parent.mkdir(parents=True, exist_ok=True)
    # stderr goes to a file: nobody reads it while frames are written, so a pipe could fill and deadlock.
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=log)
        try:
            code = _feed_and_wait(proc, frames, log)
        except BaseException:  # drawing failed, ffmpeg died or hung, or the run was interrupted
            if proc.poll() is None:
                proc.kill()
            proc.wait()  # reaped either way: no zombie ffmpeg
            if proc.stdin is not None:
                with contextlib.suppress(OSError):
                    proc.stdin.close()
            partial.unlink(missing_ok=True)
            raise
        if code != 0:
            partial.unlink(missing_ok=True)
            raise FfmpegError(f"ffmpeg failed while encoding the avatar (exit {code}):\n{_tail(log)}")
    partial.replace(out_path)


def _feed_and_wait(proc: subprocess.Popen[bytes], frames: Iterable[np.ndarray], log: IO[bytes]) -> int:
    """Write every frame to ffmpeg's stdin, close it, and return ffmpeg's exit code."""
    stdin = proc.stdin
    assert stdin is not None  # Popen(stdin=PIPE) always sets it
    try:
        for frame in frames:
            stdin.write(np.ascontiguousarray(frame).data)
        stdin.close()
    except BrokenPipeError:
        with contextlib.suppress(BrokenPipeError):
            stdin.close()
        code = proc.wait(timeout=30)
        raise FfmpegError(f"ffmpeg stopped reading avatar frames (exit {code}):\n{_tail(log)}") from None
    try:
        return proc.wait(timeout=_FINISH_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        raise FfmpegError(f"ffmpeg did not finish the avatar within {_FINISH_TIMEOUT_S:.0f}s") from exc


def _tail(log: IO[bytes], lines: int = 12) -> str:
    log.seek(0)
    return "\n".join(log.read().decode("utf-8", "replace").strip().splitlines()[-lines:])


def _look(settings: AvatarRenderer) -> PresenterLook:
    return PresenterLook(
        skin=settings.skin_color,
        hair=settings.hair_color,
        shirt=settings.shirt_color,
        background=settings.background_color,
    )


def _local_engine(settings: AvatarRenderer) -> AvatarEngine:
    return LocalAvatarEngine(size=settings.local_size, fps=settings.fps, look=_look(settings), seed=settings.seed)


# Real hosts and key variables per cloud provider; the resource's empty strings mean "these".
_API_BASE_URLS = {
    "d-id": "https://api.d-id.com",
    "synthesia": "https://api.synthesia.io",
    "heygen": "https://api.heygen.com",
}
_UPLOAD_BASE_URLS = {"synthesia": "https://upload.api.synthesia.io"}
_API_KEY_ENVS = {"d-id": "DID_API_KEY", "synthesia": "SYNTHESIA_API_KEY", "heygen": "HEYGEN_API_KEY"}


def _cloud_settings(settings: AvatarRenderer, *, needs_avatar_id: bool = False) -> CloudSettings:
    """The resolved settings of the selected cloud provider; ConfigurationError when the key or avatar is missing."""
    provider = settings.provider
    key_env = settings.api_key_env or _API_KEY_ENVS[provider]
    api_key = require_secret(key_env, stage=f"avatar ({provider})", offline_alternative="provider=local")
    if needs_avatar_id and not settings.avatar_id.strip():
        raise ConfigurationError(
            f"avatar ({provider}): avatar_id is empty; set it to one of your {provider} avatar ids "
            "or use provider=local"
        )
    api = (settings.api_base_url or _API_BASE_URLS[provider]).rstrip("/")
    return CloudSettings(
        provider=provider,
        api_key=api_key,
        api_base_url=api,
        upload_base_url=(settings.upload_base_url or _UPLOAD_BASE_URLS.get(provider, api)).rstrip("/"),
        avatar_id=settings.avatar_id.strip(),
        size=settings.size,
        fps=settings.fps,
        poll_interval_s=settings.poll_interval_s,
        poll_backoff=settings.poll_backoff,
        timeout_s=settings.timeout_s,
    )


def _did_engine(settings: AvatarRenderer) -> AvatarEngine:
    def portrait() -> np.ndarray:
        return PresenterDrawer(settings.size, settings.fps, _look(settings), settings.seed).draw(0, 0.0, 0.0)

    return DIdEngine(_cloud_settings(settings), presenter_image=settings.presenter_image, portrait=portrait)


def _synthesia_engine(settings: AvatarRenderer) -> AvatarEngine:
    return SynthesiaEngine(
        _cloud_settings(settings, needs_avatar_id=True),
        background=settings.cloud_background,
        script_language=settings.script_language,
        test=settings.test_video,
    )


def _heygen_engine(settings: AvatarRenderer) -> AvatarEngine:
    return HeyGenEngine(_cloud_settings(settings, needs_avatar_id=True))


ENGINES: dict[str, Callable[[AvatarRenderer], AvatarEngine]] = {
    "local": _local_engine,
    "d-id": _did_engine,
    "synthesia": _synthesia_engine,
    "heygen": _heygen_engine,
}


class AvatarResult(BaseModel):
    """Who made the avatar video, why the offline presenter stood in (if it did), and what it cost."""

    provider: str = Field(description="Engine that rendered the file: local, d-id, synthesia or heygen.")
    fallback_reason: str = Field(default="", description="Why a cloud provider fell back to the offline avatar.")
    usage: list[Usage] = Field(default_factory=list, description="Provider usage and estimated cost.")


class AvatarRenderer(dg.ConfigurableResource):
    """Renders the presenter video for a voiceover with the configured provider."""

    provider: Literal["local", "d-id", "synthesia", "heygen"] = Field(
        default="local", description="Avatar engine; see ENGINES."
    )
    size: int = Field(
        default=720, description="Width and height of a cloud provider's square video, once normalised (even)."
    )
    local_size: int = Field(
        default=DEFAULT_SIZE,
        description="Width and height of the offline presenter's video (even): 600 is the diameter the default "
        "layout shows it at, so the render masks it without scaling it.",
    )
    fps: int = Field(default=25, description="Frames per second.")
    skin_color: str = Field(default="#f0c8a0", description="Presenter skin as #rrggbb.")
    hair_color: str = Field(default="#3b2a22", description="Presenter hair and brows as #rrggbb.")
    shirt_color: str = Field(default="#2f6fde", description="Presenter shirt as #rrggbb.")
    background_color: str = Field(default="#1f3b5c", description="Backdrop base colour as #rrggbb.")
    seed: int = Field(default=7, description="Seed of the blink and glance schedule (same seed, same video).")
    # Cloud providers. The presenter is configuration: a portrait (D-ID) or an avatar id (Synthesia, HeyGen).
    presenter_image: str = Field(
        default="",
        description="D-ID portrait: a .png/.jpg path or https URL; empty = the offline presenter's first frame.",
    )
    avatar_id: str = Field(default="", description="Synthesia avatar or HeyGen avatar id (required for those two).")
    cloud_background: str = Field(
        default="off_white", description="Synthesia background: a stock name, an asset id or a URL."
    )
    script_language: str = Field(default="en-US", description="Synthesia scriptLanguage of the uploaded voice.")
    test_video: bool = Field(default=False, description="Synthesia test video: free, watermarked, 30 a day.")
    api_base_url: str = Field(default="", description="API base URL; empty = the provider's real host.")
    upload_base_url: str = Field(
        default="", description="Synthesia upload host; empty = https://upload.api.synthesia.io."
    )
    api_key_env: str = Field(
        default="", description="Variable holding the key; empty = DID_API_KEY, SYNTHESIA_API_KEY or HEYGEN_API_KEY."
    )
    poll_interval_s: float = Field(default=5.0, description="First wait between two status reads of a cloud job.")
    poll_backoff: float = Field(default=1.5, description="Each wait is the previous one times this (capped at 30 s).")
    timeout_s: float = Field(default=900.0, description="Deadline for a whole cloud job, uploads to download.")
    fallback_to_local: bool = Field(
        default=True, description="Render the offline presenter when the cloud provider refuses, fails or times out."
    )

    @model_validator(mode="after")
    def _presenter_image_d_id_accepts(self) -> AvatarRenderer:
        # A ConfigurationError (not a ValueError) passes through pydantic as it is: the message says what to set.
        if self.provider == "d-id":
            check_presenter_image(self.presenter_image)
        return self

    def render(self, *, voice_path: Path, out_path: Path) -> AvatarResult:
        """Write the presenter MP4 to `out_path`; say which engine made it and what it cost.

        A missing API key or avatar id is a ConfigurationError (never hidden by the fallback). A provider
        refusal, a failed or rejected job, or the deadline passing renders the offline presenter instead
        when `fallback_to_local` is set (free: no paid attempt is counted for it), and re-raises the ProviderError
        otherwise. A job that may exist but cannot be found (UnconfirmedJob) and an input already paid for as often
        as allowed (PaidAttemptsExhausted) are never hidden by the fallback either: a paid video may be waiting.
        """
        engine = ENGINES[self.provider](self)
        try:
            usage = engine.render(voice_path, out_path)
        except ProviderError as exc:
            if self.provider == "local" or not self.fallback_to_local:
                raise
            reason = redact(str(exc), *self._secrets())
            if not reason.startswith(f"{self.provider}:"):
                reason = f"{self.provider}: {reason}"
            dg.get_dagster_logger().warning(f"avatar: {reason}; rendering the offline presenter instead")
            # The stand-in has the cloud video's size: what comes out of a cloud configuration does not depend on
            # whether the provider answered.
            LocalAvatarEngine(size=self.size, fps=self.fps, look=_look(self), seed=self.seed).render(
                voice_path, out_path
            )
            return AvatarResult(provider="local", fallback_reason=reason)
        return AvatarResult(provider=self.provider, usage=usage)

    def _secrets(self) -> list[str]:
        env = self.api_key_env or _API_KEY_ENVS.get(self.provider, "")
        return [os.environ.get(env, "").strip()] if env else []
