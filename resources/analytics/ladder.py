"""When a post's numbers are read again: often while they move, rarely once they settle, never after 90 days.

The age ladder (age = time since the post was published; interval = least time between two readings):

    age < 24 h      every hour       (a short's first day decides most of its reach)
    age < 7 days    every 6 hours
    age < 30 days   every day
    age < 90 days   every week
    age ≥ 90 days   never again      (the last reading stays as the final figure)

A post never read is due at once. A failed reading (rate limit, revoked token) counts as a reading: the next
try waits for the next rung, so a platform that refuses is not hammered.
"""

from __future__ import annotations

from datetime import datetime, timedelta

HOUR = timedelta(hours=1)
LADDER: tuple[tuple[timedelta, timedelta], ...] = (
    (timedelta(days=1), HOUR),
    (timedelta(days=7), 6 * HOUR),
    (timedelta(days=30), 24 * HOUR),
    (timedelta(days=90), 7 * 24 * HOUR),
)
STOP_AFTER = LADDER[-1][0]


def refresh_interval(age: timedelta) -> timedelta | None:
    """The least time between two readings of a post this old; None once it is no longer read."""
    for up_to, interval in LADDER:
        if age < up_to:
            return interval
    return None


def is_due(posted_at: datetime, last_attempt_at: datetime | None, now: datetime) -> bool:
    """Whether a post published at `posted_at`, last read at `last_attempt_at`, should be read at `now`."""
    if last_attempt_at is None:
        # Never read: due, unless it was already past the ladder's end; one final reading is still worth it.
        return True
    last_age = last_attempt_at - posted_at
    if last_age >= STOP_AFTER:
        return False
    interval = refresh_interval(now - posted_at)
    # Past 90 days one last reading closes the series if the previous one was taken before the end.
    return now - last_attempt_at >= (interval or timedelta(0))
