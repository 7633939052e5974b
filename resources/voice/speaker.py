"""The Speaker resource: narrates script lines cue by cue and times every word from sample counts."""

import wave
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
from dagster import ConfigurableResource
from pydantic import BaseModel, Field

from resources.errors import ConfigurationError, InputRejected
from resources.records import Cue
from resources.voice.timing import distribute_words, voiced_span


class SpeechEngine(Protocol):
    name: str
    voice_name: str

    @property
    def sample_rate(self) -> int: ...

    def synthesize(self, text: str) -> np.ndarray: ...


class Synthesis(BaseModel):
    """What the speaker produced: the WAV written, its cues and who spoke."""

    cues: list[Cue]
    duration_s: float
    sample_rate: int
    provider: str
    voice: str
    fallback_reason: str = ""


class Speaker(ConfigurableResource):
    """Text to speech. `provider=piper` (neural, offline) falls back to espeak-ng when no voice is available."""

    provider: Literal["piper", "espeak"] = "piper"
    voice_model: str = Field(default="", description="Piper .onnx voice; empty = bundled en_US-joe-medium.")
    length_scale: float = Field(default=1.0, description="Piper speaking pace (>1 slower).")
    gap_s: float = Field(default=0.25, description="Silence between cues.")
    lead_in_s: float = Field(default=0.15, description="Silence before the first cue.")

    def engine(self) -> tuple[SpeechEngine, str]:
        """The engine to use and, when it is a fallback, why."""
        from resources.voice.engines import EspeakEngine, PiperEngine

        if self.provider == "espeak":
            return EspeakEngine(), ""
        try:
            return PiperEngine(self.voice_model, self.length_scale), ""
        except (ConfigurationError, ImportError) as exc:
            try:
                return EspeakEngine(), f"Piper unavailable ({exc}); used espeak-ng"
            except ConfigurationError:
                raise ConfigurationError(str(exc)) from exc

    def speak(self, lines: list[str], out_path: Path) -> Synthesis:
        """Synthesize `lines` in order into a mono 16-bit WAV at `out_path`."""
        lines = [line.strip() for line in lines if line.strip()]
        if not lines:
            raise InputRejected("the script has no lines to speak")
        engine, fallback_reason = self.engine()
        rate = engine.sample_rate
        pieces: list[np.ndarray] = [np.zeros(int(self.lead_in_s * rate), dtype=np.int16)]
        cursor = len(pieces[0])
        cues: list[Cue] = []
        for index, line in enumerate(lines):
            samples = engine.synthesize(line)
            rate = engine.sample_rate
            if samples.size == 0:
                raise InputRejected(f"the voice produced no audio for line {index + 1}: {line[:60]!r}")
            begin, finish = voiced_span(samples, rate)
            offset = cursor / rate
            cues.append(
                Cue(
                    text=line,
                    start=round(offset + begin, 3),
                    end=round(offset + finish, 3),
                    words=distribute_words(line, offset + begin, offset + finish),
                )
            )
            pieces.append(samples)
            cursor += samples.size
            gap = np.zeros(int(self.gap_s * rate), dtype=np.int16)
            pieces.append(gap)
            cursor += gap.size
        audio = np.concatenate(pieces)
        with wave.open(str(out_path), "wb") as handle:
            handle.setnchannels(1)
            handle.setsampwidth(2)
            handle.setframerate(rate)
            handle.writeframes(audio.astype(np.int16).tobytes())
        return Synthesis(
            cues=cues,
            duration_s=round(audio.size / rate, 3),
            sample_rate=rate,
            provider=engine.name,
            voice=engine.voice_name,
            fallback_reason=fallback_reason,
        )
