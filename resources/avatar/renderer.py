"""The avatar stage's resource: turn the voiceover into a video of a presenter speaking it.

`AvatarRenderer.provider` picks an engine from `ENGINES`. An engine is anything with
`render(voice_path, out_path)`; a cloud provider (D-ID, Synthesia, HeyGen) is one module with a factory
plus one line in `ENGINES` (and its name in the `provider` Literal).
"""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal, Protocol

import dagster as dg
import numpy as np
from pydantic import Field

from resources.avatar.envelope import (
    blink_schedule,
    blink_track,
    frame_count,
    loudness_envelope,
    read_wav_mono,
)
from resources.avatar.presenter import PresenterDrawer, PresenterLook
from resources.media.ffmpeg import FfmpegError, ffmpeg_exe

# Once every frame is written, ffmpeg only flushes the encoder and muxes: minutes mean it is stuck.
_FINISH_TIMEOUT_S = 300.0


class AvatarEngine(Protocol):
    """What every avatar provider does: write an MP4 of a presenter speaking `voice_path`."""

    def render(self, voice_path: Path, out_path: Path) -> None: ...


@dataclass(frozen=True)
class LocalAvatarEngine:
    """The offline presenter: frames drawn with numpy, driven by the voice, encoded by one ffmpeg process."""

    size: int
    fps: int
    look: PresenterLook
    seed: int

    def render(self, voice_path: Path, out_path: Path) -> None:
        """Write `out_path` (H.264 yuv420p + AAC, as long as the voice); InputRejected on a bad voice."""
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
        "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-b:a", "160k", "-movflags", "+faststart", str(partial),
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


def _local_engine(settings: AvatarRenderer) -> AvatarEngine:
    look = PresenterLook(
        skin=settings.skin_color,
        hair=settings.hair_color,
        shirt=settings.shirt_color,
        background=settings.background_color,
    )
    return LocalAvatarEngine(size=settings.size, fps=settings.fps, look=look, seed=settings.seed)


ENGINES: dict[str, Callable[[AvatarRenderer], AvatarEngine]] = {
    "local": _local_engine,
}


class AvatarRenderer(dg.ConfigurableResource):
    """Renders the presenter video for a voiceover with the configured provider."""

    provider: Literal["local"] = Field(default="local", description="Avatar engine; see ENGINES.")
    size: int = Field(default=720, description="Width and height of the square video in pixels (even).")
    fps: int = Field(default=25, description="Frames per second.")
    skin_color: str = Field(default="#f0c8a0", description="Presenter skin as #rrggbb.")
    hair_color: str = Field(default="#3b2a22", description="Presenter hair and brows as #rrggbb.")
    shirt_color: str = Field(default="#2f6fde", description="Presenter shirt as #rrggbb.")
    background_color: str = Field(default="#1f3b5c", description="Backdrop base colour as #rrggbb.")
    seed: int = Field(default=7, description="Seed of the blink and glance schedule (same seed, same video).")

    def render(self, *, voice_path: Path, out_path: Path) -> str:
        """Write the presenter MP4 to `out_path` and return the provider name that made it."""
        ENGINES[self.provider](self).render(voice_path, out_path)
        return self.provider
