"""A contact sheet: a few frames of a video side by side in one small JPEG, so a person sees the short in the UI."""

from __future__ import annotations

import base64
from pathlib import Path

from resources.media.ffmpeg import run_ffmpeg

FRAMES = 4
FRAME_WIDTH = 180  # a 9:16 frame 180x320: four of them are a 720x320 image of about 30 KB
MAX_EMBEDDED_BYTES = 200_000  # the UI's metadata is stored in the event log: keep what it embeds small


def make_contact_sheet(video: Path, out: Path, *, duration_s: float, frames: int = FRAMES) -> Path:
    """Write `frames` frames spread evenly over `video` (the start of each equal slice), tiled in one row."""
    # fps at frames/duration keeps exactly one frame per slice; tile waits for all of them.
    rate = frames / max(duration_s, 0.1)
    run_ffmpeg(
        [
            "-i", str(video),
            "-vf", f"fps={rate:.6f},scale={FRAME_WIDTH}:-2,tile={frames}x1",
            "-frames:v", "1", "-q:v", "5", str(out),
        ],
        what="making the contact sheet",
    )  # fmt: skip
    return out


def as_markdown(sheet: Path, caption: str) -> str:
    """The sheet as a Markdown image the Dagster UI shows inline (a data URI), or a note when it is too big."""
    data = sheet.read_bytes()
    if len(data) > MAX_EMBEDDED_BYTES:
        return f"*{caption}: contact sheet too large to embed ({len(data) // 1000} KB): {sheet}*"
    return f"![{caption}](data:image/jpeg;base64,{base64.b64encode(data).decode()})"
