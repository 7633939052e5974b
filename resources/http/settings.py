"""The settings every provider client shares: where it calls, how long it waits, how it retries, what clock it reads."""

from __future__ import annotations

from dataclasses import dataclass, field

from resources.http.deadline import SYSTEM_CLOCK, Clock
from resources.http.retry import RetrySettings


@dataclass(frozen=True, kw_only=True)
class ClientSettings:
    """Resolved from a resource once; a provider family's settings add what only it needs."""

    api_base_url: str  # a publisher's may be empty: the platform's own host
    upload_base_url: str
    poll_interval_s: float  # the first wait between two status reads
    timeout_s: float  # the deadline of one job (avatar) or one wait for processing (publishing)
    retry: RetrySettings = field(default_factory=RetrySettings)
    clock: Clock = field(default=SYSTEM_CLOCK, repr=False, compare=False)  # tests pass a FakeClock
