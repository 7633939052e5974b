"""A contact sheet: a few frames of a video side by side in one small JPEG, so a person sees the short in the UI."""

from __future__ import annotations

import base64
from pathlib import Path

from resources.media.ffmpeg import run_ffmpeg

FRAMES = 4
FRAME_WIDTH = 180  # a 9:16 frame 180x320: four of them are a 720x320 image of about 30 KB
MAX_EMBEDDED_BYTES = 200_000  # the UI's metadata is stored in the event log: keep what it embeds small


def sheet_times(duration_s: float, frames: int = FRAMES) -> list[float]:
    """The start of each of `frames` equal slices of the video: the moments the sheet shows.

    The render puts a keyframe at each (`-force_key_frames`), so the sheet decodes only those few frames
    instead of the whole 1080x1920 short (0.1 s of CPU instead of 2.5 s on a 21 s short).
    """
    return [round(i * max(duration_s, 0.1) / frames, 3) for i in range(frames)]


def make_contact_sheet(video: Path, out: Path, *, duration_s: float, frames: int = FRAMES) -> Path:
    """Write `frames` frames spread evenly over `video` (the start of each equal slice), tiled in one row.

    Only keyframes are decoded; `select` keeps the first one of each slice (a longer short has the encoder's own
    keyframes between the forced ones). A video with no keyframe in some slice gives fewer tiles, never a wrong one.
    """
    gap = 0.95 * max(duration_s, 0.1) / frames
    run_ffmpeg(
        [
            "-skip_frame", "nokey", "-i", str(video),
            "-vf", rf"select='isnan(prev_selected_t)+gte(t-prev_selected_t\,{gap:.3f})',"
            f"scale={FRAME_WIDTH}:-2,tile={frames}x1",
            "-fps_mode", "passthrough", "-frames:v", "1", "-q:v", "5", str(out),
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
