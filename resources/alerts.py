"""Where run-failure alerts go: a Slack-compatible webhook whose URL is a secret, read only when sending."""

from __future__ import annotations

import os
import re
from typing import Any
from urllib.parse import urlparse

import httpx
from dagster import ConfigurableResource
from pydantic import Field

from resources.catalog import DEFAULT_UI_URL
from resources.http.secrets import redact

WEBHOOK_ENV = "SHORTS_FAILURE_WEBHOOK_URL"
TIMEOUT_S = 10.0
# Environment variables whose values must never leave the machine in an alert (API keys, tokens, ...).
SECRET_NAME = re.compile(r"KEY|SECRET|TOKEN|PASSWORD|CREDENTIAL|WEBHOOK", re.IGNORECASE)


class FailureAlerts(ConfigurableResource):
    """Posts alerts to $SHORTS_FAILURE_WEBHOOK_URL; does nothing while it is unset.

    The URL is a credential (Slack's are), so it is never a config field the UI would show: it is read from the
    environment when an alert is sent, and messages only name its host.
    """

    ui_base_url: str = Field(default=DEFAULT_UI_URL, description="The Dagster UI the alerts link to.")
    timeout_s: float = TIMEOUT_S

    def webhook_url(self) -> str:
        return os.environ.get(WEBHOOK_ENV, "").strip()

    def run_url(self, run_id: str) -> str:
        return f"{self.ui_base_url.rstrip('/')}/runs/{run_id}"

    def redact(self, text: str) -> str:
        """`text` without the value of any secret-looking environment variable (errors can quote them)."""
        secrets = [value for name, value in os.environ.items() if SECRET_NAME.search(name) and len(value) >= 6]
        return redact(text, *secrets)

    def post(self, payload: dict[str, Any]) -> str | None:
        """POST `payload`; None on success, else a description of the failure that never contains the URL."""
        url = self.webhook_url()
        host = urlparse(url).hostname or "the webhook"
        try:
            response = httpx.post(url, json=payload, timeout=self.timeout_s)
        except httpx.HTTPError as exc:
            return f"posting the failure alert to {host} failed: {type(exc).__name__}"
        if response.status_code >= 300:
            return f"posting the failure alert to {host} failed: HTTP {response.status_code} {response.text[:200]}"
        return None
