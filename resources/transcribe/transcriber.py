"""The Transcriber resource: one interface, engines selected by `provider`."""

from pathlib import Path
from typing import Literal, Protocol

from dagster import ConfigurableResource
from pydantic import Field

from resources.errors import InputRejected
from resources.records import Transcript


class TranscriptionEngine(Protocol):
    name: str

    def transcribe(self, media_path: Path) -> Transcript: ...


class Transcriber(ConfigurableResource):
    """Speech to word-timed text. `provider=local` runs faster-whisper offline."""

    provider: Literal["local"] = "local"
    model: str = Field(default="", description="Model name (tiny.en, base) or CTranslate2 folder; empty=bundled.")
    language: str = Field(default="", description="ISO code; empty = detect.")
    compute_type: str = "int8"
    cpu_threads: int = 0

    def engine(self) -> TranscriptionEngine:
        from resources.transcribe.faster_whisper_engine import FasterWhisperEngine

        engines = {"local": lambda: FasterWhisperEngine(self.model, self.language, self.compute_type, self.cpu_threads)}
        return engines[self.provider]()

    def transcribe(self, media_path: Path, *, has_audio: bool = True) -> Transcript:
        """Transcribe the speech in `media_path`; refuse media without speech."""
        if not has_audio:
            raise InputRejected("the source video has no audio track, so there is no speech to rewrite")
        transcript = self.engine().transcribe(media_path)
        if not transcript.words:
            raise InputRejected("no speech found in the source (empty transcript); pick a video with narration")
        return transcript
