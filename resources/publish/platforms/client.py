"""What every platform API engine shares, on the shape of `resources/avatar/cloud.py`: one client per publish.

An engine says which URLs to call, how the platform words its errors and which upload steps to checkpoint.
The client does the rest once: it sends the access token the platform's way, runs every call through
`with_retries` with the Publisher's retry settings (waiting on the settings' clock), refreshes a refused token
once (then a ConfigurationError names the `auth` command), polls against one deadline, and `send_chunks` is
the one loop that reads a file in byte ranges for the engine to upload.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self, TypeVar

import httpx

from resources.errors import ConfigurationError, ProviderError, RetryableError
from resources.http.deadline import Deadline, Pending, poll
from resources.http.retry import http_failure, with_retries
from resources.http.secrets import redact
from resources.publish.ledger import UploadCheckpoint
from resources.publish.oauth import AccessTokens, auth_command
from resources.publish.publisher import PublishSettings

T = TypeVar("T")

# Per request; how long a publish waits for the platform's processing is `PublishSettings.timeout_s`.
_HTTP_TIMEOUT = httpx.Timeout(120.0, connect=15.0)


class TokenRejected(Exception):
    """The platform refused the access token. Not a RetryableError: `PlatformClient.call` refreshes it once."""


class PlatformClient:
    """Authenticated calls to one platform for one publish; `where` (`platform[partition]`) starts every message.

    Subclasses read their platform's error answers in `failure`; the token is fetched on `with`.
    """

    def __init__(self, settings: PublishSettings, where: str) -> None:
        self.settings = settings
        self.where = where
        self.platform = settings.platform
        self.token = ""
        self._tokens = AccessTokens(
            settings.platform, token_url=settings.token_url, retry=settings.retry, sleep=settings.clock.sleep
        )
        self._refreshed = False
        self._http: httpx.Client | None = None

    def __enter__(self) -> Self:
        self.token = self._tokens.get()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._http is not None:
            self._http.close()

    @property
    def http(self) -> httpx.Client:
        """The connection pool, opened on first use (the YouTube engine sends through its SDK instead)."""
        if self._http is None:
            self._http = httpx.Client(timeout=_HTTP_TIMEOUT)
        return self._http

    def call(self, once: Callable[[], T], *, doing: str) -> T:
        """`once` under `with_retries`; when it raises TokenRejected, the token is refreshed once and it runs again."""
        try:
            return with_retries(
                once, what=f"{self.where}: {doing}", settings=self.settings.retry, sleep=self.settings.clock.sleep
            )
        except TokenRejected:
            if self._refreshed:
                raise ConfigurationError(
                    f"{self.where}: the access token was refused even after a refresh; "
                    f"run {auth_command(self.platform)}"
                ) from None
            self._refreshed = True
            self.refresh_token()
            return self.call(once, doing=doing)

    def refresh_token(self) -> None:
        """Replace the refused token with a fresh one (AccessTokens keeps a rotated refresh token)."""
        self.token = self._tokens.get(force_refresh=True)

    def request(
        self,
        method: str,
        url: str,
        *,
        doing: str,
        auth: str | None = "Bearer",
        headers: Mapping[str, str] | None = None,
        resend_safe: bool = True,
        check: Callable[[httpx.Response, str], None] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """One call, retried; `check` (default: `self.check`) raises for an error answer, a success is returned.

        `auth` is the scheme the token goes with (None: no token, e.g. a pre-signed upload URL). With
        `resend_safe=False` a connection lost after the request went out is not retried: the platform may have
        acted on it (a second post would be a duplicate).
        """

        def once() -> httpx.Response:
            sent = dict(headers or {})
            if auth is not None:
                sent["Authorization"] = f"{auth} {self.token}"  # read per attempt: a refresh replaces the token
            response = self._send(method, url, doing=doing, headers=sent, resend_safe=resend_safe, **kwargs)
            (check or self.check)(response, doing)
            return response

        return self.call(once, doing=doing)

    def check(self, response: httpx.Response, doing: str) -> None:
        """Raise the pipeline error for an error answer (TikTok also finds errors inside a 200)."""
        if not response.is_success:
            raise self.failure(response, doing)

    def failure(self, response: httpx.Response, doing: str) -> Exception:
        """The error for an error answer: 401 is TokenRejected, others as `http_failure` (token redacted)."""
        if response.status_code == 401:
            return TokenRejected()
        message = response.text[:300] or response.reason_phrase
        return self.http_failure(response.status_code, message, doing, response.headers)

    def http_failure(self, status: int, message: str, doing: str, headers: Mapping[str, str]) -> Exception:
        """`http_failure` with the platform's `message` (token redacted), the step, and Retry-After if any."""
        return http_failure(self.where, status, self.redact(f"{message} (while {doing})"), headers)

    def redact(self, text: str) -> str:
        return redact(text, self.token)

    def poll(
        self, read: Callable[[], T | Pending], *, doing: str, at_deadline: Callable[[Pending], T | None] | None = None
    ) -> T:
        """Call `read` every `poll_interval_s` until it returns a result; past `timeout_s`, a RetryableError.

        The checkpoint keeps every finished step, so re-executing only waits again. `at_deadline` may settle
        for the last status instead (a platform that finishes on its own).
        """
        deadline = Deadline(self.settings.timeout_s, expired=self._still_waiting, clock=self.settings.clock)
        return poll(
            read, deadline=deadline, doing=doing, interval_s=self.settings.poll_interval_s, at_deadline=at_deadline
        )

    def _still_waiting(self, doing: str) -> RetryableError:
        return RetryableError(
            f"{self.where}: still {doing} after {self.settings.timeout_s:.0f} s; "
            "re-execute to keep waiting (the upload is not repeated)"
        )

    def _send(
        self, method: str, url: str, *, doing: str, headers: dict[str, str], resend_safe: bool, **kwargs: Any
    ) -> httpx.Response:
        try:
            return self.http.request(method, url, headers=headers, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:  # nothing was sent: always safe to repeat
            raise RetryableError(f"cannot connect to {self.platform}: {type(exc).__name__}") from None
        except httpx.TransportError as exc:
            if not resend_safe:
                raise ProviderError(
                    f"{self.where}: {doing}: the connection broke after the request was sent "
                    f"({type(exc).__name__}), so {self.platform} may have created it; check the account and "
                    "re-execute only if it is not there"
                ) from None
            if isinstance(exc, httpx.TimeoutException):
                raise RetryableError(f"{doing} timed out") from None
            raise RetryableError(f"{doing} failed: {type(exc).__name__}") from None


@dataclass(frozen=True)
class ApiEngine:
    """A platform engine: the shared settings and this upload's checkpoint; platform options follow as fields."""

    settings: PublishSettings
    checkpoint: UploadCheckpoint  # the resume state, saved the moment each step the platform cannot undo is done


@dataclass(frozen=True)
class Chunk:
    """Bytes `first`..`last` of a file, inclusive as Content-Range counts them; `index` counts from 0."""

    index: int
    first: int
    last: int

    @property
    def size(self) -> int:
        return self.last - self.first + 1


def byte_ranges(size: int, chunk_size: int, *, start: int = 0, count: int | None = None) -> list[Chunk]:
    """Bytes `start`..`size` in pieces of `chunk_size`; with `count`, exactly that many, the last taking the rest."""
    chunk_size = max(1, chunk_size)
    count = math.ceil((size - start) / chunk_size) if count is None else count
    bounds = [start + index * chunk_size for index in range(count)] + [size]
    return [Chunk(index, bounds[index], bounds[index + 1] - 1) for index in range(count)]


def send_chunks(path: Path, chunks: Iterable[Chunk], send: Callable[[Chunk, bytes], None]) -> None:
    """Read each chunk of `path` in order and hand it to `send`, which uploads it and checkpoints it."""
    with path.open("rb") as handle:
        for chunk in chunks:
            handle.seek(chunk.first)
            send(chunk, handle.read(chunk.size))
