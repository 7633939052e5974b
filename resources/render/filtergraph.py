"""The ffmpeg `-filter_complex` graph and argument list of the final render (pure functions, no I/O).

Inputs of the command: 0 = source video (looped), 1 = avatar video, 2 = voice WAV, 3 = logo PNG (optional).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Literal

OUT_W = 1080
OUT_H = 1920
OUT_FPS = 30
AUDIO_RATE = 48_000

LayoutName = Literal["avatar_over_blur", "split_screen", "face_crop"]
LAYOUTS: tuple[LayoutName, ...] = ("avatar_over_blur", "split_screen", "face_crop")

# avatar_over_blur geometry. The background is blurred at quarter size and scaled up: same look as a
# full-resolution boxblur, which measured ≈5.8 s extra per 30 s short on 2 cores.
_BLUR_W, _BLUR_H, _BG_FPS = 270, 480, 10
_FG_BOX_W, _FG_BOX_H, _FG_TOP = 1020, 880, 150
# AVATAR_D is also the offline avatar's default size (resources/avatar/renderer.py), so it is masked, not scaled.
AVATAR_D, _RING = 600, 12
_AVATAR_X, _AVATAR_Y = (OUT_W - AVATAR_D) // 2, 1240
_LOGO_BOX, _LOGO_MARGIN = 160, 48
# face_crop geometry: the speaker fills the frame, the avatar is a small circle in the lower right corner.
_FACE_AV_D, _FACE_AV_MARGIN, _FACE_AV_BOTTOM = 360, 48, 160
_FACE_AV_X, _FACE_AV_Y = OUT_W - _FACE_AV_D - _FACE_AV_MARGIN, OUT_H - _FACE_AV_D - _FACE_AV_BOTTOM
# Anamorphic sources (SAR ≠ 1) are stretched to square pixels first, so fitting and cropping see the real
# shape. A no-op for square pixels; an unknown SAR (0) also keeps the width, since scale reads 0 as "input".
_SQUARE_PIXELS = "scale=w=iw*sar:h=ih,setsar=1"

# Caption baseline distance from the bottom edge, per layout: just above the avatar circle, or on the seam
# between the two halves of the split screen.
CAPTION_MARGIN_V: dict[LayoutName, int] = {
    "avatar_over_blur": OUT_H - _AVATAR_Y + _RING + 40,
    "split_screen": 910,
    "face_crop": OUT_H - _FACE_AV_Y + _RING + 40,
}


def escape_option_value(value: str) -> str:
    """Escape a filter option value for use inside a filtergraph string (both levels of ffmpeg escaping).

    Level 1 protects the option parser (`\\`, `'`, `:`); level 2 protects the graph parser
    (`\\`, `'`, `[`, `]`, `,`, `;`). Works for any path: colons, quotes, commas, brackets, backslashes.
    """
    level1 = "".join("\\" + ch if ch in "\\':" else ch for ch in value)
    return "".join("\\" + ch if ch in "\\'[],;" else ch for ch in level1)


def caption_margin_v(layout: str) -> int:
    """Vertical caption margin (pixels from the bottom) that keeps captions off the avatar in `layout`."""
    return CAPTION_MARGIN_V[check_layout(layout)]


def check_layout(layout: str) -> LayoutName:
    """Return `layout` typed as a known layout name; raise ValueError naming the choices otherwise."""
    for name in LAYOUTS:
        if layout == name:
            return name
    raise ValueError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}")


def _disk_mask(size: int, label: str) -> str:
    """A single gray frame: an anti-aliased white disk on black, made once and reused by alphamerge."""
    r = size / 2
    expr = escape_option_value(f"clip(({r}-hypot(X+0.5-{r},Y+0.5-{r}))*255+128,0,255)")
    return f"color=c=black:s={size}x{size}:r=1:d=1,format=gray,geq=lum={expr}[{label}]"


def _video_avatar_over_blur() -> list[str]:
    crop_w = escape_option_value(f"min(iw,ih*{OUT_W}/{OUT_H})")
    crop_h = escape_option_value(f"min(ih,iw*{OUT_H}/{OUT_W})")
    ring_d = AVATAR_D + 2 * _RING
    return [
        # One decode of the source feeds both the blurred background and the fitted foreground.
        f"[0:v]{_SQUARE_PIXELS},fps={OUT_FPS},split=2[bgsrc][fgsrc]",
        # Crop to 9:16 before scaling, so the downscale writes only 270x480 pixels. The blurred background
        # changes at 10 fps (each picture repeated 3 times): motion under a heavy blur looks the same, and
        # x264 skips the repeated areas. Measured on 2 cores, 30 s: ≈2–3 s less CPU than 30 fps.
        f"[bgsrc]fps={_BG_FPS},crop=w={crop_w}:h={crop_h},scale={_BLUR_W}:{_BLUR_H}:flags=fast_bilinear,"
        f"boxblur=8:2,eq=brightness=-0.08,scale={OUT_W}:{OUT_H}:flags=fast_bilinear,fps={OUT_FPS},setsar=1[bg]",
        f"[fgsrc]scale={_FG_BOX_W}:{_FG_BOX_H}:force_original_aspect_ratio=decrease"
        f":force_divisible_by=2:flags=bilinear,setsar=1[fg]",
        f"[bg][fg]overlay=x=(W-w)/2:y={_FG_TOP}+({_FG_BOX_H}-h)/2[base]",
        _disk_mask(ring_d, "ringmask"),
        f"color=c=white:s={ring_d}x{ring_d}:r=1:d=1,format=yuva420p[ringfill]",
        "[ringfill][ringmask]alphamerge[ring]",
        _disk_mask(AVATAR_D, "avmask"),
        f"[1:v]scale={AVATAR_D}:{AVATAR_D},format=yuva420p[avsq]",
        "[avsq][avmask]alphamerge[av]",
        f"[base][ring]overlay=x={_AVATAR_X - _RING}:y={_AVATAR_Y - _RING}[withring]",
        f"[withring][av]overlay=x={_AVATAR_X}:y={_AVATAR_Y}[composed]",
    ]


def _avatar_circle(diameter: int, x: int, y: int, base: str) -> list[str]:
    ring_d = diameter + 2 * _RING
    return [
        _disk_mask(ring_d, "ringmask"),
        f"color=c=white:s={ring_d}x{ring_d}:r=1:d=1,format=yuva420p[ringfill]",
        "[ringfill][ringmask]alphamerge[ring]",
        _disk_mask(diameter, "avmask"),
        f"[1:v]scale={diameter}:{diameter},format=yuva420p[avsq]",
        "[avsq][avmask]alphamerge[av]",
        f"[{base}][ring]overlay=x={x - _RING}:y={y - _RING}[withring]",
        f"[withring][av]overlay=x={x}:y={y}[composed]",
    ]


def _video_face_crop(face_centre: str) -> list[str]:
    crop_w = escape_option_value(f"min(iw,ih*{OUT_W}/{OUT_H})")
    crop_h = escape_option_value(f"min(ih,iw*{OUT_H}/{OUT_W})")
    # crop evaluates x for every frame: `face_centre` (0..1 of the width, a function of t) moves the window.
    crop_x = escape_option_value(f"clip(({face_centre})*iw-ow/2,0,iw-ow)")
    return [
        f"[0:v]{_SQUARE_PIXELS},fps={OUT_FPS},crop=w={crop_w}:h={crop_h}:x={crop_x}:y=(ih-oh)/2,"
        f"scale={OUT_W}:{OUT_H}:flags=bilinear,setsar=1[base]",
        *_avatar_circle(_FACE_AV_D, _FACE_AV_X, _FACE_AV_Y, "base"),
    ]


def _video_split_screen() -> list[str]:
    half = OUT_H // 2
    return [
        f"[0:v]{_SQUARE_PIXELS},fps={OUT_FPS},scale={OUT_W}:{half}:force_original_aspect_ratio=increase,"
        f"crop={OUT_W}:{half},setsar=1,format=yuv420p[top]",
        # fps on the avatar too, so vstack pairs frames one to one instead of emitting at both rates.
        f"[1:v]fps={OUT_FPS},scale={OUT_W}:{half}:force_original_aspect_ratio=increase,"
        f"crop={OUT_W}:{half},setsar=1,format=yuv420p[bottom]",
        "[top][bottom]vstack=inputs=2[composed]",
    ]


def video_filtergraph(
    layout: str, *, subtitles_filename: str, fonts_dir: str, logo: bool, face_centre: str = "0.5"
) -> str:
    """The video graph: inputs 0 (source), 1 (avatar), 3 (logo) → `[vout]`, 1080x1920 yuv420p 30 fps.

    `face_centre` (face_crop only) is an ffmpeg expression of the crop centre, 0..1 of the source width.
    """
    name = check_layout(layout)
    if name == "avatar_over_blur":
        video = _video_avatar_over_blur()
    elif name == "split_screen":
        video = _video_split_screen()
    else:
        video = _video_face_crop(face_centre)
    last = "composed"
    if logo:
        video.append(f"[3:v]scale={_LOGO_BOX}:{_LOGO_BOX}:force_original_aspect_ratio=decrease,format=yuva420p[logo]")
        video.append(f"[{last}][logo]overlay=x=W-w-{_LOGO_MARGIN}:y={_LOGO_MARGIN}[withlogo]")
        last = "withlogo"
    video.append(
        f"[{last}]ass=filename={escape_option_value(subtitles_filename)}"
        f":fontsdir={escape_option_value(fonts_dir)},format=yuv420p[vout]"
    )
    return ";".join(video)


TRUE_PEAK_DB = -1.5


def loudness_filter(target_lufs: float, measured_lufs: float | None = None) -> str:
    """Bring the mix to `target_lufs` with peaks at most -1.5 dB.

    With a prior measurement: one exact gain, then a brick-wall limiter. Narration is peaky (crest ≈18 dB), so
    loudnorm's own linear mode would refuse the gain and fall back to its dynamic mode, which lands 2-3 LU
    short on speech with pauses (measured -16.3 LUFS for a -14 target). Without a measurement: single-pass
    dynamic loudnorm.
    """
    if measured_lufs is None or not math.isfinite(measured_lufs):
        return f"loudnorm=I={target_lufs:g}:TP={TRUE_PEAK_DB:g}:LRA=11"
    gain_db = target_lufs - measured_lufs
    ceiling = 10 ** (TRUE_PEAK_DB / 20)
    return f"volume={gain_db:.2f}dB,alimiter=limit={ceiling:.4f}:attack=5:release=50:level=disabled"


def audio_filtergraph(
    *,
    has_source_audio: bool,
    target_lufs: float,
    bed_volume: float,
    measured_lufs: float | None = None,
    measure: bool = False,
) -> str:
    """The audio graph: inputs 2 (voice) and 0 (source sound, if any) → `[aout]`, 48 kHz stereo.

    The source's sound plays at `bed_volume`, ducked by a sidechain compressor keyed on the voice, mixed
    with the voice, then brought to `target_lufs` by `loudness_filter`.
    Without source audio the voice alone is normalised, and the graph never mentions `0:a`.
    """
    stereo = f"aformat=sample_fmts=fltp:sample_rates={AUDIO_RATE}:channel_layouts=stereo"
    # loudnorm works at 192 kHz internally: resample back to 48 kHz for AAC.
    # The measuring pass ends in ebur128 (the same meter as the quality check) instead of the normaliser.
    if measure:
        loudnorm = f"aresample={AUDIO_RATE},ebur128=framelog=quiet[aout]"
    else:
        loudnorm = f"{loudness_filter(target_lufs, measured_lufs)},aresample={AUDIO_RATE},{stereo}[aout]"
    # Narration is peaky; a gentle compressor evens it out so the gain to the target needs little limiting.
    voice = f"[2:a]{stereo},acompressor=threshold=0.05:ratio=4:attack=5:release=120:makeup=2,apad"
    # apad: the voice may end a few ms before -t; silence keeps the audio as long as the video.
    if not has_source_audio:
        return f"{voice},{loudnorm}"
    return ";".join(
        [
            f"{voice},asplit=2[voice][key]",
            f"[0:a]{stereo},volume={bed_volume:g}[bed]",
            "[bed][key]sidechaincompress=threshold=0.03:ratio=8:attack=20:release=400[ducked]",
            "[voice][ducked]amix=inputs=2:duration=first:normalize=0[mix]",
            f"[mix]{loudnorm}",
        ]
    )


def build_measure_args(
    *,
    source: Path,
    avatar: Path,
    voice: Path,
    duration_s: float,
    has_source_audio: bool,
    target_lufs: float,
    bed_volume: float,
) -> list[str]:
    """An audio-only ffmpeg pass over the same mix that prints its integrated loudness (no video decode)."""
    audio = audio_filtergraph(
        has_source_audio=has_source_audio, target_lufs=target_lufs, bed_volume=bed_volume, measure=True
    )
    return [
        "-stream_loop", "-1", "-i", str(source), "-i", str(avatar), "-i", str(voice),
        "-filter_complex", audio, "-map", "[aout]", "-t", f"{duration_s:.3f}", "-f", "null", "-",
    ]  # fmt: skip


_INTEGRATED = re.compile(r"Integrated loudness:\s*I:\s*(-?[\d.]+|-inf)\s*LUFS", re.S)


def parse_integrated_lufs(log: str) -> float | None:
    """Integrated loudness from an ebur128 log (its last summary), or None when there is none or it is silence."""
    matches = _INTEGRATED.findall(log)
    if not matches or matches[-1] == "-inf":
        return None
    value = float(matches[-1])
    return value if value > -70 else None


def build_filtergraph(
    layout: str,
    *,
    has_source_audio: bool,
    subtitles_filename: str,
    fonts_dir: str,
    logo: bool,
    target_lufs: float,
    bed_volume: float,
) -> str:
    """Video and audio graphs as ONE `-filter_complex` string (`[vout]`, `[aout]`).

    `build_render_args` passes the two halves as two `-filter_complex` options instead: ffmpeg then runs
    them on two threads, and video frames no longer pile up behind loudnorm's 3 s look-ahead
    (measured: ≈0.5 s CPU less per 10 s of video, 2 cores).
    """
    return ";".join(
        [
            video_filtergraph(layout, subtitles_filename=subtitles_filename, fonts_dir=fonts_dir, logo=logo),
            audio_filtergraph(has_source_audio=has_source_audio, target_lufs=target_lufs, bed_volume=bed_volume),
        ]
    )


def build_render_args(
    *,
    source: Path,
    avatar: Path,
    voice: Path,
    out: Path,
    subtitles: Path,
    fonts_dir: Path,
    duration_s: float,
    layout: str,
    has_source_audio: bool,
    logo: Path | None = None,
    target_lufs: float = -14.0,
    bed_volume: float = 0.25,
    crf: int = 23,
    preset: str = "veryfast",
    threads: int = 0,
    measured_lufs: float | None = None,
    face_centre: str = "0.5",
    x264_params: str = "",
    keyframes_at: tuple[float, ...] = (),
) -> list[str]:
    """The ffmpeg arguments (without the binary) of the one-pass render of a 1080x1920 H.264/AAC short.

    `keyframes_at`: times that get a keyframe (the contact sheet's frames), besides the encoder's own.
    """
    video = video_filtergraph(
        layout,
        subtitles_filename=str(subtitles),
        fonts_dir=str(fonts_dir),
        logo=logo is not None,
        face_centre=face_centre,
    )
    audio = audio_filtergraph(
        has_source_audio=has_source_audio, target_lufs=target_lufs, bed_volume=bed_volume, measured_lufs=measured_lufs
    )
    # Input paths are argv entries, never parsed by the graph: no escaping needed for them.
    args = ["-stream_loop", "-1", "-i", str(source), "-i", str(avatar), "-i", str(voice)]
    if logo is not None:
        args += ["-i", str(logo)]
    args += [
        "-filter_complex",
        video,
        "-filter_complex",
        audio,
        "-map",
        "[vout]",
        "-map",
        "[aout]",
        "-t",
        f"{duration_s:.3f}",
    ]
    args += [
        "-c:v",
        "libx264",
        "-preset",
        preset,
        "-crf",
        str(crf),
        "-pix_fmt",
        "yuv420p",
        "-r",
        str(OUT_FPS),
    ]
    if x264_params:
        args += ["-x264-params", x264_params]
    if keyframes_at:
        args += ["-force_key_frames", ",".join(f"{t:g}" for t in keyframes_at)]
    args += ["-c:a", "aac", "-b:a", "160k", "-ar", str(AUDIO_RATE), "-ac", "2"]
    if threads > 0:
        args += ["-threads", str(threads)]
    args += ["-movflags", "+faststart", str(out)]
    return args
