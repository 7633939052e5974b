"""Locate and run ffmpeg. One place, so every stage uses the same binary and error handling."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from functools import cache

from resources.errors import PipelineError


class FfmpegError(PipelineError):
    """ffmpeg exited non-zero; the message carries the tail of its log."""


@cache
def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary: $FFMPEG_BINARY, else the imageio-ffmpeg wheel's (has libass, libx264)."""
    configured = os.environ.get("FFMPEG_BINARY")
    if configured:
        return configured
    try:
        import imageio_ffmpeg

        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except Exception:  # the wheel is missing or has no binary for this platform
        found = shutil.which("ffmpeg")
        if found:
            return found
        raise PipelineError(
            "ffmpeg not found: install the project (make setup) or set FFMPEG_BINARY to an ffmpeg with libass"
        ) from None


def run_ffmpeg(args: Sequence[str], *, what: str, timeout_s: float = 1800) -> str:
    """Run ffmpeg with `args` (no shell); return stderr. Raise FfmpegError naming `what` on failure."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as exc:
        raise FfmpegError(f"ffmpeg timed out after {timeout_s:.0f}s while {what}") from exc
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-12:])
        raise FfmpegError(f"ffmpeg failed while {what} (exit {proc.returncode}):\n{tail}")
    return proc.stderr
