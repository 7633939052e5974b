"""Where run-failure alerts go: a Slack-compatible webhook whose URL is a secret, read only when sending.

Error text is written by whatever failed (a provider's answer, a file name, a feed), so before it leaves the
machine every secret the project knows of is taken out of it: the provider keys and OAuth credentials in the
environment, the tokens in the OAuth token file, the webhook URL itself, database and S3 passwords, and any
`scheme://user:pass@` credentials or `Bearer` token, whoever they belong to.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
from dagster import ConfigurableResource
from pydantic import Field

from resources.catalog import DEFAULT_UI_URL, PLATFORMS
from resources.http.secrets import redact
from resources.publish.oauth import env_name, token_file

WEBHOOK_ENV = "SHORTS_FAILURE_WEBHOOK_URL"
TIMEOUT_S = 10.0
# The secrets the project and its deployment read (deploy/.env.example), whatever their values look like.
KNOWN_SECRET_ENVS: tuple[str, ...] = (
    "OPENAI_API_KEY",
    "ELEVENLABS_API_KEY",
    "DID_API_KEY",
    "SYNTHESIA_API_KEY",
    "HEYGEN_API_KEY",
    *(env_name(platform, suffix) for platform in PLATFORMS for suffix in ("CLIENT_SECRET", "REFRESH_TOKEN")),
    *(env_name(platform, "ACCESS_TOKEN") for platform in PLATFORMS),
    WEBHOOK_ENV,
    "SHORTS_LEDGER_URL",  # a database URL with its password
    "AWS_SECRET_ACCESS_KEY",
    "DAGSTER_PG_PASSWORD",
    "MINIO_ROOT_PASSWORD",
)
# Any other variable named like a secret (a custom `api_key_env`, a proxy password, ...) counts too.
SECRET_NAME = re.compile(r"KEY|SECRET|TOKEN|PASS|CREDENTIAL|WEBHOOK", re.IGNORECASE)
# Shorter values of look-alike names are mostly not secrets ("1", "true") and would blank out common words.
MIN_GUESSED_CHARS = 6
MIN_KNOWN_CHARS = 4
REDACTED = "***"

_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^\s/?#@<>\"'`]+@")
_BEARER = re.compile(r"(?i)\b(bearer)\s+[a-z0-9._~+/-]{8,}=*")
_SECRET_PARAM = re.compile(r"(?i)\b(access_token|refresh_token|id_token|client_secret|api_key|apikey)=[^\s&\"'<>]+")
_SECRET_JSON = re.compile(r'(?i)"(access_token|refresh_token|id_token|client_secret|api_key)"(\s*:\s*)"[^"]*"')


def _url_secrets(value: str) -> Iterator[str]:
    """The password of a `scheme://user:pass@host` value (SHORTS_LEDGER_URL, a proxy URL)."""
    try:
        password = urlsplit(value).password if "://" in value else None
    except ValueError:
        return
    if password:
        yield password


def _token_file_secrets(path: Path) -> list[str]:
    """Every token-like value in the OAuth token file (`resources.publish.oauth.TokenStore`); [] if unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return []  # no file yet, or one being replaced: the alert still goes out, minus what it cannot know

    found: list[str] = []

    def walk(node: Any, name: str = "") -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                walk(value, str(key))
        elif isinstance(node, list):
            for value in node:
                walk(value, name)
        elif isinstance(node, str) and SECRET_NAME.search(name):
            found.append(node)

    walk(data)
    return found


def known_secrets(environ: Mapping[str, str] | None = None, *, token_path: Path | None = None) -> list[str]:
    """Every secret value the project knows of, longest first.

    The known secret variables, any other variable named like a secret, the passwords inside URL-valued
    variables, the webhook URL with and without its scheme, and the tokens in the OAuth token file
    (`token_path`, default the token store's own: $SHORTS_TOKEN_FILE).
    """
    env = os.environ if environ is None else environ
    secrets: set[str] = set()
    for name, raw in env.items():
        value = raw.strip()
        minimum = MIN_KNOWN_CHARS if name in KNOWN_SECRET_ENVS else MIN_GUESSED_CHARS
        if (name in KNOWN_SECRET_ENVS or SECRET_NAME.search(name)) and len(value) >= minimum:
            secrets.add(value)
        secrets.update(_url_secrets(value))
    webhook = env.get(WEBHOOK_ENV, "").strip()
    if "://" in webhook:
        secrets.add(webhook.split("://", 1)[1])  # an error may quote it without the scheme
        path = urlsplit(webhook).path
        if len(path.strip("/")) >= MIN_GUESSED_CHARS:
            secrets.add(path)  # Slack's secret part is the path
    secrets.update(_token_file_secrets(token_path or token_file()))
    return sorted((s for s in secrets if len(s) >= MIN_KNOWN_CHARS), key=len, reverse=True)


def redact_secrets(text: str, secrets: list[str]) -> str:
    """`text` with each secret (and its URL-encoded form) replaced, then URL credentials and bearer tokens."""
    # Longest first: a secret that contains a shorter one must not be left half visible.
    forms = {form for secret in secrets if secret for form in (secret, quote(secret, safe=""))}
    text = redact(text, *sorted(forms, key=len, reverse=True))
    text = _URL_CREDENTIALS.sub(rf"\1{REDACTED}@", text)
    text = _BEARER.sub(rf"\1 {REDACTED}", text)
    text = _SECRET_PARAM.sub(rf"\1={REDACTED}", text)
    return _SECRET_JSON.sub(rf'"\1"\2"{REDACTED}"', text)


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
        """`text` without any secret the project knows of (see `known_secrets`), URL credentials or bearer tokens."""
        return redact_secrets(text, known_secrets())

    def post(self, payload: dict[str, Any]) -> str | None:
        """POST `payload`; None on success, else a description of the failure that never contains the URL."""
        url = self.webhook_url()
        host = urlsplit(url).hostname or "the webhook"
        try:
            response = httpx.post(url, json=payload, timeout=self.timeout_s)
        except httpx.HTTPError as exc:
            return f"posting the failure alert to {host} failed: {type(exc).__name__}"
        if response.status_code >= 300:
            return f"posting the failure alert to {host} failed: HTTP {response.status_code} {response.text[:200]}"
        return None
