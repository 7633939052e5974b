"""Make `talking_head.mp4` from `astronaut.jpg`: a landscape clip of a real face, off-centre, swaying sideways.

    .venv/bin/python -m tests.data.faces.make_talking_head [OUT]

The photo's head and shoulders stand left of centre on a plain wall and glide right and back once over the clip
(so a fixed centre crop misses the face and tracking matters), under offline Piper narration long enough for the
script stage (≥ 30 words). Run it again only to change the clip; the tests and the render bench read the
committed file.
"""

from __future__ import annotations

import sys
from pathlib import Path

from resources.media.ffmpeg import run_ffmpeg
from resources.voice import Speaker

HERE = Path(__file__).parent
PHOTO = HERE / "astronaut.jpg"
VIDEO = HERE / "talking_head.mp4"
W, H, FPS = 1280, 720, 15
# Head and shoulders of the 512x512 photo (face at x 177..272, y 66..161), scaled to the frame height.
CROP_X, CROP_Y, CROP_W, CROP_H = 90, 0, 330, 400
SCALE = H / CROP_H
LEFT_MIN, LEFT_MAX = 40, 240  # the photo's left edge sways between these (face centre ≈ 0.22 … 0.38 of W)
WALL = "0xb9b6b4"  # the photo's own grey backdrop, so only the portrait's edge shows where it ends
NARRATION = [
    "Hi, I want to show you one small habit that completely changed how I work from home.",
    "Every morning I write down the three tasks that matter most, before I open a single email.",
    "By lunch the hard part of the day is already done, and the rest of it feels easy.",
]


def make_talking_head(out: Path = VIDEO) -> Path:
    """Write the clip to `out`: 1280x720 15 fps H.264 + 48 kHz mono AAC narration."""
    voice = out.with_suffix(".voice.wav")
    duration = Speaker(length_scale=1.0).speak(NARRATION, voice).duration_s + 0.3
    portrait_w = round(CROP_W * SCALE) // 2 * 2
    sway = f"{LEFT_MIN}+{LEFT_MAX - LEFT_MIN}*(1-cos(2*PI*t/{duration:.3f}))/2"
    run_ffmpeg(
        [
            "-f", "lavfi", "-i", f"color=c={WALL}:s={W}x{H}:r={FPS}:d={duration:.3f}",
            "-f", "jpeg_pipe", "-i", str(PHOTO),
            "-i", str(voice),
            "-filter_complex",
            f"[1:v]loop=loop=-1:size=1,crop={CROP_W}:{CROP_H}:{CROP_X}:{CROP_Y},scale={portrait_w}:{H}:flags=lanczos,setsar=1[p];"
            f"[0:v][p]overlay=x='{sway}':y=0:shortest=1,format=yuv420p[v];"
            "[2:a]aresample=48000[a]",
            "-map", "[v]", "-map", "[a]", "-t", f"{duration:.3f}",
            "-c:v", "libx264", "-preset", "slow", "-crf", "33", "-g", str(FPS * 4),
            "-c:a", "aac", "-b:a", "24k", "-ac", "1", "-movflags", "+faststart", str(out),
        ],
        what="making the talking-head test clip",
    )  # fmt: skip
    voice.unlink(missing_ok=True)
    return out


if __name__ == "__main__":
    print(make_talking_head(Path(sys.argv[1]) if len(sys.argv) > 1 else VIDEO))
