"""OAuth for publishing: chmod-600 token store, refresh with rotation, revoked grants, the one-time flow."""

from __future__ import annotations

import stat
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from resources.errors import ConfigurationError
from resources.publish.oauth import AccessTokens, TokenStore, authorization_url, authorize
from tests.providers.fakes.base import FakeServer, Headers, Recorded, Reply


class FakeTokenEndpoint(FakeServer[Recorded]):
    """A token endpoint on 127.0.0.1 that issues rotating refresh tokens, like TikTok's."""

    record_type = Recorded

    def __init__(self) -> None:
        super().__init__()
        self.revoked = False
        self.issued = 0

    @property
    def url(self) -> str:
        return f"{self.base_url}/v2/oauth/token/"

    @property
    def forms(self) -> list[dict[str, str]]:
        return [request.urlencoded for request in self.requests]

    @property
    def headers(self) -> list[Headers]:
        return [request.headers for request in self.requests]

    def answer(self, request: Recorded) -> Reply:
        """Refuse the grant once revoked, else issue the next pair of tokens."""
        if self.revoked:
            return Reply(400, {"error": "invalid_grant", "error_description": "Token has been revoked."})
        with self.lock:
            self.issued += 1
            issued = self.issued
        tokens = {"access_token": f"access-{issued}", "refresh_token": f"refresh-{issued}", "expires_in": 7200}
        return Reply(200, {**tokens, "token_type": "Bearer"})


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeTokenEndpoint]:
    monkeypatch.setenv("SHORTS_TOKEN_FILE", str(tmp_path / "secrets" / "tokens.json"))
    monkeypatch.setenv("TIKTOK_CLIENT_ID", "client-abc")
    monkeypatch.setenv("TIKTOK_CLIENT_SECRET", "client-secret-xyz")
    for name in ["TIKTOK_ACCESS_TOKEN", "TIKTOK_REFRESH_TOKEN"]:
        monkeypatch.delenv(name, raising=False)
    with FakeTokenEndpoint() as fake:
        yield fake


def test_refresh_stores_the_rotated_refresh_token_in_a_private_file(
    endpoint: FakeTokenEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIKTOK_REFRESH_TOKEN", "refresh-0")
    tokens = AccessTokens("tiktok", token_url=endpoint.url)
    assert tokens.get() == "access-1"
    form = endpoint.forms[0]
    assert form["grant_type"] == "refresh_token" and form["refresh_token"] == "refresh-0"
    assert form["client_key"] == "client-abc"  # TikTok calls the client id client_key
    stored = TokenStore().load("tiktok")
    assert stored["refresh_token"] == "refresh-1"
    assert stat.S_IMODE(TokenStore().path.stat().st_mode) == 0o600


def test_unexpired_token_is_reused_and_an_expired_one_refreshed_with_the_newest_refresh_token(
    endpoint: FakeTokenEndpoint,
) -> None:
    TokenStore().save(
        "tiktok", {"access_token": "cached", "refresh_token": "refresh-7", "expires_at": time.time() + 600}
    )
    assert AccessTokens("tiktok", token_url=endpoint.url).get() == "cached"
    assert endpoint.forms == []
    TokenStore().save("tiktok", {"access_token": "old", "refresh_token": "refresh-7", "expires_at": time.time() - 1})
    assert AccessTokens("tiktok", token_url=endpoint.url).get() == "access-1"
    assert endpoint.forms[0]["refresh_token"] == "refresh-7"


def test_revoked_grant_says_which_command_to_run(endpoint: FakeTokenEndpoint, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIKTOK_REFRESH_TOKEN", "refresh-0")
    endpoint.revoked = True
    with pytest.raises(ConfigurationError, match=r"expired or revoked; run `shorts auth tiktok`") as err:
        AccessTokens("tiktok", token_url=endpoint.url).get()
    assert "client-secret-xyz" not in str(err.value) and "refresh-0" not in str(err.value)


def test_no_token_at_all_names_the_auth_command(endpoint: FakeTokenEndpoint) -> None:
    with pytest.raises(ConfigurationError, match="auth tiktok"):
        AccessTokens("tiktok", token_url=endpoint.url).get()


def test_fixed_access_token_from_the_environment_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACEBOOK_ACCESS_TOKEN", "page-token")
    assert AccessTokens("facebook").get() == "page-token"


def test_x_token_call_uses_http_basic_client_authentication(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHORTS_TOKEN_FILE", str(tmp_path / "tokens.json"))
    monkeypatch.setenv("X_CLIENT_ID", "xid")
    monkeypatch.setenv("X_CLIENT_SECRET", "xsecret")
    monkeypatch.setenv("X_REFRESH_TOKEN", "r0")
    monkeypatch.delenv("X_ACCESS_TOKEN", raising=False)
    with FakeTokenEndpoint() as fake:
        AccessTokens("x", token_url=fake.url).get()
    assert fake.headers[0]["Authorization"].startswith("Basic ")
    assert "client_secret" not in fake.forms[0]


def test_authorization_url_carries_pkce_scopes_and_state() -> None:
    url = authorization_url("x", "cid", "http://127.0.0.1:8765/callback", "st4te", "ch4llenge")
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(url).query))
    assert query["code_challenge"] == "ch4llenge" and query["code_challenge_method"] == "S256"
    assert "offline.access" in query["scope"].split(" ") and query["state"] == "st4te"


def test_one_time_flow_catches_the_redirect_and_stores_the_tokens(
    endpoint: FakeTokenEndpoint, capsys: pytest.CaptureFixture[str]
) -> None:
    result: dict[str, Path] = {}
    worker = threading.Thread(
        target=lambda: result.setdefault("path", authorize("tiktok", port=18765, token_url=endpoint.url, timeout_s=20))
    )
    worker.start()
    for _ in range(100):  # wait for the printed URL, then play the browser's redirect
        printed = capsys.readouterr().out
        if "https://" in printed:
            break
        time.sleep(0.05)
    state = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(printed.strip().splitlines()[-1]).query))["state"]
    reply = httpx.get(f"http://127.0.0.1:18765/callback?code=the-code&state={state}")
    worker.join(20)
    assert reply.status_code == 200
    assert endpoint.forms[0]["grant_type"] == "authorization_code" and endpoint.forms[0]["code"] == "the-code"
    assert endpoint.forms[0]["code_verifier"]  # PKCE
    assert TokenStore(result["path"]).load("tiktok")["refresh_token"] == "refresh-1"
