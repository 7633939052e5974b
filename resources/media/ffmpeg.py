"""Locate and run ffmpeg. One place, so every stage uses the same binary and error handling."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from functools import cache

from resources.errors import InputRejected, PipelineError

# The demuxers ffmpeg and PyAV may pick for a file: real video and audio containers, and still images (the logo).
# Left out on purpose: `tty` (draws text files as video), `concat`/`ffconcat`, `hls`/`dash` and friends (playlists
# that open the paths and URLs inside them), `image2` (file-name patterns and globs), and everything else.
INPUT_DEMUXERS = (
    "mov", "matroska", "avi", "flv", "mpegts", "mpeg",  # mov = mp4/m4a/3gp; matroska = mkv/webm; mpeg = PS
    "wav", "mp3", "aac", "ogg", "flac",
    "png_pipe", "jpeg_pipe",
)  # fmt: skip
# Formats a caller may force with `-f` for an input it generates itself: a filter source or raw data on a pipe.
GENERATED_INPUT_FORMATS = frozenset({"lavfi", "rawvideo", "f32le", "s16le"})
INPUT_PROTOCOLS = "file,pipe"
_NOT_ALLOWED = "not on whitelist"  # ffmpeg: "Format ... not on whitelist", "Protocol 'x' not on whitelist"


class FfmpegError(PipelineError):
    """ffmpeg exited non-zero; the message carries the tail of its log."""


def guard_inputs(args: Sequence[str]) -> list[str]:
    """`args` with every input (`-i`) limited to local files and pipes and, unless the caller forced a generated
    format (`-f lavfi`, raw data on a pipe), to the demuxers in INPUT_DEMUXERS.

    Inputs come before outputs in every command here, so the `-f` between the previous `-i` and this one is
    this input's format.
    """
    guarded: list[str] = []
    forced: str | None = None
    for index, arg in enumerate(args):
        if arg == "-f" and index + 1 < len(args):
            forced = args[index + 1]
        if arg == "-i":
            if forced is not None and forced not in GENERATED_INPUT_FORMATS and forced not in INPUT_DEMUXERS:
                raise PipelineError(f"ffmpeg input format {forced!r} is not allowed; use one of {INPUT_DEMUXERS}")
            guarded += ["-protocol_whitelist", INPUT_PROTOCOLS]
            if forced is None:
                guarded += ["-format_whitelist", ",".join(INPUT_DEMUXERS)]
            forced = None
        guarded.append(arg)
    return guarded


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
    """Run ffmpeg with `args` (no shell, inputs guarded by `guard_inputs`); return stderr.

    Raise FfmpegError naming `what` on failure, InputRejected when an input is not a format ffmpeg may read.
    """
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", *guard_inputs(args)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as exc:
        raise FfmpegError(f"ffmpeg timed out after {timeout_s:.0f}s while {what}") from exc
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-12:])
        if _NOT_ALLOWED in proc.stderr:  # text, a playlist, a list of files, a URL or a `concat:` / `subfile:` path
            raise InputRejected(
                f"ffmpeg refused an input while {what}: it is not a local video, audio or image file "
                f"(allowed demuxers: {', '.join(INPUT_DEMUXERS)}; protocols: {INPUT_PROTOCOLS}); give a real video "
                f"file:\n{tail}"
            )
        raise FfmpegError(f"ffmpeg failed while {what} (exit {proc.returncode}):\n{tail}")
    return proc.stderr
