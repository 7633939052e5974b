"""The egress guard: a filtering HTTP(S) proxy on 127.0.0.1 that every connection of one download goes through.

yt-dlp is pointed at it (its `proxy` option). For each connection the guard resolves the host ONCE with the
`AddressPolicy`, refuses it if any answer is refused, and otherwise connects to exactly the address it checked, so
a redirect, a URL found in the page, an HLS/DASH segment or a DNS answer that changed since the last lookup
(rebinding) cannot reach loopback, private, link-local or metadata addresses. `https` arrives as `CONNECT
host:port` (the tunnel carries TLS end to end); `http` as an absolute-URI request, forwarded with
`Connection: close` so each proxied connection carries one request to one checked host.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import socketserver
import threading
from dataclasses import dataclass
from types import TracebackType
from urllib.parse import urlsplit

from resources.ingest.url_safety import AddressPolicy, AddressRefused, HostUnresolved

_MAX_HEAD = 64 * 1024
_HOP_BY_HOP = frozenset({b"connection", b"proxy-connection", b"keep-alive", b"proxy-authorization", b"te"})


@dataclass(frozen=True)
class Connection:
    """A connection the guard let through: the host asked for and the checked address it went to."""

    host: str
    port: int
    address: str


class EgressGuard:
    """A local proxy that checks every host at connect time. Use as a context manager; `url` is the proxy."""

    def __init__(self, policy: AddressPolicy, *, timeout_s: float = 30.0) -> None:
        self.policy = policy
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._refusals: list[AddressRefused] = []
        self._unresolved: list[HostUnresolved] = []
        self._connections: list[Connection] = []
        self._sockets: set[socket.socket] = set()
        self._server: _ProxyServer | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the egress guard is not running; use it as `with EgressGuard(...) as guard:`")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def refusals(self) -> list[AddressRefused]:
        """Connections refused because the host resolved to a refused address, in order."""
        with self._lock:
            return list(self._refusals)

    @property
    def unresolved(self) -> list[HostUnresolved]:
        with self._lock:
            return list(self._unresolved)

    @property
    def connections(self) -> list[Connection]:
        """Connections let through, in order."""
        with self._lock:
            return list(self._connections)

    def __enter__(self) -> EgressGuard:
        self._server = _ProxyServer(self)
        threading.Thread(target=self._server.serve_forever, args=(0.05,), name="egress-guard", daemon=True).start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        with self._lock:  # nothing keeps tunnelling after the download is over
            for sock in self._sockets:
                _close(sock)
            self._sockets.clear()

    # ---- used by the handler threads -----------------------------------------------------------------------
    def open_upstream(self, host: str, port: int) -> socket.socket:
        """Resolve and check `host` once, then connect to a checked address. Raises the policy's errors."""
        try:
            addresses = self.policy.checked_addresses(host, port)
        except AddressRefused as exc:
            with self._lock:
                self._refusals.append(exc)
            raise
        except HostUnresolved as exc:
            with self._lock:
                self._unresolved.append(exc)
            raise
        error: OSError | None = None
        for address in addresses:  # every one of them was checked; connecting never resolves again
            try:
                upstream = socket.create_connection((address, port), timeout=self.timeout_s)
            except OSError as exc:
                error = exc
                continue
            with self._lock:
                self._connections.append(Connection(host, port, address))
            self.track(upstream)
            return upstream
        raise error or OSError(f"cannot connect to {host}:{port}")

    def track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)

    def untrack(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)
        _close(sock)


class _ProxyServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, guard: EgressGuard) -> None:
        self.guard = guard
        super().__init__(("127.0.0.1", 0), _ProxyHandler)


class _ProxyHandler(socketserver.BaseRequestHandler):
    server: _ProxyServer

    def handle(self) -> None:
        guard = self.server.guard
        client: socket.socket = self.request
        client.settimeout(guard.timeout_s)
        guard.track(client)
        upstream: socket.socket | None = None
        try:
            head, rest = _read_head(client)
            if head is None:
                return
            method, target, lines = _parse_request(head)
            host, port, path = _destination(method, target.decode("latin-1"))
            try:
                upstream = guard.open_upstream(host, port)
            except AddressRefused as exc:
                _reply(client, 403, "Forbidden by the egress guard", f"refused: {exc}")
                return
            except HostUnresolved as exc:
                _reply(client, 502, "Bad Gateway", str(exc))
                return
            except OSError as exc:
                _reply(client, 502, "Bad Gateway", f"cannot connect to {host}:{port}: {exc}")
                return
            if path is None:  # CONNECT: a tunnel to the checked address
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                upstream.sendall(rest)
            else:
                upstream.sendall(_head(method + b" " + path + b" HTTP/1.1", lines) + rest)
            _relay(client, upstream, guard.timeout_s, rewrite_response_head=path is not None)
        except _BadRequest as exc:
            _reply(client, 400, "Bad Request", str(exc))
        except OSError:
            pass  # a peer went away or timed out: the client sees a closed connection
        finally:
            if upstream is not None:
                guard.untrack(upstream)
            guard.untrack(client)


class _BadRequest(Exception):
    pass


def _read_head(sock: socket.socket) -> tuple[bytes | None, bytes]:
    """Bytes up to the blank line ending an HTTP head, and what followed it."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return None, b""
        data += chunk
        if len(data) > _MAX_HEAD:
            raise _BadRequest("request head too large")
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def _parse_request(head: bytes) -> tuple[bytes, bytes, list[bytes]]:
    request_line, *lines = head.split(b"\r\n")
    parts = request_line.split(b" ")
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/"):
        raise _BadRequest("malformed request line")
    return parts[0].upper(), parts[1], lines


def _destination(method: bytes, target: str) -> tuple[str, int, bytes | None]:
    """Host, port and (None for CONNECT) the origin-form path of a proxy request."""
    try:
        if method == b"CONNECT":
            parsed = urlsplit(f"//{target}")
            if not parsed.hostname or parsed.username is not None or not parsed.port:
                raise _BadRequest(f"bad CONNECT target {target!r}: give host:port")
            return parsed.hostname, parsed.port, None
        parsed = urlsplit(target)
        if parsed.scheme.lower() != "http" or not parsed.hostname or parsed.username is not None:
            raise _BadRequest("the egress guard forwards CONNECT and absolute http:// requests only")
        path = (parsed.path or "/") + (f"?{parsed.query}" if parsed.query else "")
        return parsed.hostname, parsed.port or 80, path.encode("latin-1")
    except ValueError as exc:  # a port that is not a number
        raise _BadRequest(f"bad request target {target!r}: {exc}") from exc


def _head(first_line: bytes, lines: list[bytes]) -> bytes:
    """An HTTP head without hop-by-hop headers, asking for the connection to close after one exchange."""
    kept = [line for line in lines if line.split(b":", 1)[0].strip().lower() not in _HOP_BY_HOP]
    return b"\r\n".join([first_line, *kept, b"Connection: close", b"", b""])


def _relay(client: socket.socket, upstream: socket.socket, idle_s: float, *, rewrite_response_head: bool) -> None:
    """Copy bytes both ways until a side closes or neither sends for `idle_s`.

    With `rewrite_response_head` the answer's head is forwarded with `Connection: close`, so the client opens a
    new (and newly checked) connection for its next request instead of reusing this one for another host.
    """
    pending: bytes | None = b"" if rewrite_response_head else None
    with selectors.DefaultSelector() as selector:
        selector.register(client, selectors.EVENT_READ, upstream)
        selector.register(upstream, selectors.EVENT_READ, client)
        while True:
            events = selector.select(timeout=idle_s)
            if not events:
                return
            for key, _ in events:
                source, sink = key.fileobj, key.data
                assert isinstance(source, socket.socket)
                chunk = source.recv(65536)
                if not chunk:
                    return
                if source is upstream and pending is not None:
                    pending += chunk
                    if b"\r\n\r\n" not in pending:
                        if len(pending) > _MAX_HEAD:
                            return
                        continue
                    head, _, chunk = pending.partition(b"\r\n\r\n")
                    status, *lines = head.split(b"\r\n")
                    chunk = _head(status, lines) + chunk
                    pending = None
                sink.sendall(chunk)


def _reply(client: socket.socket, status: int, reason: str, message: str) -> None:
    body = message.encode("utf-8", "replace") + b"\n"
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    with contextlib.suppress(OSError):
        client.sendall(head.encode("latin-1") + body)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.close()
