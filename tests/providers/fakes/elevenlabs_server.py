"""A local ElevenLabs text-to-speech server for tests: real HTTP on 127.0.0.1, driven by the real SDK.

Serves `POST /v1/text-to-speech/{voice_id}/with-timestamps?output_format=pcm_<rate>` with `xi-api-key` auth and
answers like the real API: base64 raw little-endian int16 PCM plus a character alignment that matches the audio.
The audio is a synthetic voice: every letter or digit is a 60 ms harmonic tone, spaces and punctuation are
silence, with a little silence before and after, so "loud where characters are said" holds sample for sample.
Failures are scripted one request at a time (`fail_next`, `delay_next`); every request is recorded.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np

LEAD_S = 0.1  # silence before the first character, as real voices breathe in
CHAR_S = 0.06  # each character's slot in the alignment
TAIL_S = 0.12  # silence after the last character
PATH = re.compile(r"^/v1/text-to-speech/(?P<voice_id>[^/]+)/with-timestamps$")
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


@dataclass
class RecordedRequest:
    """What the SDK sent: path, query (first value per name), lower-cased headers and the JSON body."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any


@dataclass
class Scripted:
    """One scripted answer: an error (status, headers, body) and/or a delay before answering."""

    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    delay_s: float = 0.0


class FakeElevenLabs:
    """Context manager running the fake on a free port; `.base_url` is what `ElevenLabs(base_url=...)` takes."""

    def __init__(self, api_key: str = "xi-test-key") -> None:
        self.api_key = api_key
        self.with_alignment = True
        self.requests: list[RecordedRequest] = []
        self._script: deque[Scripted] = deque()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-elevenlabs", daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def fail_next(self, status: int, headers: dict[str, str] | None = None, body: Any = None) -> None:
        """The next authorized request is answered with this error (queued after earlier scripts)."""
        with self._lock:
            self._script.append(Scripted(status=status, headers=headers or {}, body=body))

    def delay_next(self, seconds: float) -> None:
        """The next authorized request is answered normally, but only after `seconds`."""
        with self._lock:
            self._script.append(Scripted(delay_s=seconds))

    def tts_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if PATH.match(r.path)]

    def __enter__(self) -> FakeElevenLabs:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _next_script(self) -> Scripted | None:
        with self._lock:
            return self._script.popleft() if self._script else None

    def answer(self, request: RecordedRequest) -> tuple[int, dict[str, str], Any]:
        """(status, headers, JSON body) for one request, as ElevenLabs would answer it."""
        match = PATH.match(request.path)
        if request.method != "POST" or match is None:
            return 404, {}, {"detail": "Not Found"}
        if request.headers.get("xi-api-key") != self.api_key:
            return 401, {}, {"detail": {"status": "invalid_api_key", "message": "Invalid API key"}}
        script = self._next_script()
        if script is not None:
            time.sleep(script.delay_s)
            if script.status is not None:
                return script.status, script.headers, script.body
        body = request.json if isinstance(request.json, dict) else {}
        text = body.get("text")
        if not isinstance(text, str) or not text:
            return 422, {}, {"detail": [{"loc": ["body", "text"], "msg": "field required", "type": "missing"}]}
        fmt = re.fullmatch(r"pcm_(\d+)", request.query.get("output_format", "mp3_44100_128"))
        if fmt is None:
            return 400, {}, {"detail": {"status": "invalid_output_format", "message": "the fake speaks pcm_* only"}}
        audio = fake_pcm(text, int(fmt.group(1)))
        alignment = fake_alignment(text) if self.with_alignment else None
        return (
            200,
            {"request-id": f"req-{len(self.requests)}"},
            {
                "audio_base64": base64.b64encode(audio.tobytes()).decode("ascii"),
                "alignment": alignment,
                "normalized_alignment": alignment,
            },
        )


def _handler_for(fake: FakeElevenLabs) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self._serve()

        def do_GET(self) -> None:
            self._serve()

        def _serve(self) -> None:
            url = urlsplit(self.path)
            raw = self.rfile.read(int(self.headers.get("content-length") or 0))
            try:
                payload = json.loads(raw) if raw else None
            except json.JSONDecodeError:
                payload = None
            request = RecordedRequest(
                method=self.command,
                path=url.path,
                query={name: values[0] for name, values in parse_qs(url.query).items()},
                headers={name.lower(): value for name, value in self.headers.items()},
                json=payload,
            )
            fake.requests.append(request)
            status, headers, body = fake.answer(request)
            data = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client timed out and left: exactly what a slow-response test provokes

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep pytest output clean

    return Handler
