"""The Speaker resource: narrates script lines cue by cue and times every word."""

import wave
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
from dagster import ConfigurableResource
from pydantic import BaseModel, Field

from resources.errors import ConfigurationError, InputRejected, ProviderError
from resources.records import Cue
from resources.usage import Usage
from resources.voice.engines import SpokenLine
from resources.voice.timing import distribute_words, shift_words, voiced_span


class SpeechEngine(Protocol):
    """One voice: speaks one line at a time, optionally knowing its neighbours for prosody."""

    name: str
    voice_name: str

    def synthesize(self, text: str, *, previous_text: str = "", next_text: str = "") -> SpokenLine: ...


class Synthesis(BaseModel):
    """What the speaker produced: the WAV written, its cues, who spoke and what it cost."""

    cues: list[Cue]
    duration_s: float
    sample_rate: int
    provider: str
    voice: str
    fallback_reason: str = ""
    usage: list[Usage] = Field(default_factory=list, description="Provider usage and estimated cost.")


class Speaker(ConfigurableResource):
    """Text to speech. `provider=piper` (neural, offline) falls back to espeak-ng when no voice is available;
    `provider=elevenlabs` is the cloud voice (never falls back: a paid voice silently replaced would be a surprise).
    """

    provider: Literal["piper", "espeak", "elevenlabs"] = "piper"
    voice_model: str = Field(default="", description="Piper .onnx voice; empty = bundled en_US-joe-medium.")
    length_scale: float = Field(default=1.0, description="Piper speaking pace (>1 slower).")
    gap_s: float = Field(default=0.25, description="Silence between cues.")
    lead_in_s: float = Field(default=0.15, description="Silence before the first cue.")
    elevenlabs_voice_id: str = Field(default="21m00Tcm4TlvDq8ikWAM", description="ElevenLabs voice (Rachel).")
    elevenlabs_model: str = Field(default="eleven_multilingual_v2", description="ElevenLabs model id.")
    stability: float = Field(default=0.5, description="ElevenLabs voice stability, 0-1.")
    similarity_boost: float = Field(default=0.75, description="ElevenLabs similarity boost, 0-1.")
    style: float = Field(default=0.0, description="ElevenLabs style exaggeration, 0-1.")
    speed: float = Field(default=1.0, description="ElevenLabs speaking speed (0.7-1.2).")
    elevenlabs_base_url: str = Field(default="", description="ElevenLabs API host; empty = api.elevenlabs.io.")
    api_key_env: str = Field(default="ELEVENLABS_API_KEY", description="Environment variable holding the key.")
    timeout_s: float = Field(default=120.0, description="Timeout of one ElevenLabs request, in seconds.")

    def engine(self) -> tuple[SpeechEngine, str]:
        """The engine to use and, when it is a fallback, why."""
        from resources.voice.engines import EspeakEngine, PiperEngine

        if self.provider == "elevenlabs":
            return self._elevenlabs(), ""
        if self.provider == "espeak":
            return EspeakEngine(), ""
        try:
            return PiperEngine(self.voice_model, self.length_scale), ""
        except (ConfigurationError, ImportError) as exc:
            try:
                return EspeakEngine(), f"Piper unavailable ({exc}); used espeak-ng"
            except ConfigurationError:
                raise ConfigurationError(str(exc)) from exc

    def _elevenlabs(self) -> SpeechEngine:
        # Imported here: the SDK is only needed (and only paid for at import) when the cloud voice is chosen.
        from elevenlabs import VoiceSettings

        from resources.voice.elevenlabs_engine import ElevenLabsEngine

        return ElevenLabsEngine(
            voice_id=self.elevenlabs_voice_id,
            model_id=self.elevenlabs_model,
            voice_settings=VoiceSettings(
                stability=self.stability,
                similarity_boost=self.similarity_boost,
                style=self.style,
                speed=self.speed,
            ),
            base_url=self.elevenlabs_base_url,
            api_key_env=self.api_key_env,
            timeout_s=self.timeout_s,
        )

    def speak(self, lines: list[str], out_path: Path) -> Synthesis:
        """Synthesize `lines` in order into a mono 16-bit WAV at `out_path`."""
        lines = [line.strip() for line in lines if line.strip()]
        if not lines:
            raise InputRejected("the script has no lines to speak")
        engine, fallback_reason = self.engine()
        spoken: list[SpokenLine] = []
        for index, line in enumerate(lines):
            result = engine.synthesize(
                line,
                previous_text=lines[index - 1] if index > 0 else "",
                next_text=lines[index + 1] if index + 1 < len(lines) else "",
            )
            if result.samples.size == 0:
                raise InputRejected(f"the voice produced no audio for line {index + 1}: {line[:60]!r}")
            spoken.append(result)
        rate = spoken[0].sample_rate
        if any(result.sample_rate != rate for result in spoken):
            raise ProviderError(f"{engine.name} changed its sample rate between lines; use one voice for all lines")

        pieces: list[np.ndarray] = [np.zeros(int(self.lead_in_s * rate), dtype=np.int16)]
        cursor = len(pieces[0])
        cues: list[Cue] = []
        for line, result in zip(lines, spoken, strict=True):
            offset = cursor / rate
            if result.words:
                words = shift_words(result.words, offset)
            else:
                begin, finish = voiced_span(result.samples, rate)
                words = distribute_words(line, offset + begin, offset + finish)
            cues.append(Cue(text=line, start=words[0].start, end=words[-1].end, words=words))
            gap = np.zeros(int(self.gap_s * rate), dtype=np.int16)
            pieces += [result.samples, gap]
            cursor += result.samples.size + gap.size
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
            usage=merge_usage([result.usage for result in spoken if result.usage is not None]),
        )


def merge_usage(usages: list[Usage]) -> list[Usage]:
    """One Usage per provider: units and cost of its calls summed (one entry for a script, not one per cue)."""
    merged: dict[str, Usage] = {}
    for usage in usages:
        previous = merged.get(usage.provider)
        if previous is None:
            merged[usage.provider] = usage
            continue
        units = dict(previous.units)
        for unit, amount in usage.units.items():
            units[unit] = units.get(unit, 0.0) + amount
        merged[usage.provider] = Usage(
            provider=usage.provider, units=units, cost_usd=round(previous.cost_usd + usage.cost_usd, 6)
        )
    return list(merged.values())
