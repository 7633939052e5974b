"""The OpenAI client shared by the transcribe and rewrite engines, and its errors mapped to pipeline errors.

The SDK runs with `max_retries=0`: `with_retries` is the one retry policy, so OpenAI behaves like every other
provider (the SDK alone would give up on a Retry-After over 120 s and would retry quota errors).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import openai

from resources.errors import ProviderError, RetryableError
from resources.http.retry import http_failure
from resources.http.secrets import redact, require_secret

T = TypeVar("T")

QUOTA_MESSAGE = "OpenAI quota exhausted (insufficient_quota): add credit or use provider=local"


def openai_client(*, api_key_env: str, base_url: str, timeout_s: float, stage: str) -> tuple[openai.OpenAI, str]:
    """A client with SDK retries off, and its key (for redaction); ConfigurationError when the key is unset."""
    api_key = require_secret(api_key_env, stage=stage, offline_alternative="provider=local")
    client = openai.OpenAI(api_key=api_key, base_url=base_url or None, timeout=timeout_s, max_retries=0)
    return client, api_key


def call_openai(call: Callable[[], T], *, what: str, api_key: str) -> T:
    """Run one SDK call, turning SDK exceptions into RetryableError / ProviderError with redacted messages.

    ProviderError messages start with `what`; RetryableError ones do not, since `with_retries` adds it.
    """
    try:
        return call()
    except openai.APITimeoutError as exc:  # before APIConnectionError: it is a subclass
        raise RetryableError("OpenAI did not answer in time; if it keeps happening, raise timeout_s") from exc
    except openai.APIConnectionError as exc:
        cause = redact(str(exc.__cause__ or exc), api_key)
        raise RetryableError(f"could not reach the OpenAI endpoint: {cause}") from exc
    except openai.APIStatusError as exc:
        if exc.status_code == 429 and exc.code == "insufficient_quota":
            # Retrying cannot help until someone adds credit (the SDK itself would retry it).
            raise ProviderError(f"{what}: {QUOTA_MESSAGE}") from None
        failure = http_failure("openai", exc.status_code, redact(error_message(exc), api_key), exc.response.headers)
        # `from None`: the SDK exception holds the raw answer, which a careless server may use to echo the key,
        # and Dagster prints the whole exception chain in the UI.
        if isinstance(failure, ProviderError):
            raise ProviderError(f"{what}: {failure}") from None
        raise failure from None


def error_message(exc: openai.APIStatusError) -> str:
    """The provider's own message from the `{"error": {"message": ...}}` envelope, else the SDK's text."""
    body = exc.body
    if isinstance(body, dict) and isinstance(body.get("message"), str) and body["message"]:
        return str(body["message"])
    if isinstance(body, str) and body.strip():
        return body.strip()[:500]
    return exc.message
