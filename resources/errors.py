"""Failure kinds. Retry policy is data: assets retry `RetryableError` and stop at once on the others."""

from __future__ import annotations


class PipelineError(Exception):
    """Base class: a failure with a message that says what to do."""


class InputRejected(PipelineError):
    """The input itself is unusable (bad URL, corrupt media, too long, no speech). Retrying cannot help."""


class ConfigurationError(PipelineError):
    """Missing credentials or an impossible setting. Fix the configuration, then re-execute."""


class ProviderError(PipelineError):
    """A provider refused the request permanently (4xx other than 429)."""


class RetryableError(PipelineError):
    """A transient failure (timeout, 5xx, 429). Dagster's RetryPolicy retries the step."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class MetricsUnavailable(PipelineError):
    """A platform could not give a post's numbers; `status` says why (see resources.analytics.records).

    Recorded on that platform's metrics; never fails the other platforms or loses the series.
    """

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status
