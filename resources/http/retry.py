"""The one retry helper for every provider call (SDK or raw HTTP).

429 honours Retry-After; 5xx, timeouts and connection errors retry with exponential backoff and jitter;
other 4xx fail at once with the provider's message. SDK clients run with their own retries off, so every
provider behaves the same way (the ElevenLabs SDK ignores `retry-after-ms`; the OpenAI SDK gives up on a
Retry-After over 120 s).
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from resources.errors import ProviderError, RetryableError

T = TypeVar("T")

RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetrySettings:
    """How hard to try: attempts in all, backoff base and cap, and the longest Retry-After worth waiting."""

    attempts: int = 4
    base_delay_s: float = 1.0
    max_delay_s: float = 30.0
    max_retry_after_s: float = 120.0


def parse_retry_after(headers: Mapping[str, str] | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from `retry-after-ms`, `Retry-After` (seconds or HTTP date); None when absent/invalid."""
    if not headers:
        return None
    lowered = {key.lower(): value for key, value in headers.items()}
    if "retry-after-ms" in lowered:
        try:
            return max(0.0, float(lowered["retry-after-ms"]) / 1000)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, parsed.timestamp() - (time.time() if now is None else now))


def backoff_delay(attempt: int, settings: RetrySettings, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter for retry number `attempt` (1-based)."""
    ceiling = min(settings.max_delay_s, settings.base_delay_s * 2 ** (attempt - 1))
    return (rng or random).uniform(ceiling / 2, ceiling)


def http_failure(provider: str, status: int, message: str, headers: Mapping[str, str] | None = None) -> Exception:
    """The pipeline error for an HTTP answer: RetryableError for 408/409/429/5xx, ProviderError otherwise."""
    text = f"{provider} answered HTTP {status}: {message}".strip()
    if status in RETRYABLE_STATUSES or status >= 500:
        return RetryableError(text, retry_after_s=parse_retry_after(headers))
    return ProviderError(text)


def with_retries(
    call: Callable[[], T],
    *,
    what: str,
    settings: RetrySettings | None = None,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[int, float, Exception], None] | None = None,
) -> T:
    """Run `call`; retry RetryableError as described above. `call` raises pipeline errors (see http_failure)."""
    settings = settings or RetrySettings()
    attempt = 0
    while True:
        attempt += 1
        try:
            return call()
        except RetryableError as exc:
            if attempt >= settings.attempts:
                raise RetryableError(f"{what}: gave up after {attempt} attempts: {exc}", exc.retry_after_s) from exc
            if exc.retry_after_s is not None and exc.retry_after_s > settings.max_retry_after_s:
                raise RetryableError(
                    f"{what}: provider asks to wait {exc.retry_after_s:.0f} s; re-execute later: {exc}",
                    exc.retry_after_s,
                ) from exc
            delay = exc.retry_after_s if exc.retry_after_s is not None else backoff_delay(attempt, settings)
            if on_retry is not None:
                on_retry(attempt, delay, exc)
            sleep(delay)
