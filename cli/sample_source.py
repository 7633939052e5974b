"""A sample source video with real speech, made locally (no network): what `make demo` starts from."""

from __future__ import annotations

from pathlib import Path

from resources.media.ffmpeg import run_ffmpeg
from resources.voice import Speaker

SAMPLE_NARRATION = [
    "Okay so here is the thing nobody tells you about keeping houseplants alive.",
    "Most people actually kill their plants by watering them way too often, not too little.",
    "Basically the roots need air, so you want to wait until the top two inches of soil are completely dry.",
    "Another big one is light. Put them near a bright window but out of harsh direct afternoon sun.",
    "And honestly, repot them every spring with fresh soil, because old soil runs out of nutrients.",
    "Do those three things and your plants will look amazing in a month.",
]


def make_sample_source(out_path: Path, *, narration: list[str] | None = None) -> Path:
    """Write a 1280x720 30 fps H.264/AAC video of a moving test pattern with spoken narration and a music bed."""
    out_path.parent.mkdir(parents=True, exist_ok=True)
    voice_wav = out_path.with_suffix(".voice.wav")
    synthesis = Speaker(length_scale=1.05).speak(narration or SAMPLE_NARRATION, voice_wav)
    duration = synthesis.duration_s + 0.5
    run_ffmpeg(
        [
            "-f", "lavfi", "-i", f"testsrc2=size=1280x720:rate=30:duration={duration}",
            "-i", str(voice_wav),
            "-f", "lavfi", "-i", f"sine=frequency=220:sample_rate=48000:duration={duration}",
            "-filter_complex",
            "[0:v]hue=H=2*PI*t/12,format=yuv420p[v];"
            "[2:a]volume=0.05[bed];[1:a]aresample=48000[voice];"
            "[voice][bed]amix=inputs=2:duration=longest:normalize=0[a]",
            "-map", "[v]", "-map", "[a]",
            "-c:v", "libx264", "-preset", "veryfast", "-crf", "26",
            "-c:a", "aac", "-b:a", "128k", "-t", f"{duration:.3f}",
            "-movflags", "+faststart", str(out_path),
        ],
        what="making the sample source video",
    )  # fmt: skip
    voice_wav.unlink(missing_ok=True)
    return out_path
