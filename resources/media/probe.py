"""Probe media files with PyAV: the single source of truth for durations, sizes and codecs."""

from __future__ import annotations

from pathlib import Path

import av

from resources.errors import InputRejected
from resources.media.ffmpeg import INPUT_DEMUXERS
from resources.records import MediaFacts

# The same limits as every ffmpeg input: local files only, real audio/video demuxers only (no tty, hls, concat).
OPEN_OPTIONS = {"protocol_whitelist": "file", "format_whitelist": ",".join(INPUT_DEMUXERS)}


def open_media(path: Path) -> av.container.InputContainer:
    """Open `path` with PyAV, limited to the demuxers ffmpeg may use (INPUT_DEMUXERS) and to the file protocol."""
    return av.open(str(path), options=dict(OPEN_OPTIONS))


def probe(path: Path) -> MediaFacts:
    """Return the facts of a media file; raise InputRejected when it is empty or not decodable media."""
    size = path.stat().st_size if path.exists() else 0
    if size == 0:
        raise InputRejected(f"{path.name} is empty (0 bytes); provide a real video or audio file")
    try:
        with open_media(path) as container:
            video = next(iter(container.streams.video), None)
            audio = next(iter(container.streams.audio), None)
            duration = _duration_s(container, video, audio)
            fps = float(video.average_rate) if video is not None and video.average_rate else 0.0
            facts = MediaFacts(
                duration_s=duration,
                size_bytes=size,
                width=video.codec_context.width if video is not None else 0,
                height=video.codec_context.height if video is not None else 0,
                fps=round(fps, 3),
                video_codec=video.codec_context.name if video is not None else None,
                audio_codec=audio.codec_context.name if audio is not None else None,
                audio_sample_rate=audio.codec_context.sample_rate if audio is not None else 0,
            )
    except av.error.ArgumentError as exc:  # refused by the format whitelist: text, a playlist, a list of files
        raise InputRejected(
            f"{path.name} is not readable media: not a video or audio container this pipeline reads "
            f"(allowed: {', '.join(INPUT_DEMUXERS)}); provide a valid video file"
        ) from exc
    except av.error.FFmpegError as exc:
        raise InputRejected(f"{path.name} is not readable media ({exc}); provide a valid video file") from exc
    if facts.duration_s <= 0:
        raise InputRejected(f"{path.name} has no measurable duration; it is corrupt or not a video")
    _check_complete(path, facts)
    return facts


def _check_complete(path: Path, facts: MediaFacts) -> None:
    """Refuse a file whose packets stop well before its stated duration (a cut download or copy).

    A faststart MP4 keeps its index at the front, so a file cut in half still *claims* its full duration; only
    reading the packets (demuxing, no decoding: about a second for a few hundred MB) shows where the data ends.
    """
    reached = 0.0
    try:
        with open_media(path) as container:
            for packet in container.demux():
                if packet.pts is not None and packet.time_base is not None:
                    end = float((packet.pts + (packet.duration or 0)) * packet.time_base)
                    reached = max(reached, end - float(packet.stream.start_time or 0) * float(packet.time_base))
    except av.error.FFmpegError as exc:
        raise InputRejected(f"{path.name} is not readable media ({exc}); provide a valid video file") from exc
    if reached < facts.duration_s * 0.9 - 0.5:
        raise InputRejected(
            f"{path.name} is not readable media: its data ends at {reached:.1f} s of a stated "
            f"{facts.duration_s:.1f} s (truncated); download or copy it again"
        )


def _duration_s(container: av.container.InputContainer, *streams: object) -> float:
    if container.duration:
        return round(container.duration / 1_000_000, 3)
    for stream in streams:
        if stream is not None and getattr(stream, "duration", None) and getattr(stream, "time_base", None):
            return round(float(stream.duration * stream.time_base), 3)  # type: ignore[attr-defined]
    return 0.0
