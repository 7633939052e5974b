"""A local Sentry ingest server for tests: real HTTP on 127.0.0.1, fed by the real sentry-sdk.

Accepts `POST /api/<project>/envelope/` (gzip- or identity-encoded) and parses the envelope format
(https://develop.sentry.dev/sdk/data-model/envelopes/): a header line, then items, each an item header line and a
payload of the header's `length` bytes (or up to the next newline without one). Events are kept in `events`;
`bodies` keeps every decoded envelope as received, for tests that look for a secret in all of it.
DSN: `fake.dsn` (http://public@127.0.0.1:<port>/1).
"""

from __future__ import annotations

import gzip
import json
import zlib
from dataclasses import dataclass, field
from typing import Any

from tests.providers.fakes.base import FakeServer, Recorded, Reply, route

PUBLIC_KEY = "public"
PROJECT_ID = "1"


@dataclass
class EnvelopeItem:
    """One item of an envelope: its header (`type`: event, transaction, session, ...) and its payload."""

    header: dict[str, Any]
    payload: bytes

    @property
    def type(self) -> str:
        return str(self.header.get("type", ""))

    @property
    def json(self) -> Any:
        return json.loads(self.payload)


@dataclass
class Envelope:
    header: dict[str, Any]
    items: list[EnvelopeItem] = field(default_factory=list)


def parse_envelope(body: bytes) -> Envelope:
    """The header and items of an (already decoded) envelope; ValueError when it is not one."""
    header_line, _, rest = body.partition(b"\n")
    envelope = Envelope(json.loads(header_line))
    while rest.strip():
        item_line, _, rest = rest.partition(b"\n")
        if not item_line.strip():
            continue
        item_header = json.loads(item_line)
        length = item_header.get("length")
        if length is None:
            payload, _, rest = rest.partition(b"\n")
        else:
            if len(rest) < length:
                raise ValueError(f"item says length {length} but {len(rest)} bytes are left")
            payload, rest = rest[:length], rest[length:].removeprefix(b"\n")
        envelope.items.append(EnvelopeItem(item_header, payload))
    return envelope


def decoded(request: Recorded) -> bytes:
    """The request body without its Content-Encoding (gzip, deflate or none)."""
    encoding = request.headers.get("content-encoding", "").lower()
    if encoding == "gzip":
        return gzip.decompress(request.body)
    if encoding == "deflate":
        return zlib.decompress(request.body)
    if encoding in ("", "identity"):
        return request.body
    raise ValueError(f"unsupported Content-Encoding {encoding!r}")


class FakeSentry(FakeServer[Recorded]):
    """Context manager running the fake on a free port; `dsn` is what `SENTRY_DSN` takes."""

    record_type = Recorded

    def __init__(self) -> None:
        super().__init__()
        self.envelopes: list[Envelope] = []
        self.bodies: list[bytes] = []

    @property
    def dsn(self) -> str:
        host = self.base_url.removeprefix("http://")
        return f"http://{PUBLIC_KEY}@{host}/{PROJECT_ID}"

    @property
    def events(self) -> list[dict[str, Any]]:
        """Every error event received, in order."""
        with self.lock:
            return [item.json for envelope in self.envelopes for item in envelope.items if item.type == "event"]

    def everything_received(self) -> bytes:
        """Every request as it arrived (line, headers, raw body) and every decoded envelope, as one byte string."""
        with self.lock:
            raw = [f"{r.method} {r.path} {r.query} {dict(r.headers)}".encode() + b"\n" + r.body for r in self.requests]
            return b"\n".join([*raw, *self.bodies])

    def answer(self, request: Recorded) -> Reply | None:
        if not request.route:
            return Reply(404, {"detail": "no such endpoint"})
        return self.dispatch(request)

    @route("envelope", "POST", r"/api/(?P<project>\d+)/envelope/")
    def _envelope(self, request: Recorded) -> Reply:
        auth = request.headers.get("x-sentry-auth", "")
        if request.args["project"] != PROJECT_ID or f"sentry_key={PUBLIC_KEY}" not in auth:
            return Reply(401, {"detail": "invalid project or sentry_key"})
        try:
            body = decoded(request)
            envelope = parse_envelope(body)
        except ValueError as exc:  # json.JSONDecodeError and gzip's BadGzipFile are ValueErrors / OSErrors
            return Reply(400, {"detail": f"bad envelope: {exc}"})
        except OSError as exc:
            return Reply(400, {"detail": f"bad envelope encoding: {exc}"})
        with self.lock:
            self.bodies.append(body)
            self.envelopes.append(envelope)
        return Reply(200, {"id": envelope.header.get("event_id")})
