"""ElevenLabs text to speech with character timestamps: the cloud voice, one request per cue.

The SDK runs with its own retries off (`with_retries` is the one policy) and is created per Speaker call with
the key read then: the SDK's `api_key` default is read from the environment when `elevenlabs` is imported, so a
key set later would be silently ignored. Every request is billed, so each attempt is counted in the stage's
checkpoint (`resources.http.checkpoint`) per line, across HTTP and Dagster retries, and bounded there.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any

import httpx
import numpy as np
from elevenlabs import ElevenLabs, VoiceSettings
from elevenlabs.core.api_error import ApiError
from elevenlabs.text_to_speech.client import OMIT

from resources.errors import ConfigurationError, ProviderError, RetryableError
from resources.http.checkpoint import Checkpoint, active_checkpoint
from resources.http.retry import RetrySettings, http_failure, with_retries
from resources.http.secrets import redact, require_secret
from resources.usage import priced
from resources.voice.engines import SpokenLine
from resources.voice.timing import voiced_span, words_from_alignment

PROVIDER = "elevenlabs"
# Raw little-endian int16 mono, base64 in JSON: decodes to samples without an mp3 decoder, and 22.05 kHz PCM
# is allowed on every plan (44.1 kHz PCM needs Pro).
OUTPUT_FORMAT = "pcm_22050"
SAMPLE_RATE = 22050


class ElevenLabsEngine:
    """ElevenLabs `convert_with_timestamps`: PCM samples, word timings from the character alignment, usage."""

    name = PROVIDER
    sample_rate = SAMPLE_RATE

    def __init__(
        self,
        *,
        voice_id: str,
        model_id: str,
        voice_settings: VoiceSettings,
        base_url: str = "",
        api_key_env: str = "ELEVENLABS_API_KEY",
        timeout_s: float = 120.0,
        retry: RetrySettings | None = None,
    ) -> None:
        self._api_key = require_secret(api_key_env, stage="voice", offline_alternative="provider=piper")
        self.api_key_env = api_key_env
        self.voice_name = voice_id
        self.model_id = model_id
        self.voice_settings = voice_settings
        self.base_url = base_url.rstrip("/")
        self.retry = retry
        # The client-wide timeout is a float (request_options only types whole seconds).
        self._client = ElevenLabs(api_key=self._api_key, base_url=self.base_url or None, timeout=timeout_s)

    def synthesize(self, text: str, *, previous_text: str = "", next_text: str = "") -> SpokenLine:
        """Speak `text`; the neighbouring lines are sent as context so the cues join with natural prosody."""
        what = f"ElevenLabs voice {self.voice_name} ({text[:40]!r})"
        checkpoint = active_checkpoint()
        # One paid request per line in its context: the same line between other neighbours is another request.
        digest = hashlib.sha256("\x00".join((previous_text, text, next_text)).encode()).hexdigest()[:10]
        request = f"tts {digest} {text[:30]!r}"
        response, samples = with_retries(
            lambda: self._request(checkpoint, request, what, text, previous_text, next_text),
            what=what,
            settings=self.retry,
        )
        alignment = response.alignment or response.normalized_alignment
        words = words_from_alignment(
            text,
            alignment.characters if alignment else None,
            alignment.character_start_times_seconds if alignment else None,
            alignment.character_end_times_seconds if alignment else None,
            fallback_span=voiced_span(samples, SAMPLE_RATE),
        )
        return SpokenLine(
            samples=samples,
            sample_rate=SAMPLE_RATE,
            words=words,
            # Billing counts the characters of `text`; the context texts are free.
            usage=priced(PROVIDER, {"characters": len(text)}),
        )

    def _request(
        self, checkpoint: Checkpoint, request: str, what: str, text: str, previous_text: str, next_text: str
    ) -> tuple[Any, np.ndarray]:
        """One attempt, counted in `checkpoint`: the SDK response and its decoded samples, or a pipeline error."""
        try:
            response = checkpoint.paid(
                request,
                what,
                lambda: self._client.text_to_speech.convert_with_timestamps(
                    self.voice_name,
                    text=text,
                    model_id=self.model_id,
                    voice_settings=self.voice_settings,
                    output_format=OUTPUT_FORMAT,
                    # Absent context is omitted, not sent: the SDK would put an explicit None in the JSON as null.
                    previous_text=previous_text or OMIT,
                    next_text=next_text or OMIT,
                    request_options={"max_retries": 0},
                ),
            )
        except ApiError as exc:
            raise self._failure(exc) from exc
        except httpx.UnsupportedProtocol as exc:
            raise ConfigurationError(
                f"ElevenLabs base URL {self.base_url!r} is not an http(s) URL: fix elevenlabs_base_url "
                "(empty = api.elevenlabs.io)"
            ) from exc
        except httpx.TransportError as exc:  # connect/read timeouts, refused or dropped connections
            where = self.base_url or "api.elevenlabs.io"
            raise RetryableError(f"ElevenLabs unreachable at {where}: {type(exc).__name__}: {exc}") from exc
        return response, decode_pcm16(response.audio_base_64)

    def _failure(self, exc: ApiError) -> Exception:
        """The pipeline error for an ElevenLabs error answer (quota and bad key told apart: both are 401)."""
        status = exc.status_code or 0
        detail_status, message = _detail(exc.body)
        message = redact(message, self._api_key)
        if status == 401 and detail_status == "quota_exceeded":
            return ProviderError(f"ElevenLabs quota exhausted: {message}; top up or use provider=piper")
        if status == 401:
            return ProviderError(
                f"ElevenLabs rejected the API key in {self.api_key_env} ({message or 'unauthorized'}); "
                "set a valid key or use provider=piper"
            )
        return http_failure(PROVIDER, status, message, exc.headers)


def _detail(body: object) -> tuple[str, str]:
    """(status, message) out of an ElevenLabs error body: `{"detail": {...}}`, `{"detail": "..."}` or 422's list."""
    detail = body.get("detail", body) if isinstance(body, dict) else body
    if isinstance(detail, dict):
        return str(detail.get("status", "")), str(detail.get("message", "") or detail)
    if isinstance(detail, list):  # FastAPI validation errors: [{"loc": [...], "msg": "..."}]
        parts = [
            f"{'.'.join(map(str, d.get('loc', [])))}: {d.get('msg', d)}" if isinstance(d, dict) else str(d)
            for d in detail
        ]
        return "", "; ".join(parts)
    return "", "" if detail is None else str(detail)[:500]


def decode_pcm16(audio_base64: str) -> np.ndarray:
    """Mono int16 samples from base64 raw little-endian PCM (ElevenLabs `pcm_*` output formats)."""
    try:
        raw = base64.b64decode(audio_base64, validate=True)
    except (binascii.Error, ValueError) as exc:
        # A garbled answer is transient, like a dropped connection.
        raise RetryableError(f"ElevenLabs sent audio that is not base64: {exc}") from exc
    usable = len(raw) - len(raw) % 2  # a torn final byte is not a sample
    return np.frombuffer(raw[:usable], dtype="<i2").astype(np.int16)
