"""When OpenAI shuts its transcription models down, and which model to configure instead.

Sources:
- the `openai` SDK we pin (3.57.0), `openai/types/audio_model.py`: "Deprecated values: whisper-1, gpt-4o-transcribe,
  gpt-4o-mini-transcribe, gpt-4o-mini-transcribe-2025-12-15, gpt-4o-transcribe-diarize: Announced shutdown date:
  2027-02-26. See https://developers.openai.com/api/docs/deprecations for details and recommended replacements."
- https://developers.openai.com/api/docs/deprecations (notice of 2026-08-26): the recommended replacement of each is
  "gpt-live-transcribe or gpt-transcribe"; the OpenAI cookbook "Migrate from Whisper to GPT-Transcribe and
  GPT-Live-Transcribe" (developers.openai.com/cookbook/examples/migrating_from_whisper_to_gpt_transcribe) says which:
  "Recorded meetings, calls, or uploaded audio: migrate `whisper-1` to `gpt-transcribe` on POST
  /v1/audio/transcriptions" (gpt-live-transcribe is for Realtime sessions, which we do not use).
After its shutdown date OpenAI answers a retired model with 404 `model_not_found`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from urllib.parse import urlsplit

from resources.errors import ConfigurationError

SETTING = "SHORTS_OPENAI_TRANSCRIBE_MODEL"
RECOMMENDED_MODEL = "gpt-transcribe"
OPENAI_HOST = "api.openai.com"


@dataclass(frozen=True)
class Shutdown:
    """A model's announced shutdown: the first day it no longer answers, and the model to use instead."""

    on: date
    replacement: str


_FEB_2027 = Shutdown(date(2027, 2, 26), RECOMMENDED_MODEL)
SHUTDOWNS: dict[str, Shutdown] = {
    "whisper-1": _FEB_2027,
    "gpt-4o-transcribe": _FEB_2027,
    "gpt-4o-mini-transcribe": _FEB_2027,
    "gpt-4o-mini-transcribe-2025-12-15": _FEB_2027,
    "gpt-4o-transcribe-diarize": _FEB_2027,
}


def is_openai(base_url: str) -> bool:
    """Whether `base_url` is OpenAI's own API (empty = the SDK's default, OpenAI); compatible servers keep their
    own model names (a local Whisper server may well call its model whisper-1 for years)."""
    return not base_url.strip() or urlsplit(base_url.strip()).hostname == OPENAI_HOST


def retired_message(model: str, replacement: str = RECOMMENDED_MODEL, *, on: date | None = None) -> str:
    """What to do about a retired model: the replacement and the setting that takes it."""
    when = f" on {on.isoformat()}" if on else ""
    return (
        f"transcribe: OpenAI shut {model} down{when}; set {SETTING}={replacement} "
        "(https://developers.openai.com/api/docs/deprecations)"
    )


def check_model(model: str, *, today: date, base_url: str = "") -> None:
    """Raise ConfigurationError when OpenAI has shut `model` down by `today` (only against OpenAI's own API)."""
    shutdown = SHUTDOWNS.get(model.strip())
    if shutdown is not None and today >= shutdown.on and is_openai(base_url):
        raise ConfigurationError(retired_message(model, shutdown.replacement, on=shutdown.on))


def days_left(model: str, *, today: date) -> int | None:
    """Days until `model`'s announced shutdown (negative once past), or None when none is announced."""
    shutdown = SHUTDOWNS.get(model.strip())
    return None if shutdown is None else (shutdown.on - today).days
