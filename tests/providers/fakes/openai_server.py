"""A local OpenAI API for tests: a real HTTP server on 127.0.0.1 that the real `openai` SDK talks to.

Speaks `POST /v1/audio/transcriptions` (multipart, as the SDK sends it) and `POST /v1/chat/completions`
(json_schema structured output), checks `Authorization: Bearer <key>`, records every request, and plays a
queue of scripted answers (failures, slow answers, refusals, broken JSON) before behaving normally again.

    with FakeOpenAI(transcript_text="Hello there.") as server:
        server.fail_next(429, headers={"retry-after": "1"})
        client = openai.OpenAI(api_key=server.api_key, base_url=server.base_url)
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import re
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from resources.media.probe import probe

DEFAULT_TRANSCRIPT = (
    "Here is a quick kitchen trick that saves you time every single morning. "
    "Freeze chopped herbs in olive oil inside an ice cube tray. "
    "Then drop one cube straight into the hot pan whenever you cook."
)
DEFAULT_SCRIPT: dict[str, Any] = {
    "title": "The Ice Cube Herb Hack Busy Cooks Swear By",
    "hook": "Your freezer can season dinner for you.",
    "body": [
        "Portion fresh greens into a silicone mold and cover them with a good oil.",
        "Once solid, every square is a ready flavour bomb for weeknight meals.",
        "Toss a frozen square into a warm skillet and dinner smells amazing in seconds.",
    ],
    "call_to_action": "Follow for more small habits that make cooking easier.",
    "description": "A freezer habit that keeps herbs fresh and flavour ready whenever you cook.",
    "hashtags": ["#Cooking", "kitchenhacks", "Herbs!"],
}
WORD_FORMAT_MODELS_REJECT = frozenset({"gpt-4o-transcribe", "gpt-4o-mini-transcribe", "gpt-transcribe"})


@dataclass
class RecordedRequest:
    """One request as the server saw it."""

    method: str
    path: str
    headers: dict[str, str]
    at: float = field(default_factory=time.monotonic)
    json: dict[str, Any] | None = None
    form: dict[str, list[str]] = field(default_factory=dict)
    files: dict[str, tuple[str, str, int]] = field(default_factory=dict)  # name -> (filename, type, size)

    @property
    def text(self) -> str:
        """Everything the client sent as text (JSON body and form fields), for "did it send X" assertions."""
        return json.dumps(self.json or {}) + json.dumps(self.form)


@dataclass
class Scripted:
    """One queued answer: an HTTP status with a body, or (status 200, body None) the normal answer, late."""

    path: str | None
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


def error_body(message: str, *, type: str = "invalid_request_error", code: str | None = None) -> dict[str, Any]:
    """OpenAI's error envelope."""
    return {"error": {"message": message, "type": type, "param": None, "code": code}}


class FakeOpenAI:
    """The fake server; a context manager. `base_url` ends in /v1 like OpenAI's."""

    def __init__(
        self,
        *,
        api_key: str = "sk-fake-test-key-0123456789",
        transcript_text: str = DEFAULT_TRANSCRIPT,
        language: str = "english",
        max_upload_bytes: int = 26_214_400,
        script: dict[str, Any] | None = None,
    ) -> None:
        self.api_key = api_key
        self.transcript_text = transcript_text
        self.language = language
        self.max_upload_bytes = max_upload_bytes
        self.script = script
        self.requests: list[RecordedRequest] = []
        self._queue: list[Scripted] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- scripting -----------------------------------------------------------------------------------

    def fail_next(
        self,
        status: int = 500,
        *,
        message: str = "The server had an error while processing your request.",
        code: str | None = None,
        type: str = "server_error",
        headers: dict[str, str] | None = None,
        body: Any = None,
        path: str | None = None,
    ) -> None:
        """Answer the next request (to `path`, e.g. "/chat/completions", or any) with an error."""
        payload = body if body is not None else error_body(message, type=type, code=code)
        self._push(Scripted(path, status, payload, dict(headers or {})))

    def quota_exhausted_next(self, path: str | None = None) -> None:
        """429 insufficient_quota, as OpenAI sends when the account has no credit."""
        self.fail_next(
            429,
            message="You exceeded your current quota, please check your plan and billing details.",
            type="insufficient_quota",
            code="insufficient_quota",
            path=path,
        )

    def slow_next(self, delay_s: float, path: str | None = None) -> None:
        """Answer the next request normally, but only after `delay_s` seconds."""
        self._push(Scripted(path, delay_s=delay_s))

    def chat_next(
        self, *, content: str | dict[str, Any] | None = None, refusal: str | None = None, finish_reason: str = "stop"
    ) -> None:
        """The next chat completion answers `content` (a dict is sent as JSON) or refuses with `refusal`."""
        text = json.dumps(content) if isinstance(content, dict) else content
        self._push(
            Scripted("/chat/completions", body={"content": text, "refusal": refusal, "finish_reason": finish_reason})
        )

    def requests_to(self, suffix: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith(suffix)]

    def _push(self, item: Scripted) -> None:
        with self._lock:
            self._queue.append(item)

    def _pop(self, path: str) -> Scripted | None:
        with self._lock:
            for index, item in enumerate(self._queue):
                if item.path is None or path.endswith(item.path):
                    return self._queue.pop(index)
        return None

    # ---- lifecycle -----------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeOpenAI is not started; use it as a context manager")
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> FakeOpenAI:
        fake = self

        class Handler(_Handler):
            server_fake = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="fake-openai", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ---- endpoints -----------------------------------------------------------------------------------

    def transcription(self, request: RecordedRequest, upload: bytes) -> tuple[int, Any]:
        form = request.form
        model = (form.get("model") or [""])[0]
        response_format = (form.get("response_format") or ["json"])[0]
        granularities = form.get("timestamp_granularities[]", []) + form.get("timestamp_granularities", [])
        if not model or "file" not in request.files:
            return 400, error_body("you must provide a model and a file", code="missing_required_parameter")
        if model in WORD_FORMAT_MODELS_REJECT and response_format not in ("json", "text"):
            return 400, error_body(
                f"response_format '{response_format}' is not compatible with model '{model}'. Use 'json' or 'text'.",
                code="unsupported_value",
            )
        if "word" in granularities and response_format != "verbose_json":
            return 400, error_body(
                "timestamp_granularities requires response_format=verbose_json", code="invalid_value"
            )
        if len(upload) > self.max_upload_bytes:
            return 413, error_body(
                f"Invalid file size: {len(upload)} bytes. Maximum allowed size is {self.max_upload_bytes} bytes.",
                code="file_too_large",
            )
        filename = request.files["file"][0]
        with tempfile.TemporaryDirectory(prefix="fake-openai-") as tmp:
            path = Path(tmp) / (Path(filename).name or "upload.bin")
            path.write_bytes(upload)
            try:
                duration = probe(path).duration_s
            except Exception as exc:
                return 400, error_body(f"Audio file might be corrupted or unsupported: {exc}", code="invalid_file")
        text = self.transcript_text
        if response_format == "json":
            usage: dict[str, Any] = {"type": "duration", "seconds": round(duration)}
            if model.startswith("gpt-"):
                tokens = len(text.split())
                usage = {"type": "tokens", "input_tokens": round(duration * 10), "output_tokens": tokens,
                         "total_tokens": round(duration * 10) + tokens}  # fmt: skip
            return 200, {"text": text, "usage": usage}
        if response_format == "text":
            return 200, text
        body: dict[str, Any] = {
            "task": "transcribe",
            "language": self.language,
            "duration": duration,
            "text": text,
            "usage": {"type": "duration", "seconds": round(duration)},
        }
        words = _spread(text, duration)
        if "word" in granularities:
            body["words"] = [{"word": w, "start": s, "end": e} for w, s, e in words]
        if "segment" in granularities or not granularities:
            body["segments"] = [
                {"id": 0, "seek": 0, "start": words[0][1] if words else 0.0, "end": words[-1][2] if words else 0.0,
                 "text": " " + text, "tokens": [1, 2], "temperature": 0.0, "avg_logprob": -0.2,
                 "compression_ratio": 1.2, "no_speech_prob": 0.01}
            ]  # fmt: skip
        return 200, body

    def chat(self, request: RecordedRequest, scripted: Scripted | None) -> tuple[int, Any]:
        payload = request.json or {}
        if not payload.get("model") or not payload.get("messages"):
            return 400, error_body("you must provide a model and messages", code="missing_required_parameter")
        answer = scripted.body if scripted is not None and scripted.body is not None else None
        if answer is None:
            schema = ((payload.get("response_format") or {}).get("json_schema") or {}).get("schema") or {}
            answer = {"content": json.dumps(self._script_for(schema)), "refusal": None, "finish_reason": "stop"}
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in payload["messages"])
        completion_tokens = len(str(answer["content"] or answer["refusal"] or "").split())
        return 200, {
            "id": f"chatcmpl-fake-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": payload["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": answer["content"], "refusal": answer["refusal"]},
                    "finish_reason": answer["finish_reason"],
                    "logprobs": None,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }

    def _script_for(self, schema: dict[str, Any]) -> dict[str, Any]:
        """The configured script, limited to (and completed for) the schema's properties."""
        script = self.script or DEFAULT_SCRIPT
        properties: dict[str, Any] = schema.get("properties") or {key: {} for key in script}
        return {
            key: script.get(key, [] if spec.get("type") == "array" else f"fake {key}")
            for key, spec in properties.items()
        }


def _spread(text: str, duration: float) -> list[tuple[str, float, float]]:
    """Words (punctuation stripped, like whisper-1's) evenly over the middle 90% of `duration`."""
    tokens = [t for t in (re.sub(r"[^\w']", "", raw) for raw in text.split()) if t]
    if not tokens:
        return []
    start, span = duration * 0.05, duration * 0.9
    step = span / len(tokens)
    return [(t, round(start + i * step, 3), round(start + (i + 0.8) * step, 3)) for i, t in enumerate(tokens)]


class _Handler(BaseHTTPRequestHandler):
    server_fake: FakeOpenAI
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def do_POST(self) -> None:
        fake = self.server_fake
        raw = self._read_body()
        request = RecordedRequest("POST", self.path, {k.lower(): v for k, v in self.headers.items()})
        upload = b""
        content_type = self.headers.get("content-type", "")
        if content_type.startswith("multipart/form-data"):
            upload = _parse_multipart(content_type, raw, request)
        elif raw:
            try:
                request.json = json.loads(raw)
            except ValueError:
                request.json = None
        with fake._lock:
            fake.requests.append(request)
        scripted = fake._pop(self.path)
        if scripted is not None and scripted.delay_s:
            time.sleep(scripted.delay_s)
        if request.headers.get("authorization") != f"Bearer {fake.api_key}":
            # Like a careless compatible server, echo the key: the client must never repeat it.
            given = request.headers.get("authorization", "").removeprefix("Bearer ")
            self._send(401, error_body(f"Incorrect API key provided: {given}.", code="invalid_api_key"))
            return
        if scripted is not None and scripted.status != 200:
            self._send(scripted.status, scripted.body, scripted.headers)
            return
        if self.path == "/v1/audio/transcriptions":
            self._send(*fake.transcription(request, upload))
        elif self.path == "/v1/chat/completions":
            self._send(*fake.chat(request, scripted))
        else:
            self._send(404, error_body(f"Invalid URL (POST {self.path})", code="unknown_url"))

    def _read_body(self) -> bytes:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            parts: list[bytes] = []
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("content-length") or 0))

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        is_text = isinstance(body, str)
        data = body.encode() if is_text else json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("content-type", "text/plain" if is_text else "application/json")
            self.send_header("content-length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
            pass


def _parse_multipart(content_type: str, raw: bytes, request: RecordedRequest) -> bytes:
    """Fill `request.form` / `request.files` from a multipart body; return the `file` part's bytes."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode() + raw
    )
    upload = b""
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is not None:
            request.files[str(name)] = (filename, part.get_content_type(), len(data))
            if name == "file":
                upload = data
        else:
            request.form.setdefault(str(name), []).append(data.decode())
    return upload
