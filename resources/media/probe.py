"""Probe media files with PyAV: the single source of truth for durations, sizes and codecs."""

from __future__ import annotations

from pathlib import Path

import av

from resources.errors import InputRejected
from resources.records import MediaFacts


def probe(path: Path) -> MediaFacts:
    """Return the facts of a media file; raise InputRejected when it is empty or not decodable media."""
    size = path.stat().st_size if path.exists() else 0
    if size == 0:
        raise InputRejected(f"{path.name} is empty (0 bytes); provide a real video or audio file")
    try:
        with av.open(str(path)) as container:
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
    except av.error.FFmpegError as exc:
        raise InputRejected(f"{path.name} is not readable media ({exc}); provide a valid video file") from exc
    if facts.duration_s <= 0:
        raise InputRejected(f"{path.name} has no measurable duration; it is corrupt or not a video")
    return facts


def _duration_s(container: av.container.InputContainer, *streams: object) -> float:
    if container.duration:
        return round(container.duration / 1_000_000, 3)
    for stream in streams:
        if stream is not None and getattr(stream, "duration", None) and getattr(stream, "time_base", None):
            return round(float(stream.duration * stream.time_base), 3)  # type: ignore[attr-defined]
    return 0.0
