"""What a stage's paid calls leave behind for its retries: attempts counted per request, and the cloud jobs made.

One stage input (one MediaStore prefix: the stage's input hash) has one checkpoint, `<prefix>/checkpoint.json`.
Every attempt of a paid request is counted there *before* it is sent, across HTTP retries, Dagster step retries and
re-executions, and given back when the failure proves the provider never processed it (no connection was made, a
429, a refusal). A request is sent at most `max_paid_attempts` times per input; then `PaidAttemptsExhausted`. A
cloud job's id is saved the moment the provider answers with it, so a retry polls that job instead of paying for a
new one (`resources.avatar.cloud`).

The stage resources keep their interfaces (transcribe, rewrite, speak, render): `StageRun` opens the stage's
checkpoint with `checkpoint_scope`, and the paid calls inside find it with `active_checkpoint()`.
"""

from __future__ import annotations

import secrets
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Literal, Protocol, TypeVar

import httpx
from pydantic import BaseModel, Field

from resources.errors import PipelineError

T = TypeVar("T")

DEFAULT_MAX_PAID_ATTEMPTS = 4
# Failures before any byte of the request reached the provider: nothing was processed, nothing charged. Matched by
# name too: an SDK may bring its own copy of httpx (openai's is httpx2), whose classes are not httpx's.
_NOT_SENT_NAMES = frozenset({"ConnectError", "ConnectTimeout", "PoolTimeout", "UnsupportedProtocol"})
_HTTP_PACKAGES = frozenset({"httpx", "httpx2", "httpcore", "httpcore2"})
_NOT_SENT_OS = (ConnectionRefusedError, socket.gaierror)


class PaidAttemptsExhausted(PipelineError):
    """A paid request was already sent as often as the bound allows for this stage input."""


class UnconfirmedJob(PipelineError):
    """A cloud job may exist (the answer to its creation was lost) and the provider cannot say whether it does."""


class JobRecord(BaseModel):
    """One cloud job of a stage input: the uploads it uses and how far its creation got."""

    state: Literal["", "creating", "created", "unconfirmed"] = Field(
        default="",
        description="'' none yet; 'creating' a create was sent and its answer has not arrived; 'created' job_id is "
        "the job; 'unconfirmed' a create's answer was lost and the provider could not be asked whether it exists.",
    )
    request_key: str = Field(default="", description="The client-side id sent with the last create, to look it up.")
    job_id: str = Field(default="", description="The provider's id of the job.")
    assets: dict[str, str] = Field(default_factory=dict, description="Uploaded ids/URLs a new create may reuse.")
    note: str = Field(default="", description="Why the job is unconfirmed.")


class CheckpointData(BaseModel):
    """The stored checkpoint: attempts per paid request, and the jobs by name."""

    attempts: dict[str, int] = Field(default_factory=dict)
    jobs: dict[str, JobRecord] = Field(default_factory=dict)


class TextStore(Protocol):
    """Where a checkpoint is kept (the MediaStore)."""

    def read_text(self, key: str) -> str | None: ...

    def write_text(self, key: str, text: str) -> str: ...

    def uri(self, key: str) -> str: ...


def never_processed(exc: BaseException) -> bool:
    """Whether a failed request certainly cost nothing: it never left (connection refused) or was refused (4xx).

    Looks through the exception and its causes for an httpx connect failure or an HTTP status (the SDKs' errors
    carry `status_code`; `httpx.HTTPStatusError` its response). A timeout or a dropped answer is not proof.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _not_sent(current):
            return True
        status = (
            current.response.status_code
            if isinstance(current, httpx.HTTPStatusError)
            else getattr(current, "status_code", None)
        )
        if isinstance(status, int):
            return 400 <= status < 500
        current = current.__cause__ or current.__context__
    return False


def _not_sent(exc: BaseException) -> bool:
    kind = type(exc)
    return isinstance(exc, _NOT_SENT_OS) or (
        kind.__name__ in _NOT_SENT_NAMES and kind.__module__.split(".")[0] in _HTTP_PACKAGES
    )


class Checkpoint:
    """The checkpoint of one stage input, loaded once and saved after every change."""

    def __init__(
        self,
        *,
        name: str,
        where: str,
        load: Callable[[], str | None],
        save: Callable[[str], object],
        max_paid_attempts: int = DEFAULT_MAX_PAID_ATTEMPTS,
    ) -> None:
        self.name = name  # short and unique per stage input: part of every request key
        self.where = where  # for messages: what to delete to start this input afresh
        self.max_paid_attempts = max_paid_attempts
        self._load = load
        self._save = save
        self._data: CheckpointData | None = None

    @classmethod
    def in_store(cls, store: TextStore, key: str, *, name: str, max_paid_attempts: int) -> Checkpoint:
        """The checkpoint kept at `key` in `store`."""
        return cls(
            name=name,
            where=store.uri(key),
            load=lambda: store.read_text(key),
            save=lambda text: store.write_text(key, text),
            max_paid_attempts=max_paid_attempts,
        )

    @classmethod
    def in_memory(cls, *, max_paid_attempts: int = DEFAULT_MAX_PAID_ATTEMPTS) -> Checkpoint:
        """A checkpoint that lives as long as the object (outside a stage: tests, tools)."""
        kept: list[str] = []
        return cls(
            name=secrets.token_hex(6),
            where="the in-memory checkpoint",
            load=lambda: kept[-1] if kept else None,
            save=kept.append,
            max_paid_attempts=max_paid_attempts,
        )

    @property
    def data(self) -> CheckpointData:
        if self._data is None:
            text = self._load()
            self._data = CheckpointData.model_validate_json(text) if text else CheckpointData()
        return self._data

    def _write(self) -> None:
        self._save(self.data.model_dump_json(indent=2))

    # -- paid attempts ------------------------------------------------------------------------------------------
    @property
    def total_attempts(self) -> int:
        """Paid attempts made for this input so far, all requests together."""
        return sum(self.data.attempts.values())

    def attempts(self, request: str) -> int:
        return self.data.attempts.get(request, 0)

    @contextmanager
    def paid_attempt(self, request: str, what: str) -> Iterator[None]:
        """Count one attempt of `request` (saved before it is sent); give it back when the failure inside shows
        that nothing was processed (`never_processed`). PaidAttemptsExhausted instead once the bound is reached."""
        used = self.attempts(request)
        if used >= self.max_paid_attempts:
            raise PaidAttemptsExhausted(
                f"{what}: already sent {used} times for this input (max_paid_attempts={self.max_paid_attempts}, "
                "counting HTTP retries, Dagster retries and re-executions); find out why it fails (the provider's "
                f"status page, its dashboard, the step logs), then delete {self.where} to allow new attempts"
            )
        self._set_attempts(request, used + 1)
        try:
            yield
        except Exception as exc:
            if never_processed(exc):
                self._set_attempts(request, self.attempts(request) - 1)
            raise

    def paid(self, request: str, what: str, call: Callable[[], T]) -> T:
        """`call()` as one counted attempt of `request` (see `paid_attempt`)."""
        with self.paid_attempt(request, what):
            return call()

    def _set_attempts(self, request: str, count: int) -> None:
        self.data.attempts[request] = max(0, count)
        self._write()

    # -- cloud jobs ---------------------------------------------------------------------------------------------
    def job(self, name: str) -> JobRecord:
        """The job called `name` (e.g. "d-id talk"); an empty record when there is none."""
        return self.data.jobs.get(name, JobRecord()).model_copy(deep=True)

    def save_job(self, name: str, job: JobRecord) -> None:
        self.data.jobs[name] = job
        self._write()

    def new_request_key(self) -> str:
        """A fresh client-side id for one create request, found again in the provider's job list."""
        return f"viral-shorts-{self.name}-{secrets.token_hex(4)}"

    @property
    def job_ids(self) -> dict[str, str]:
        """The provider id of every job created for this input, by job name."""
        return {name: job.job_id for name, job in self.data.jobs.items() if job.job_id}


_ACTIVE: ContextVar[Checkpoint | None] = ContextVar("active_checkpoint", default=None)


@contextmanager
def checkpoint_scope(checkpoint: Checkpoint) -> Iterator[Checkpoint]:
    """Make `checkpoint` the one paid calls use until the block ends."""
    token = _ACTIVE.set(checkpoint)
    try:
        yield checkpoint
    finally:
        _ACTIVE.reset(token)


def active_checkpoint() -> Checkpoint:
    """The checkpoint of the stage being built; a fresh in-memory one outside any stage."""
    return _ACTIVE.get() or Checkpoint.in_memory()
