"""Secrets come only from environment variables, read at call time, and never appear in messages."""

from __future__ import annotations

import os

from resources.errors import ConfigurationError


def require_secret(env_var: str, *, stage: str, offline_alternative: str) -> str:
    """The value of `env_var`; a ConfigurationError naming the variable and the offline alternative if unset."""
    value = os.environ.get(env_var, "").strip()
    if not value:
        raise ConfigurationError(f"{env_var} is not set; set it or use {offline_alternative} for {stage}")
    return value


def redact(text: str, *secrets: str) -> str:
    """`text` with every secret replaced, for messages built from provider answers."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text
