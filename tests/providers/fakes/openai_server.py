"""A local OpenAI API for tests: a real HTTP server on 127.0.0.1 that the real `openai` SDK talks to.

Speaks `POST /v1/audio/transcriptions` (multipart, as the SDK sends it) and `POST /v1/chat/completions`
(json_schema structured output), checks `Authorization: Bearer <key>`, records every request, and plays a
queue of scripted answers (failures, slow answers, refusals, broken JSON) before behaving normally again.
Every request is checked against OpenAI's published OpenAPI document (`tests/data/specs/openai.json`, see
`openapi_check`); a model past its shutdown date (on the fake's `today`) is refused as OpenAI refuses it.

    with FakeOpenAI(transcript_text="Hello there.") as server:
        server.fail_next(429, headers={"retry-after": "1"})
        client = openai.OpenAI(api_key=server.api_key, base_url=server.base_url)
"""

from __future__ import annotations

import json
import re
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

from resources.media.probe import probe
from tests.providers.fakes.base import FakeServer, Fault, Faults, Recorded, Reply, route
from tests.providers.fakes.openapi_check import SpecChecked

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
# Written from the docs, not imported from the client: openai 3.57.0 `types/audio_model.py` ("Announced shutdown
# date: 2027-02-26") and https://developers.openai.com/api/docs/deprecations.
SHUTDOWN_ON: dict[str, date] = {
    model: date(2027, 2, 26)
    for model in ("whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe", "gpt-4o-mini-transcribe-2025-12-15",
                  "gpt-4o-transcribe-diarize")
}  # fmt: skip
LANGUAGES_MODELS = frozenset({"gpt-transcribe"})  # `languages`: "Supported by `gpt-transcribe`" (the spec)
ISO_CODES = {"english": "en", "french": "fr", "german": "de", "spanish": "es"}


class RecordedRequest(Recorded):
    """One request as the server saw it, with its multipart form and files."""

    @property
    def form(self) -> dict[str, list[str]]:
        """The multipart fields that are not files: name -> values."""
        form: dict[str, list[str]] = {}
        for part in self.parts:
            if part.filename is None:
                form.setdefault(part.name, []).append(part.data.decode())
        return form

    @property
    def files(self) -> dict[str, tuple[str, str, int]]:
        """The multipart files: name -> (filename, content type, size)."""
        return {p.name: (p.filename, p.content_type, len(p.data)) for p in self.parts if p.filename is not None}

    @property
    def upload(self) -> bytes:
        """The bytes of the `file` part."""
        return next((p.data for p in self.parts if p.name == "file" and p.filename is not None), b"")

    @property
    def text(self) -> str:
        """Everything the client sent as text (JSON body and form fields), for "did it send X" assertions."""
        return json.dumps(self.json or {}) + json.dumps(self.form)


def error_body(message: str, *, type: str = "invalid_request_error", code: str | None = None) -> dict[str, Any]:
    """OpenAI's error envelope."""
    return {"error": {"message": message, "type": type, "param": None, "code": code}}


def error(status: int, message: str, *, type: str = "invalid_request_error", code: str | None = None) -> Reply:
    return Reply(status, error_body(message, type=type, code=code))


class FakeOpenAI(SpecChecked, FakeServer[RecordedRequest]):
    """The fake server; a context manager. `base_url` ends in /v1 like OpenAI's."""

    record_type = RecordedRequest
    base_path = "/v1"
    protocol_version = "HTTP/1.1"
    spec_name = "openai.json"
    spec_prefix = "/v1"

    def __init__(
        self,
        *,
        api_key: str = "sk-fake-test-key-0123456789",
        transcript_text: str = DEFAULT_TRANSCRIPT,
        language: str = "english",
        max_upload_bytes: int = 26_214_400,
        script: dict[str, Any] | None = None,
        today: date | None = None,
    ) -> None:
        super().__init__()
        self.today = today or date.today()
        self.api_key = api_key
        self.transcript_text = transcript_text
        self.language = language
        self.max_upload_bytes = max_upload_bytes
        self.script = script
        self.faults: Faults[Fault] = Faults()

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
        self.faults.add(Fault(path, status, payload, dict(headers or {})))

    def quota_exhausted_next(self, path: str | None = None) -> None:
        """429 insufficient_quota, as OpenAI sends when the account has no credit."""
        self.fail_next(
            429,
            message="You exceeded your current quota, please check your plan and billing details.",
            type="insufficient_quota",
            code="insufficient_quota",
            path=path,
        )

    def hold_next(self, path: str | None = None) -> None:
        """Answer the next request normally, but only after the client's next request arrives."""
        self.faults.add(Fault(path, status=None, hold=True))

    def chat_next(
        self, *, content: str | dict[str, Any] | None = None, refusal: str | None = None, finish_reason: str = "stop"
    ) -> None:
        """The next chat completion answers `content` (a dict is sent as JSON) or refuses with `refusal`."""
        text = json.dumps(content) if isinstance(content, dict) else content
        answer = {"content": text, "refusal": refusal, "finish_reason": finish_reason}
        self.faults.add(Fault("/chat/completions", status=None, body=answer))

    def requests_to(self, suffix: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith(suffix)]

    # ---- protocol ------------------------------------------------------------------------------------

    def answer(self, request: RecordedRequest) -> Reply | None:
        scripted = self.faults.take(where=lambda f: f.route is None or request.path.endswith(f.route))
        if scripted is not None and scripted.hold:
            self.hold_until_next_request(request)
        if not request.bearer_is(self.api_key):
            # Like a careless compatible server, echo the key: the client must never repeat it.
            given = request.headers.get("authorization", "").removeprefix("Bearer ")
            return error(401, f"Incorrect API key provided: {given}.", code="invalid_api_key")
        problems = self.spec_problems(request)
        if problems:
            return error(400, "; ".join(problems))
        if scripted is not None and scripted.status is not None:
            return scripted.reply()
        if request.route == "transcriptions":
            return self.transcription(request)
        if request.route == "chat":
            return self.chat(request, scripted)
        return error(404, f"Invalid URL ({request.method} {request.path})", code="unknown_url")

    # ---- endpoints -----------------------------------------------------------------------------------

    @route("transcriptions", "POST", "/v1/audio/transcriptions")
    def transcription(self, request: RecordedRequest) -> Reply:
        form, upload = request.form, request.upload
        model = (form.get("model") or [""])[0]
        response_format = (form.get("response_format") or ["json"])[0]
        granularities = form.get("timestamp_granularities[]", []) + form.get("timestamp_granularities", [])
        if not model or "file" not in request.files:
            return error(400, "you must provide a model and a file", code="missing_required_parameter")
        if model in SHUTDOWN_ON and self.today >= SHUTDOWN_ON[model]:
            # What OpenAI answers for a shut-down model (e.g. text-davinci-003 after 2024-01-04).
            return error(
                404,
                f"The model `{model}` has been deprecated, learn more here: https://platform.openai.com/docs/deprecations",
                code="model_not_found",
            )
        languages = form.get("languages[]", []) + form.get("languages", [])
        if languages and model not in LANGUAGES_MODELS:
            return error(
                400, f"languages is not supported with model '{model}'; use language", code="unsupported_parameter"
            )
        if languages and form.get("language"):
            return error(400, "send either language or languages, not both", code="invalid_value")
        if model in WORD_FORMAT_MODELS_REJECT and response_format not in ("json", "text"):
            return error(
                400,
                f"response_format '{response_format}' is not compatible with model '{model}'. Use 'json' or 'text'.",
                code="unsupported_value",
            )
        if "word" in granularities and response_format != "verbose_json":
            return error(400, "timestamp_granularities requires response_format=verbose_json", code="invalid_value")
        if len(upload) > self.max_upload_bytes:
            return error(
                413,
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
                return error(400, f"Audio file might be corrupted or unsupported: {exc}", code="invalid_file")
        text = self.transcript_text
        if response_format == "json":
            usage: dict[str, Any] = {"type": "duration", "seconds": round(duration)}
            if model.startswith("gpt-"):
                tokens = len(text.split())
                usage = {"type": "tokens", "input_tokens": round(duration * 10), "output_tokens": tokens,
                         "total_tokens": round(duration * 10) + tokens}  # fmt: skip
            answer: dict[str, Any] = {"text": text, "usage": usage}
            if model in LANGUAGES_MODELS:  # "The languages detected in the audio. Returned by `gpt-transcribe`."
                answer["languages"] = [{"code": ISO_CODES.get(self.language, self.language[:2])}]
            return Reply(200, answer)
        if response_format == "text":
            return Reply(200, text)
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
        return Reply(200, body)

    @route("chat", "POST", "/v1/chat/completions")
    def chat(self, request: RecordedRequest, scripted: Fault | None = None) -> Reply:
        payload = request.json or {}
        if not payload.get("model") or not payload.get("messages"):
            return error(400, "you must provide a model and messages", code="missing_required_parameter")
        answer = scripted.body if scripted is not None and scripted.body is not None else None
        if answer is None:
            schema = ((payload.get("response_format") or {}).get("json_schema") or {}).get("schema") or {}
            answer = {"content": json.dumps(self._script_for(schema)), "refusal": None, "finish_reason": "stop"}
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in payload["messages"])
        completion_tokens = len(str(answer["content"] or answer["refusal"] or "").split())
        completion = {
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
        return Reply(200, completion)

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
