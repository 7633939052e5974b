"""Waiting, done once for every provider: a replaceable clock, one deadline per job, one poll loop.

Every wait (a poll interval, a retry's backoff) goes through a `Clock`, so a test can hand the code a
`FakeClock` that advances only when the code sleeps: deadlines then pass after the same number of polls on
every machine, however slow, and no test sleeps for real.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

T = TypeVar("T")


class Clock(Protocol):
    """Where the time comes from and how waiting is done."""

    def now(self) -> float:
        """Monotonic seconds (only differences mean anything)."""
        ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock: `time.monotonic` and `time.sleep`."""

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


SYSTEM_CLOCK = SystemClock()


@dataclass
class FakeClock:
    """A clock that moves only when the code sleeps; `sleeps` lists every wait, in order."""

    at: float = 0.0
    sleeps: list[float] = field(default_factory=list)

    def now(self) -> float:
        return self.at

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.at += max(0.0, seconds)


class Deadline:
    """One deadline for a whole job or wait; `expired(doing)` is the error raised once it has passed."""

    def __init__(self, timeout_s: float, *, expired: Callable[[str], Exception], clock: Clock = SYSTEM_CLOCK) -> None:
        self.timeout_s = timeout_s
        self.clock = clock
        self._expired = expired
        self._ends_at = clock.now() + timeout_s

    def remaining(self) -> float:
        return self._ends_at - self.clock.now()

    def passed(self) -> bool:
        return self.remaining() <= 0

    def check(self, doing: str) -> None:
        """Raise the deadline's error when it has passed."""
        if self.passed():
            raise self._expired(doing)

    def sleep(self, seconds: float, doing: str) -> None:
        """Sleep `seconds`, but never past the deadline (raise its error when it has already passed)."""
        self.check(doing)
        self.clock.sleep(max(0.0, min(seconds, self.remaining())))


@dataclass(frozen=True)
class Pending:
    """A status read of something not finished yet; `wait_s` when the provider says when to look again."""

    status: str = ""
    wait_s: float | None = None


def poll(
    read: Callable[[], T | Pending],
    *,
    deadline: Deadline,
    doing: str,
    interval_s: float,
    backoff: float = 1.0,
    max_interval_s: float = 0.0,
    at_deadline: Callable[[Pending], T | None] | None = None,
) -> T:
    """Call `read` until it returns a result, waiting between reads; the last read happens at the deadline.

    The wait starts at `interval_s` and grows by `backoff` up to `max_interval_s` (if larger); a provider's own
    `Pending.wait_s` is followed when shorter. When the deadline passes, `at_deadline` may settle for what the
    last read said; when it returns None (or is not given) the deadline's error is raised.
    """
    interval = interval_s
    while True:
        state = read()
        if not isinstance(state, Pending):
            return state
        if at_deadline is not None and deadline.passed():
            settled = at_deadline(state)
            if settled is not None:
                return settled
        wait = interval if state.wait_s is None else min(state.wait_s, interval)
        deadline.sleep(wait, f"{doing}, last status '{state.status}'" if state.status else doing)
        interval = min(interval * backoff, max(interval_s, max_interval_s))
