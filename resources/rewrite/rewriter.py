"""The rewrite stage's resource: transcript in, original narration script out, provider chosen by config."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, Protocol

from dagster import ConfigurableResource
from pydantic import Field

from resources.errors import ConfigurationError, InputRejected
from resources.records import Script, Transcript
from resources.rewrite.local import NO_SPEECH, LocalEngine, speech_text
from resources.rewrite.originality import DEFAULT_MAX_SIMILARITY


class RewriteEngine(Protocol):
    """What every rewrite provider implements."""

    def rewrite(self, transcript: Transcript, *, source_title: str = "", source_uploader: str = "") -> Script:
        """An original script for `transcript`, within the resource's line and word limits."""
        ...


def _openai_engine(rewriter: Rewriter) -> RewriteEngine:
    # Imported on use: the OpenAI SDK costs ~0.6 s of import in every step process that never calls it.
    from resources.rewrite.openai_engine import OpenAIRewriteEngine

    return OpenAIRewriteEngine(rewriter)


# provider name -> engine factory. A new provider is one module plus one line here (and its Literal value).
ENGINES: dict[str, Callable[[Rewriter], RewriteEngine]] = {
    "local": LocalEngine,
    "openai": _openai_engine,
}


class Rewriter(ConfigurableResource):
    """Turns a transcript into an original short narration (hook, body, call to action) and its post texts."""

    provider: Literal["local", "openai"] = Field(
        default="local", description="Rewrite engine: local (offline) or openai (any OpenAI-compatible server)."
    )
    max_body_lines: int = Field(default=5, description="Body lines between hook and call to action (3-6).")
    max_words: int = Field(default=110, description="Words in the whole spoken script; ~110 fits a 30-45 s short.")
    max_similarity: float = Field(
        default=DEFAULT_MAX_SIMILARITY,
        description="Blocking check: the script fails when this share of its 3-word phrases is in the transcript.",
    )
    channel_topic: str = Field(
        default="", description="The channel's niche (e.g. 'cooking') for hashtags and the call to action."
    )
    # provider=openai (or Ollama, vLLM: any OpenAI-compatible server)
    base_url: str = Field(
        default="", description="OpenAI-compatible API root, e.g. http://host:11434/v1; empty = OpenAI."
    )
    api_key_env: str = Field(default="OPENAI_API_KEY", description="Environment variable holding the API key.")
    openai_model: str = Field(default="gpt-4o-mini", description="Chat model that supports structured output.")
    temperature: float = Field(default=0.7, description="Sampling temperature of the chat model.")
    prompt_dir: str = Field(
        default="", description="Folder with system.md and user.md prompt templates; empty = the bundled ones."
    )
    timeout_s: float = Field(default=120, description="Seconds to wait for one chat answer.")

    def rewrite(self, transcript: Transcript, *, source_title: str = "", source_uploader: str = "") -> Script:
        """An original script for `transcript`; raises InputRejected when it holds no speech."""
        if not 3 <= self.max_body_lines <= 6:
            raise ConfigurationError(f"rewrite: max_body_lines={self.max_body_lines}; use 3 to 6 lines")
        if self.max_words < 40:
            raise ConfigurationError(f"rewrite: max_words={self.max_words}; a script needs at least 40 words")
        if not speech_text(transcript.text):
            raise InputRejected(NO_SPEECH)
        engine = ENGINES[self.provider](self)
        return engine.rewrite(transcript, source_title=source_title, source_uploader=source_uploader)
