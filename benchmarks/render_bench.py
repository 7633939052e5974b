"""Benchmark of the final render: our one-pass ffmpeg render vs a bare ffmpeg pass vs MoviePy compositing.

Builds a synthetic input set once (1280x720 source with audio, 720x720 avatar, WAV voice, word cues), then
times the three jobs in one run and prints one `name: value` line per figure. The two speaker layouts are also
timed side by side on a real face (tests/data/faces/talking_head.mp4, a NASA portrait off-centre in a landscape
clip): `auto`, which detects the face and renders face_crop, against avatar_over_blur on the same source.

    .venv/bin/python -m benchmarks.render_bench [--quick] [--skip-moviepy]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from resources.media.ffmpeg import run_ffmpeg
from resources.media.probe import probe
from resources.records import Cue, Word
from resources.render import Renderer
from resources.render.face_track import sample_faces
from resources.render.filtergraph import AUDIO_RATE, OUT_FPS, OUT_H, OUT_W
from resources.render.fonts import fonts_dir
from resources.render.subtitles import phrases

_SCRIPT = (
    "Nobody tells you this about viral videos, but the first second decides everything. "
    "Watch closely: the hook, the payoff, and the loop. Follow for more tricks like this one!"
)
# A real face for the speaker layouts: a NASA portrait off-centre in a 15 s landscape clip (see its README).
TALKING_HEAD = Path(__file__).parent.parent / "tests" / "data" / "faces" / "talking_head.mp4"
_X264_FAST = ("-c:v", "libx264", "-preset", "ultrafast", "-crf", "18", "-pix_fmt", "yuv420p")


def _lavfi(video: str, audio: str) -> list[str]:
    """Arguments that encode a lavfi video + audio source like a typical upload (H.264 yuv420p, AAC)."""
    return ["-f", "lavfi", "-i", video, "-f", "lavfi", "-i", audio, *_X264_FAST, "-c:a", "aac"]


def make_inputs(folder: Path, duration_s: float) -> tuple[Path, Path, Path, list[Cue]]:
    """Synthetic source (1280x720 30 fps + tone), avatar (720x720 25 fps + AAC), voice WAV, and word cues."""
    source, avatar, voice = folder / "source.mp4", folder / "avatar.mp4", folder / "voice.wav"
    d = f"{duration_s:g}"
    run_ffmpeg(
        [*_lavfi(f"testsrc2=s=1280x720:r=30:d={d}", f"sine=f=440:d={d}"), "-shortest", str(source)],
        what="making the benchmark source",
    )
    run_ffmpeg(
        [*_lavfi(f"testsrc=s=720x720:r=25:d={d}", f"sine=f=220:d={d}"), "-shortest", str(avatar)],
        what="making the benchmark avatar",
    )
    voice_src = f"sine=f=300:d={d},volume='0.5+0.4*sin(2*PI*t*3)':eval=frame"
    run_ffmpeg(["-f", "lavfi", "-i", voice_src, "-ar", "22050", str(voice)], what="making the benchmark voice")
    return source, avatar, voice, make_cues(duration_s)


def make_cues(duration_s: float, *, words_per_cue: int = 9, step_s: float = 0.4) -> list[Cue]:
    """Evenly timed word cues filling `duration_s` (a word every `step_s`)."""
    vocabulary = _SCRIPT.split()
    words: list[Word] = []
    t = 0.3
    i = 0
    while t + step_s < duration_s:
        words.append(Word(text=vocabulary[i % len(vocabulary)], start=round(t, 3), end=round(t + step_s * 0.85, 3)))
        t += step_s
        i += 1
    cues = []
    for k in range(0, len(words), words_per_cue):
        chunk = words[k : k + words_per_cue]
        cues.append(Cue(text=" ".join(w.text for w in chunk), start=chunk[0].start, end=chunk[-1].end, words=chunk))
    return cues


def bare_ffmpeg(source: Path, out: Path, duration_s: float, *, preset: str, crf: int) -> None:
    """The floor: scale/crop the source to 1080x1920 30 fps, encode with the same settings; nothing else."""
    vf = f"scale={OUT_W}:{OUT_H}:force_original_aspect_ratio=increase,crop={OUT_W}:{OUT_H},fps={OUT_FPS},format=yuv420p"
    encode = ["-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-c:a", "aac", "-b:a", "160k"]
    audio = ["-ar", str(AUDIO_RATE), "-ac", "2", "-movflags", "+faststart"]
    # Looped like the render's source, so a short longer than its source is encoded to its full length.
    run_ffmpeg(
        ["-stream_loop", "-1", "-i", str(source), "-t", f"{duration_s:.3f}", "-vf", vf, *encode, *audio, str(out)],
        what="bare ffmpeg pass",
    )


def moviepy_render(
    source: Path, avatar: Path, voice: Path, cues: list[Cue], out: Path, duration_s: float, *, preset: str
) -> None:
    """The same short composited with MoviePy 2 (background, fitted source, avatar, phrase captions, mix).

    Simplifications that favour MoviePy: no blur on the background, square avatar, one white caption per
    phrase (no per-word highlight), no ducking or loudness normalisation.
    """
    from moviepy import (  # imported here: MoviePy is only needed by this part of the benchmark
        AudioFileClip,
        CompositeAudioClip,
        CompositeVideoClip,
        TextClip,
        VideoFileClip,
    )

    src = VideoFileClip(str(source)).subclipped(0, duration_s)
    cover = max(OUT_W / src.w, OUT_H / src.h)
    background = (
        src.resized(cover).cropped(x_center=src.w * cover / 2, y_center=src.h * cover / 2, width=OUT_W, height=OUT_H)
    ).with_position((0, 0))
    foreground = src.resized(width=1020).with_position(("center", 150 + (880 - round(src.h * 1020 / src.w)) // 2))
    face = VideoFileClip(str(avatar)).subclipped(0, duration_s).resized((600, 600)).with_position((240, 1240))
    font = str(fonts_dir() / "Lato-Bold.ttf")
    captions = [
        TextClip(
            font=font,
            text=p.text,
            font_size=80,
            color="white",
            stroke_color="black",
            stroke_width=6,
            margin=(8, 8),
        )
        .with_start(p.start)
        .with_duration(max(p.end - p.start, 0.05))
        .with_position(("center", 1100))
        for p in phrases(cues)
    ]
    audio = CompositeAudioClip([AudioFileClip(str(voice)), src.audio.with_volume_scaled(0.25)]).with_duration(
        duration_s
    )
    video = CompositeVideoClip([background, foreground, face, *captions], size=(OUT_W, OUT_H))
    video = video.with_audio(audio).with_duration(duration_s)
    video.write_videofile(
        str(out),
        fps=OUT_FPS,
        codec="libx264",
        preset=preset,
        audio_codec="aac",
        audio_bitrate="160k",
        logger=None,
    )
    video.close()
    src.close()
    face.close()


def timed(job: Callable[[], object]) -> tuple[float, float]:
    """Wall-clock seconds of `job`, and the CPU seconds (user + system) of the child processes it ran.

    CPU time is the steadier figure on a shared machine: other load stretches wall time, not CPU time.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    job()
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="10 s inputs instead of 30 s")
    parser.add_argument("--skip-moviepy", action="store_true", help="do not run the (slow) MoviePy comparison")
    parser.add_argument("--preset", default="veryfast")
    parser.add_argument("--crf", type=int, default=23)
    opts = parser.parse_args()
    duration_s = 10.0 if opts.quick else 30.0

    with tempfile.TemporaryDirectory(prefix="render_bench_") as tmp:
        folder = Path(tmp)
        source, avatar, voice, cues = make_inputs(folder, duration_s)
        renderer = Renderer(preset=opts.preset, crf=opts.crf)
        out, face_out, blur_out = folder / "short.mp4", folder / "face_crop.mp4", folder / "face_blur.mp4"

        def render(layout: str, to: Path, *, source: Path = source) -> str:
            return renderer.render(
                source_path=source, avatar_path=avatar, voice_path=voice, cues=cues, duration_s=duration_s,
                out_path=to, subtitles_path=to.with_suffix(".ass"), layout=layout,
            )  # fmt: skip

        render_s, render_cpu = timed(lambda: render("avatar_over_blur", out))
        bare_s, bare_cpu = timed(
            lambda: bare_ffmpeg(source, folder / "bare.mp4", duration_s, preset=opts.preset, crf=opts.crf)
        )
        # The real face: `auto` samples faces in this process (so only in the wall time), then renders face_crop.
        chosen: list[str] = []
        face_s, face_cpu = timed(lambda: chosen.append(render("auto", face_out, source=TALKING_HEAD)))
        if chosen != ["face_crop"]:
            raise SystemExit(f"render_bench: auto chose {chosen} on {TALKING_HEAD.name}, expected face_crop")
        blur_s, blur_cpu = timed(lambda: render("avatar_over_blur", blur_out, source=TALKING_HEAD))
        detect_start = time.perf_counter()
        sample_faces(TALKING_HEAD)
        detect_s = time.perf_counter() - detect_start
        print(f"input_seconds: {duration_s:g}")
        print(f"render_seconds: {render_s:.2f}")
        print(f"render_cpu_seconds: {render_cpu:.2f}")
        print(f"render_output_mb: {probe(out).size_bytes / 1e6:.2f}")
        print(f"render_face_crop_seconds: {face_s:.2f}")
        print(f"render_face_crop_cpu_seconds: {face_cpu:.2f}")
        print(f"render_face_crop_detect_seconds: {detect_s:.2f}")
        print(f"render_face_blur_seconds: {blur_s:.2f}")
        print(f"render_face_blur_cpu_seconds: {blur_cpu:.2f}")
        print(f"render_face_crop_vs_blur_ratio: {face_s / blur_s:.2f}")
        print(f"render_face_crop_vs_blur_cpu_ratio: {face_cpu / blur_cpu:.2f}")
        print(f"bare_ffmpeg_seconds: {bare_s:.2f}")
        print(f"bare_ffmpeg_cpu_seconds: {bare_cpu:.2f}")
        print(f"render_vs_bare_ratio: {render_s / bare_s:.2f}")
        print(f"render_vs_bare_cpu_ratio: {render_cpu / bare_cpu:.2f}")
        if not opts.skip_moviepy:
            # MoviePy runs in this process: its CPU time is not comparable, so only wall time is reported.
            moviepy_s, _ = timed(
                lambda: moviepy_render(
                    source, avatar, voice, cues, folder / "moviepy.mp4", duration_s, preset=opts.preset
                )
            )
            print(f"moviepy_seconds: {moviepy_s:.2f}")
            print(f"moviepy_vs_render_ratio: {moviepy_s / render_s:.2f}")


if __name__ == "__main__":
    main()
