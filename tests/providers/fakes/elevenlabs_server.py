"""A local ElevenLabs text-to-speech server for tests: real HTTP on 127.0.0.1, driven by the real SDK.

Serves `POST /v1/text-to-speech/{voice_id}/with-timestamps?output_format=pcm_<rate>` with `xi-api-key` auth and
answers like the real API: base64 raw little-endian int16 PCM plus a character alignment that matches the audio.
The audio is a synthetic voice: every letter or digit is a 60 ms harmonic tone, spaces and punctuation are
silence, with a little silence before and after, so "loud where characters are said" holds sample for sample.
Failures are scripted one request at a time (`fail_next`, `hold_next`); every request is recorded and checked
against ElevenLabs' OpenAPI document (`tests/data/specs/elevenlabs.json`, see `openapi_check`): a violation is
answered with the API's 422 and fails the test when the fake stops.
"""

from __future__ import annotations

import base64
import re
from typing import Any

import numpy as np

from tests.providers.fakes.base import FakeServer, Fault, Faults, Recorded, Reply, route
from tests.providers.fakes.openapi_check import SpecChecked

LEAD_S = 0.1  # silence before the first character, as real voices breathe in
CHAR_S = 0.06  # each character's slot in the alignment
TAIL_S = 0.12  # silence after the last character
QUOTA_EXCEEDED = {
    "detail": {
        "status": "quota_exceeded",
        "message": "This request exceeds your quota of 10000. You have 0 credits remaining, "
        "while 91 credits are required for this request.",
    }
}


def fake_alignment(text: str) -> dict[str, list[Any]]:
    """The alignment the fake returns for `text`: one CHAR_S slot per character after LEAD_S."""
    starts = [round(LEAD_S + i * CHAR_S, 6) for i in range(len(text))]
    return {
        "characters": list(text),
        "character_start_times_seconds": starts,
        "character_end_times_seconds": [round(s + CHAR_S, 6) for s in starts],
    }


def is_voiced(char: str) -> bool:
    return char.isalnum()


def fake_pcm(text: str, sample_rate: int) -> np.ndarray:
    """Mono int16 audio of `text`: a tone per letter/digit, silence for spaces, punctuation, lead and tail."""
    total = round((LEAD_S + len(text) * CHAR_S + TAIL_S) * sample_rate)
    audio = np.zeros(total, dtype=np.float64)
    fade = max(1, int(0.005 * sample_rate))
    for index, char in enumerate(text):
        if not is_voiced(char):
            continue
        begin = round((LEAD_S + index * CHAR_S) * sample_rate)
        end = round((LEAD_S + (index + 1) * CHAR_S) * sample_rate)
        t = np.arange(end - begin) / sample_rate
        f0 = 110.0 + (ord(char.lower()) % 12) * 8.0  # a pitch per letter, so the voice is not one flat tone
        tone = np.sin(2 * np.pi * f0 * t) + 0.5 * np.sin(4 * np.pi * f0 * t) + 0.25 * np.sin(6 * np.pi * f0 * t)
        envelope = np.ones_like(t)
        envelope[:fade] = np.linspace(0.0, 1.0, fade)
        envelope[-fade:] = np.linspace(1.0, 0.0, fade)
        audio[begin:end] = 0.45 * tone * envelope
    return np.clip(audio * 32767, -32768, 32767).astype("<i2")


class FakeElevenLabs(SpecChecked, FakeServer[Recorded]):
    """Context manager running the fake on a free port; `.base_url` is what `ElevenLabs(base_url=...)` takes."""

    record_type = Recorded
    spec_name = "elevenlabs.json"

    def __init__(self, api_key: str = "xi-test-key") -> None:
        super().__init__()
        self.api_key = api_key
        self.with_alignment = True
        self.faults: Faults[Fault] = Faults()

    @property
    def _script(self) -> Faults[Fault]:
        return self.faults  # the name the voice tests reset between cases

    def fail_next(self, status: int, headers: dict[str, str] | None = None, body: Any = None) -> None:
        """The next authorized request is answered with this error (queued after earlier scripts)."""
        self.faults.add(Fault(status=status, body=body, headers=headers or {}))

    def hold_next(self) -> None:
        """The next authorized request is answered normally, but only after the client's next request arrives."""
        self.faults.add(Fault(status=None, hold=True))

    def tts_requests(self) -> list[Recorded]:
        return self.calls("tts")

    def answer(self, request: Recorded) -> Reply | None:
        """The reply to one request, as ElevenLabs would answer it."""
        if request.route != "tts":
            return Reply(404, {"detail": "Not Found"})
        if request.headers.get("xi-api-key") != self.api_key:
            return Reply(401, {"detail": {"status": "invalid_api_key", "message": "Invalid API key"}})
        problems = self.spec_problems(request)
        if problems:  # the operation's documented 422: HTTPValidationError
            return Reply(
                422, {"detail": [{"loc": ["request"], "msg": problem, "type": "value_error"} for problem in problems]}
            )
        fault = self.faults.take()
        if fault is not None:
            if fault.hold:
                self.hold_until_next_request(request)
            if fault.status is not None:
                return fault.reply()
        return self.dispatch(request)

    @route("tts", "POST", r"/v1/text-to-speech/(?P<voice_id>[^/]+)/with-timestamps")
    def _speech(self, request: Recorded) -> Reply:
        body = request.json if isinstance(request.json, dict) else {}
        text = body.get("text")
        if not isinstance(text, str) or not text:
            return Reply(422, {"detail": [{"loc": ["body", "text"], "msg": "field required", "type": "missing"}]})
        fmt = re.fullmatch(r"pcm_(\d+)", request.query.get("output_format", "mp3_44100_128"))
        if fmt is None:
            return Reply(400, {"detail": {"status": "invalid_output_format", "message": "the fake speaks pcm_* only"}})
        audio = fake_pcm(text, int(fmt.group(1)))
        alignment = fake_alignment(text) if self.with_alignment else None
        answer = {
            "audio_base64": base64.b64encode(audio.tobytes()).decode("ascii"),
            "alignment": alignment,
            "normalized_alignment": alignment,
        }
        return Reply(200, answer, {"request-id": f"req-{len(self.requests)}"})
