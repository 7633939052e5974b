"""Time the offline avatar on 30 s of synthetic speech-like voice.

Run: .venv/bin/python -m benchmarks.avatar_bench
Prints `avatar_seconds_per_30s` (wall clock, drawing + encoding) and `avatar_realtime_factor` (voice seconds
rendered per wall-clock second).
"""

from __future__ import annotations

import tempfile
import time
import wave
from pathlib import Path

import numpy as np

from resources.avatar import AvatarRenderer
from resources.media.probe import probe

_DURATION_S = 30.0
_SAMPLE_RATE = 22050


def synthetic_voice(path: Path, duration_s: float, seed: int = 1) -> None:
    """Write a PCM16 WAV of voiced syllables (~4 per second) with word pauses, like narration's envelope."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(duration_s * _SAMPLE_RATE)) / _SAMPLE_RATE
    pitch = 120 + 15 * np.sin(2 * np.pi * 0.3 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / _SAMPLE_RATE
    carrier = sum(np.sin(k * phase) / k for k in range(1, 6))
    syllables = np.clip(np.sin(2 * np.pi * 4.2 * t), 0, None) ** 0.7
    # Pauses between words and sentences: the mouth has to close, not just flutter.
    words = np.repeat(rng.random(int(duration_s * 2) + 1) > 0.2, _SAMPLE_RATE // 2)[: t.size]
    signal = 0.3 * carrier * syllables * words
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(_SAMPLE_RATE)
        wav.writeframes((np.clip(signal, -1, 1) * 32767).astype("<i2").tobytes())


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        voice, video = Path(tmp) / "voice.wav", Path(tmp) / "avatar.mp4"
        synthetic_voice(voice, _DURATION_S)
        started = time.perf_counter()
        AvatarRenderer().render(voice_path=voice, out_path=video)
        elapsed = time.perf_counter() - started
        duration = probe(video).duration_s
    print(f"avatar_seconds_per_30s: {elapsed * 30.0 / duration:.2f}")
    print(f"avatar_realtime_factor: {duration / elapsed:.2f}")


if __name__ == "__main__":
    main()
