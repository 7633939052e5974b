"""What every fake provider server shares: real HTTP on 127.0.0.1, routing, replies, a request log, faults.

A fake subclasses `FakeServer`, names its endpoints with `@route`, and answers each request in `answer`
(a `Reply`, or None to drop the connection unanswered). What stays in the subclass is the provider's own
protocol: its routes, its rules, its state and its error bodies.

    class FakeThing(FakeServer[Recorded]):
        record_type = Recorded

        def answer(self, request: Recorded) -> Reply | None:
            if not request.route:
                return Reply(404, {"error": "no such endpoint"})
            return self.dispatch(request)

        @route("items", "GET", r"/v1/items/(?P<item_id>\\w+)")
        def _item(self, request: Recorded) -> Reply:
            return Reply(200, {"id": request.args["item_id"]})
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from functools import cached_property
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, ClassVar, Generic, Self, TypeVar, overload
from urllib.parse import SplitResult, parse_qs, urlsplit

T = TypeVar("T")


class Headers(dict[str, str]):
    """Request headers with lower-cased names that answer to any spelling (`headers["Content-Type"]`)."""

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__((name.lower(), value) for name, value in items)

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and super().__contains__(name.lower())

    @overload
    def get(self, name: str, default: None = None, /) -> str | None: ...
    @overload
    def get(self, name: str, default: str, /) -> str: ...
    @overload
    def get(self, name: str, default: T, /) -> str | T: ...
    def get(self, name: str, default: Any = None, /) -> Any:
        return super().get(name.lower(), default)


@dataclass
class Part:
    """One part of a multipart/form-data body."""

    name: str
    filename: str | None
    content_type: str
    data: bytes


def multipart(content_type: str, body: bytes) -> list[Part]:
    """The parts of a multipart/form-data body, in order ([] when the body is not one)."""
    if not content_type.startswith("multipart/form-data"):
        return []
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode() + body
    )
    parts = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        parts.append(Part(name if isinstance(name, str) else "", part.get_filename(), part.get_content_type(), data))
    return parts


@dataclass
class Recorded:
    """One request as the fake received it. `route` is the name the fake gave it ("" when none matched)."""

    method: str
    path: str  # without the query
    query: dict[str, str]  # the first value of each name
    headers: Headers
    body: bytes = b""
    route: str = ""
    host: str = ""  # which of the fake's servers it reached
    args: dict[str, str] = field(default_factory=dict)  # the named groups of the route's path pattern
    at: float = field(default_factory=time.monotonic)

    @property
    def line(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def body_size(self) -> int:
        return len(self.body)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    @property
    def json(self) -> Any:
        """The body parsed as JSON; None when it is empty or not JSON."""
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None

    @property
    def urlencoded(self) -> dict[str, str]:
        """The body read as application/x-www-form-urlencoded fields (the first value of each name)."""
        return {name: values[0] for name, values in parse_qs(self.body.decode(errors="replace")).items()}

    @cached_property
    def parts(self) -> list[Part]:
        """The multipart/form-data parts of the body (parsed once: read them after the body is in)."""
        return multipart(self.content_type, self.body)

    def authorization_is(self, scheme: str, credential: str) -> bool:
        """Whether the Authorization header is exactly `<scheme> <credential>` (never for an empty credential)."""
        return bool(credential) and self.headers.get("authorization") == f"{scheme} {credential}"

    @property
    def bearer(self) -> str:
        """The token of an `Authorization: Bearer <token>` header ("" without one)."""
        header = self.headers.get("authorization", "")
        return header.removeprefix("Bearer ") if header.startswith("Bearer ") else ""

    def bearer_is(self, token: str) -> bool:
        return self.authorization_is("Bearer", token)


@dataclass
class Reply:
    """What the fake answers: a dict or list goes out as JSON, bytes as they are, str as text, None as no body."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Fault:
    """A scripted answer for the next `times` requests it matches, after letting `skip` of them through.

    It answers an error (`status`, `body`, `headers`), drops the connection (`drop`), or, with `status` None,
    lets the fake answer normally; with `hold`, only once the client has sent its next request (so the client
    can only have gone on by giving up on this one: a timeout test that does not depend on the machine's speed).
    """

    route: str | None = None  # None: any request the fake asks about
    status: int | None = 500
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    hold: bool = False
    times: int = 1
    skip: int = 0

    def reply(self) -> Reply | None:
        """The scripted answer: None drops the connection."""
        return None if self.drop else Reply(self.status or 500, self.body, self.headers)


F = TypeVar("F", bound=Fault)


class Faults(Generic[F]):
    """The faults scripted on a fake, taken one request at a time (thread-safe)."""

    def __init__(self) -> None:
        self._faults: list[F] = []
        self._lock = threading.Lock()

    def add(self, fault: F) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, *routes: str, where: Callable[[F], bool] | None = None) -> F | None:
        """The first live fault scripted for the first of `routes` that has one (any route when none are given)
        that also passes `where`; counted down. None while the fault's `skip` lets this request through."""
        with self._lock:
            for wanted in routes or (None,):
                for fault in self._faults:
                    if fault.times <= 0 or (wanted is not None and fault.route != wanted):
                        continue
                    if where is not None and not where(fault):
                        continue
                    if fault.skip > 0:
                        fault.skip -= 1
                        return None
                    fault.times -= 1
                    return fault
        return None


@dataclass(frozen=True)
class Route:
    """A path the fake answers: `handler` names the method that does."""

    name: str
    method: str
    path: re.Pattern[str]
    host: str | None
    query: dict[str, str]
    handler: str = ""


HandlerT = TypeVar("HandlerT", bound=Callable[..., Any])


def route(
    name: str, method: str, path: str, *, host: str | None = None, **query: str
) -> Callable[[HandlerT], HandlerT]:
    """Mark a fake's method as the answer to `method` on a path matching `path` (a regex, matched whole).

    `name` is what the request log and the fault scripts call the route; `host` limits it to one of the fake's
    servers; keyword arguments are query parameters the request must carry with these values.
    """

    def mark(handler: HandlerT) -> HandlerT:
        vars(handler)[_ROUTE] = Route(name, method, re.compile(path), host, query)
        return handler

    return mark


_ROUTE = "fake_route"  # where `@route` leaves its Route on the method


R = TypeVar("R", bound=Recorded)


class FakeServer(Generic[R]):
    """A fake provider API: one real HTTP server per host on a free 127.0.0.1 port; a context manager.

    Subclasses set `record_type`, implement `answer` and usually declare `@route`s. `requests` logs every
    request received (a fake may leave out one it cut off); `lock` guards the fake's state.
    """

    record_type: type[R]
    hosts: ClassVar[tuple[str, ...]] = ("api",)
    base_path: ClassVar[str] = ""  # what `base_url` adds after the port, e.g. "/v1"
    protocol_version: ClassVar[str] = "HTTP/1.0"
    json_type: ClassVar[str] = "application/json"
    route_table: ClassVar[tuple[Route, ...]] = ()  # the `@route`s of the class and its bases

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        marked = [
            replace(vars(value)[_ROUTE], handler=attr) for attr, value in vars(cls).items() if hasattr(value, _ROUTE)
        ]
        cls.route_table = (*cls.route_table, *marked)

    def __init__(self) -> None:
        self.requests: list[R] = []
        self.lock = threading.RLock()
        self._arrived = threading.Condition(self.lock)
        self._servers: dict[str, ThreadingHTTPServer] = {}
        self._threads: list[threading.Thread] = []

    # -- lifecycle --------------------------------------------------------------------------------------------
    def start(self) -> Self:
        for host in self.hosts:
            namespace = {"fake": self, "host": host, "protocol_version": self.protocol_version}
            handler = type(f"{type(self).__name__}Exchange", (Exchange,), namespace)
            server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
            server.daemon_threads = True
            thread = threading.Thread(
                target=server.serve_forever, args=(0.02,), name=f"{type(self).__name__}-{host}", daemon=True
            )
            thread.start()
            self._servers[host] = server
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        for server in self._servers.values():
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._servers.clear()
        self._threads.clear()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def url_of(self, host: str) -> str:
        if host not in self._servers:
            raise RuntimeError(f"{type(self).__name__} is not started; use it as a context manager")
        return f"http://127.0.0.1:{self._servers[host].server_address[1]}"

    @property
    def base_url(self) -> str:
        return self.url_of(self.hosts[0]) + self.base_path

    # -- one request ------------------------------------------------------------------------------------------
    def handle(self, exchange: Exchange) -> None:
        """Read, log and answer one request. A fake overrides this to act before the body is read."""
        request = self.request_of(exchange)
        request.body = exchange.read_body()
        self.log(request)
        exchange.send(self.answer(request))

    def request_of(self, exchange: Exchange) -> R:
        """The request as far as its head tells (the body not read yet), with its route."""
        request = self.record_type(
            method=exchange.command,
            path=exchange.url.path,
            query={name: values[0] for name, values in parse_qs(exchange.url.query).items()},
            headers=Headers(exchange.headers.items()),
            host=exchange.host,
        )
        request.route = self.route_of(request)
        return request

    def route_of(self, request: R) -> str:
        """The name of the first `@route` that matches (its path groups go to `request.args`); "" for none."""
        for candidate in self.route_table:
            match = candidate.path.fullmatch(request.path)
            if (
                match is not None
                and candidate.method == request.method
                and candidate.host in (None, request.host)
                and all(request.query.get(name) == value for name, value in candidate.query.items())
            ):
                request.args = match.groupdict()
                return candidate.name
        return ""

    def log(self, request: R) -> None:
        with self.lock:
            self.requests.append(request)
            self._arrived.notify_all()

    def hold_until_next_request(self, request: R, *, limit_s: float = 60.0) -> None:
        """Block this answer until a request logged after `request` arrives (or `limit_s`, a safety net)."""
        with self.lock:
            seen = len(self.requests)
            self._arrived.wait_for(lambda: len(self.requests) > seen, timeout=limit_s)

    def answer(self, request: R) -> Reply | None:
        """The reply to one logged request; None drops the connection unanswered."""
        raise NotImplementedError

    def dispatch(self, request: R) -> Reply | None:
        """The answer of the `@route` method that `request.route` names."""
        handler = next(r.handler for r in self.route_table if r.name == request.route)
        answered: Reply | None = getattr(self, handler)(request)
        return answered

    # -- what tests assert on ---------------------------------------------------------------------------------
    def calls(self, route: str) -> list[R]:
        """The logged requests of one route, in order."""
        return [request for request in self.requests if request.route == route]


class FailAndDrop(Generic[F]):
    """`fail` and `drop` for a fake whose faults are named by route and cut uploads midway (LinkedIn, Meta)."""

    faults: Faults[F]
    fault_type: type[F]

    def scripted_error(self, status: int) -> Any:
        """The provider's error body for a `fail` scripted without one."""
        raise NotImplementedError

    def fail(
        self,
        route: str,
        *,
        status: int = 500,
        body: Any = None,
        times: int = 1,
        headers: dict[str, str] | None = None,
        **match: Any,
    ) -> None:
        """The next `times` requests on `route` get this error; `match` sets the fake's own `Fault` fields."""
        body = body or self.scripted_error(status)
        self.faults.add(self.fault_type(route, status, body, headers or {}, times=times, **match))

    def drop(self, route: str = "upload", *, times: int = 1, **match: Any) -> None:
        """Cut the connection halfway through the body of the next `times` requests on `route`."""
        self.faults.add(self.fault_type(route, drop=True, times=times, **match))


class Exchange(BaseHTTPRequestHandler):
    """One HTTP exchange on a fake's server: hands the request to the fake and writes what it answers."""

    fake: ClassVar[FakeServer[Any]]
    host: ClassVar[str]
    disable_nagle_algorithm = True  # headers and body go out as separate writes: avoid delayed-ACK stalls

    def do_GET(self) -> None:
        self.fake.handle(self)

    def do_POST(self) -> None:
        self.fake.handle(self)

    def do_PUT(self) -> None:
        self.fake.handle(self)

    def do_DELETE(self) -> None:
        self.fake.handle(self)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep pytest output clean

    @property
    def url(self) -> SplitResult:
        return urlsplit(self.path)  # not cached: one handler serves every request of a kept-alive connection

    @property
    def content_length(self) -> int:
        return int(self.headers.get("content-length") or 0)

    def read_body(self) -> bytes:
        """The whole body, by Content-Length or chunked transfer encoding."""
        if self.headers.get("transfer-encoding", "").lower() != "chunked":
            return self.rfile.read(self.content_length) if self.content_length else b""
        chunks = []
        while size := int(self.rfile.readline().strip().split(b";")[0], 16):
            chunks.append(self.rfile.read(size))
            self.rfile.readline()
        self.rfile.readline()
        return b"".join(chunks)

    def cut(self, keep: int, received: Callable[[bytes], None] | None = None) -> None:
        """Read the first `keep` bytes of the body (handed to `received`), then close the connection unanswered:
        the client sees its upload die midway."""
        data = self.rfile.read(keep)
        if received is not None:
            received(data)
        self.close_connection = True
        self.connection.close()

    def send(self, reply: Reply | None) -> None:
        """Write `reply`; None closes the connection without an answer."""
        if reply is None:
            self.close_connection = True
            return
        data, content_type = _encode(reply.body, self.fake.json_type)
        headers = dict(reply.headers)
        if content_type and "content-type" not in (name.lower() for name in headers):
            headers = {"Content-Type": content_type, **headers}
        try:
            self.send_response(reply.status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client timed out and left: exactly what a slow-answer test provokes


def _encode(body: Any, json_type: str) -> tuple[bytes, str]:
    """The bytes of a reply body and their Content-Type ("" for none)."""
    if body is None:
        return b"", ""
    if isinstance(body, bytes):
        return body, ""
    if isinstance(body, str):
        return body.encode(), "text/plain"
    return json.dumps(body).encode(), json_type
