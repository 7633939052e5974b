"""What every platform API engine shares, on the shape of `resources/avatar/cloud.py`: one client per publish.

An engine says which URLs to call, how the platform words its errors and which upload steps to checkpoint.
The client does the rest once: it sends the access token the platform's way, runs every call through
`with_retries` with the Publisher's retry settings (waiting on the settings' clock), refreshes a refused token
once (then a ConfigurationError names the `auth` command), polls against one deadline, and `send_chunks` is
the one loop that reads a file in byte ranges for the engine to upload.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self, TypeVar

import httpx

from resources.errors import ConfigurationError, PipelineError, ProviderError, RetryableError
from resources.http.deadline import Deadline, Pending, poll
from resources.http.retry import http_failure, with_retries
from resources.http.secrets import redact
from resources.publish.ledger import UnconfirmedPost, UploadCheckpoint
from resources.publish.oauth import AccessTokens, auth_command
from resources.publish.publisher import PublishSettings

T = TypeVar("T")
log = logging.getLogger(__name__)

# Per request; how long a publish waits for the platform's processing is `PublishSettings.timeout_s`.
_HTTP_TIMEOUT = httpx.Timeout(120.0, connect=15.0)
# The create call's own timeout (tests shorten it to provoke a lost answer): past it, the post is looked up.
CREATE_TIMEOUT = httpx.Timeout(120.0, connect=15.0)


class TokenRejected(Exception):
    """The platform refused the access token. Not a RetryableError: `PlatformClient.call` refreshes it once."""


class OutcomeUnknown(ProviderError):
    """A create call went out and no answer says what happened (a timeout, a broken connection, a 5xx).

    Never retried: the platform may have posted. `PlatformClient.create_once` looks the post up instead.
    """


NOT_POSTED = "<not posted>"  # what a lookup returns when the platform says for sure that nothing was posted


@dataclass(frozen=True)
class CreateCall:
    """The irreversible call of a publish, as the operator must hear of it when its outcome is unknown."""

    call: str  # e.g. "POST /2/tweets"
    account: str  # where to look: the account, page or channel
    marker: str  # how to recognise our post there


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
        self._create_refused = False  # set by `create` when the platform refused the call for sure
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

    def create(
        self,
        method: str,
        url: str,
        *,
        doing: str,
        check: Callable[[httpx.Response, str], None] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """The irreversible create call: sent once. A refused token (401) and a 429 are repeated, as the platform
        did nothing; a timeout, a broken connection or a 5xx after sending raise OutcomeUnknown."""
        checked = check or self.check
        answered: list[int] = []

        def create_check(response: httpx.Response, doing: str) -> None:
            answered.append(response.status_code)
            if response.status_code >= 500 or response.status_code == 408:
                raise OutcomeUnknown(
                    f"{self.where}: {doing}: {self.platform} answered HTTP {response.status_code} "
                    f"({self.redact(response.text[:200])})"
                )
            checked(response, doing)

        try:
            return self.request(
                method, url, doing=doing, resend_safe=False, check=create_check, timeout=CREATE_TIMEOUT, **kwargs
            )
        except OutcomeUnknown:
            raise
        except (PipelineError, TokenRejected) as exc:
            if answered and answered[-1] < 300:  # a success whose body the check refused: it was created
                raise OutcomeUnknown(f"{self.where}: {doing}: an unreadable success answer ({exc})") from exc
            # A 4xx/429 refusal, or a connection that never opened: nothing was created.
            self._create_refused = True
            raise

    def create_once(
        self,
        checkpoint: UploadCheckpoint,
        call: CreateCall,
        *,
        send: Callable[[], str],
        lookup: Callable[[], str | None],
        save: Callable[[str], None],
    ) -> str:
        """The post id from `send`, the irreversible call, sent at most once per partition and platform.

        When its answer is lost (OutcomeUnknown), or an earlier attempt sent it without learning the outcome,
        `lookup` asks the platform (read-only): a post id, NOT_POSTED (sure that nothing was posted: a re-execution
        may send again), or None (cannot tell: UnconfirmedPost, and nothing posts until an operator resolves it).
        `save` stores the id in the checkpoint before the call is marked done, so a crash in between is looked up.
        """
        pending = checkpoint.pending_create()
        if pending is None:
            checkpoint.begin_create({"call": call.call, "account": call.account, "marker": call.marker})
            self._create_refused = False
            try:
                remote_id = send()
            except OutcomeUnknown as exc:
                why = f"{call.call} got no usable answer ({str(exc).removeprefix(f'{self.where}: ')})"
            except Exception as exc:
                if not self._create_refused:  # not a refusal `create` saw: the post may exist
                    why = f"{call.call} failed after it was sent ({exc})"
                else:
                    checkpoint.end_create()  # refused for sure: nothing was created
                    raise
            else:
                save(remote_id)
                checkpoint.end_create()
                return remote_id
        else:
            sent = f"{pending.get('call', call.call)} at {pending.get('sent_at', '?')}"
            why = f"an earlier attempt sent {sent} and never learned the outcome"
        try:
            found = lookup()
        except (PipelineError, TokenRejected) as exc:
            found, why = None, f"{why}; the lookup failed too ({str(exc).removeprefix(f'{self.where}: ')})"
        if found == NOT_POSTED:
            checkpoint.end_create()
            raise RetryableError(
                f"{self.where}: {why}; {self.platform} confirms nothing was posted, so a re-execution posts it"
            )
        if found:
            log.info("%s: %s; found the post %s, not posting again", self.where, why, found)
            save(found)
            checkpoint.end_create()
            return found
        raise UnconfirmedPost(
            self.where,
            checkpoint.partition_key,
            self.platform,
            f"{why}; {self.platform} may have posted it and the lookup found no post. Check {call.account} for a "
            f"post {call.marker}",
        )

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
                raise OutcomeUnknown(
                    f"{self.where}: {doing}: no answer after the request was sent ({type(exc).__name__})"
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
