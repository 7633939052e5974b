"""The one retry helper (Retry-After honoured, backoff with jitter, 4xx fail at once) and the one deadline."""

from __future__ import annotations

import pytest

from resources.errors import ConfigurationError, ProviderError, RetryableError
from resources.http.deadline import Deadline, FakeClock, Pending, poll
from resources.http.retry import RetrySettings, backoff_delay, http_failure, parse_retry_after, with_retries
from resources.http.secrets import redact, require_secret


def flaky(failures: list[Exception], result: str = "ok"):
    calls: list[int] = []

    def call() -> str:
        calls.append(1)
        if failures:
            raise failures.pop(0)
        return result

    return call, calls


def test_429_waits_exactly_the_retry_after_then_succeeds() -> None:
    slept: list[float] = []
    call, calls = flaky([http_failure("d-id", 429, "slow down", {"Retry-After": "3"})])
    assert with_retries(call, what="create talk", sleep=slept.append) == "ok"
    assert slept == [3.0] and len(calls) == 2


def test_5xx_backs_off_exponentially_with_jitter() -> None:
    slept: list[float] = []
    call, _ = flaky([http_failure("x", 500, "boom"), http_failure("x", 502, "boom"), http_failure("x", 503, "b")])
    settings = RetrySettings(attempts=4, base_delay_s=1.0, max_delay_s=30.0)
    with_retries(call, what="upload", settings=settings, sleep=slept.append)
    assert 0.5 <= slept[0] <= 1.0 and 1.0 <= slept[1] <= 2.0 and 2.0 <= slept[2] <= 4.0


def test_4xx_fails_at_once_with_the_providers_message() -> None:
    call, calls = flaky([http_failure("synthesia", 400, "FEATURES_AUDIO_UPLOAD_DISABLED")])
    with pytest.raises(ProviderError, match="synthesia answered HTTP 400: FEATURES_AUDIO_UPLOAD_DISABLED"):
        with_retries(call, what="upload", sleep=lambda s: None)
    assert len(calls) == 1


def test_gives_up_after_the_configured_attempts_naming_the_call() -> None:
    call, calls = flaky([http_failure("x", 500, "down") for _ in range(5)])
    with pytest.raises(RetryableError, match="poll: gave up after 3 attempts"):
        with_retries(call, what="poll", settings=RetrySettings(attempts=3), sleep=lambda s: None)
    assert len(calls) == 3


def test_retry_after_longer_than_the_cap_is_not_slept_through() -> None:
    call, calls = flaky([http_failure("x", 429, "quota", {"retry-after": "3600"})])
    with pytest.raises(RetryableError, match="wait 3600 s"):
        with_retries(call, what="voice", sleep=lambda s: pytest.fail("must not sleep an hour"))
    assert len(calls) == 1


def test_retry_after_forms() -> None:
    assert parse_retry_after({"retry-after-ms": "150"}) == 0.15
    assert parse_retry_after({"Retry-After": "2.5"}) == 2.5
    assert parse_retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, now=1445412470.0) == 10.0
    assert parse_retry_after({}) is None and parse_retry_after({"retry-after": "soon"}) is None


def test_backoff_is_capped() -> None:
    assert backoff_delay(20, RetrySettings(max_delay_s=8)) <= 8


def test_missing_secret_names_the_variable_and_the_offline_alternative(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="OPENAI_API_KEY is not set; set it or use provider=local"):
        require_secret("OPENAI_API_KEY", stage="transcript", offline_alternative="provider=local")


def test_redact_hides_secrets() -> None:
    assert redact("bad key sk-123 given", "sk-123") == "bad key *** given"


def test_a_deadline_never_sleeps_past_its_end_then_raises_its_own_error() -> None:
    clock = FakeClock()
    deadline = Deadline(1.0, expired=lambda doing: RetryableError(f"late: {doing}"), clock=clock)
    deadline.sleep(0.75, "polling")
    deadline.sleep(0.75, "polling")
    assert clock.sleeps == [0.75, 0.25] and deadline.passed()
    with pytest.raises(RetryableError, match="late: polling"):
        deadline.sleep(0.75, "polling")


def test_poll_waits_longer_each_time_up_to_the_cap_and_follows_a_shorter_hint() -> None:
    clock = FakeClock()
    states = iter(
        [Pending("queued"), Pending("queued"), Pending("rendering", wait_s=0.1), Pending("rendering"), "done"]
    )
    deadline = Deadline(60.0, expired=RetryableError, clock=clock)
    result = poll(lambda: next(states), deadline=deadline, doing="job", interval_s=1.0, backoff=2.0, max_interval_s=3.0)
    assert result == "done" and clock.sleeps == [1.0, 2.0, 0.1, 3.0]


def test_poll_reads_once_more_at_the_deadline_then_raises_or_settles() -> None:
    clock = FakeClock()
    deadline = Deadline(2.5, expired=lambda doing: RetryableError(f"still {doing}"), clock=clock)
    with pytest.raises(RetryableError, match="still job, last status 'queued'"):
        poll(lambda: Pending("queued"), deadline=deadline, doing="job", interval_s=1.0)
    assert clock.sleeps == [1.0, 1.0, 0.5]
    deadline = Deadline(1.0, expired=RetryableError, clock=FakeClock())
    settled = poll(
        lambda: Pending("uploaded"),
        deadline=deadline,
        doing="job",
        interval_s=1.0,
        at_deadline=lambda last: last.status,
    )
    assert settled == "uploaded"  # a platform that finishes on its own
