"""The Transcriber resource: one interface, engines selected by `provider`."""

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Literal, Protocol

from dagster import ConfigurableResource
from pydantic import Field

from resources.errors import InputRejected
from resources.records import Transcript
from resources.transcribe.lifecycle import RECOMMENDED_MODEL


class TranscriptionEngine(Protocol):
    name: str

    def transcribe(self, media_path: Path) -> Transcript: ...


class Transcriber(ConfigurableResource):
    """Speech to word-timed text. `provider=local` runs faster-whisper offline; `openai` the Whisper API."""

    provider: Literal["local", "openai"] = "local"
    model: str = Field(default="", description="Model name (tiny.en, base) or CTranslate2 folder; empty=bundled.")
    language: str = Field(default="", description="ISO code; empty = detect.")
    compute_type: str = "int8"
    cpu_threads: int = 0
    # provider=openai (or any OpenAI-compatible server)
    base_url: str = Field(default="", description="OpenAI-compatible API root, e.g. http://host:8000/v1; empty=OpenAI.")
    api_key_env: str = Field(default="OPENAI_API_KEY", description="Environment variable holding the API key.")
    openai_model: str = Field(
        default=RECOMMENDED_MODEL,
        description="gpt-transcribe (OpenAI's successor to whisper-1, shut down 2027-02-26) gives text only: its words "
        "are placed by loudness; whisper-1 (or a compatible server's Whisper) gives word times.",
    )
    timeout_s: float = Field(default=300, description="Seconds to wait for one upload's answer.")
    max_upload_bytes: int = Field(
        default=26_214_400, description="Largest upload the API accepts; longer audio is sent in pieces."
    )

    def engine(self, *, today: Callable[[], date] = date.today) -> TranscriptionEngine:
        from resources.transcribe.faster_whisper_engine import FasterWhisperEngine
        from resources.transcribe.openai_engine import OpenAITranscriptionEngine

        engines: dict[str, Callable[[], TranscriptionEngine]] = {
            "local": lambda: FasterWhisperEngine(self.model, self.language, self.compute_type, self.cpu_threads),
            "openai": lambda: OpenAITranscriptionEngine(
                model=self.openai_model,
                language=self.language,
                base_url=self.base_url,
                api_key_env=self.api_key_env,
                timeout_s=self.timeout_s,
                max_upload_bytes=self.max_upload_bytes,
                today=today,
            ),
        }
        return engines[self.provider]()

    def transcribe(self, media_path: Path, *, has_audio: bool = True) -> Transcript:
        """Transcribe the speech in `media_path`; refuse media without speech."""
        if not has_audio:
            raise InputRejected("the source video has no audio track, so there is no speech to rewrite")
        transcript = self.engine().transcribe(media_path)
        if not transcript.words:
            raise InputRejected("no speech found in the source (empty transcript); pick a video with narration")
        return transcript
