"""What `shorts auth` and the token store do for Meta, LinkedIn and TikTok, against fakes as strict as the platforms.

Meta: no refresh grant; a short-lived user token is exchanged for a long-lived one, the Page token is derived from
it, and only a Page token reaches the Reels endpoints. LinkedIn: an organization author needs
w_organization_social. TikTok: a Desktop app's loopback redirect and a hex SHA-256 PKCE challenge.
"""

from __future__ import annotations

import hashlib
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from resources.errors import ConfigurationError
from resources.publish import Publisher
from resources.publish.captions import Caption
from resources.publish.oauth import AccessTokens, TokenStore, authorization_url, authorize
from resources.publish.platforms import linkedin
from tests.providers import publishing
from tests.providers.fakes.linkedin_server import FakeLinkedIn
from tests.providers.fakes.meta_server import FakeMeta
from tests.providers.fakes.tiktok_server import FakeTikTok

CAPTION = Caption(title="Herb cubes", text="Freeze herbs in oil #kitchen", hashtags=["kitchen"])
DAY = 86400.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _authorize(capsys: pytest.CaptureFixture[str], platform: str, **kwargs: Any) -> dict[str, str]:
    """Run `authorize` and play the browser: the consent URL's query (the redirect carries code=the-code)."""
    port = _free_port()
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["path"] = authorize(platform, port=port, timeout_s=20, **kwargs)
        except Exception as exc:  # handed to the test below
            outcome["error"] = exc

    worker = threading.Thread(target=run)
    worker.start()
    printed = ""
    for _ in range(200):
        printed += capsys.readouterr().out
        if "https://" in printed:
            break
        time.sleep(0.05)
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(printed.strip().splitlines()[-1]).query))
    httpx.get(f"http://127.0.0.1:{port}/callback?code=the-code&state={query['state']}")
    worker.join(20)
    if "error" in outcome:
        raise outcome["error"]
    return query


# --- Meta ------------------------------------------------------------------------------------------------------


@pytest.fixture
def meta(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeMeta]:
    monkeypatch.setenv("SHORTS_TOKEN_FILE", str(tmp_path / "tokens.json"))
    with FakeMeta() as server:
        for platform in ("instagram", "facebook"):
            monkeypatch.setenv(f"{platform.upper()}_CLIENT_ID", server.app_id)
            monkeypatch.setenv(f"{platform.upper()}_CLIENT_SECRET", server.app_secret)
            monkeypatch.delenv(f"{platform.upper()}_ACCESS_TOKEN", raising=False)
        monkeypatch.delenv("SHORTS_FACEBOOK_PAGE_ID", raising=False)
        yield server


def _token_url(fake: FakeMeta) -> str:
    return f"{fake.base_url}/v27.0/oauth/access_token"


def _publisher(tmp_path: Path, fake: FakeMeta, platform: str, **fields: object) -> Publisher:
    account = fake.page if platform == "facebook" else fake.ig_user
    hosts = {"api_base_url": fake.base_url, "upload_base_url": fake.base_url, "token_url": _token_url(fake)}
    return publishing.api_publisher(platform, tmp_path, account_id=account, **hosts, **fields)


def _publish(tmp_path: Path, fake: FakeMeta, platform: str, video: Path) -> Publisher:
    publisher = _publisher(tmp_path, fake, platform)
    publisher.publish(publishing.post_request(platform, video, CAPTION, "file-abc"))
    return publisher


def _kind(fake: FakeMeta, token: str) -> str:
    return fake.tokens[token].kind


def test_auth_facebook_stores_a_long_lived_user_token_and_the_pages_own_token(
    meta: FakeMeta, capsys: pytest.CaptureFixture[str]
) -> None:
    query = _authorize(capsys, "facebook", token_url=_token_url(meta), account=meta.page)

    # The Reels guide's three permissions, and read_insights for the reels' numbers; nothing more.
    assert query["scope"] == "pages_show_list,pages_read_engagement,pages_manage_posts,read_insights"
    code, exchange = meta.token_requests()
    assert code.params["code"] == "the-code"
    assert exchange.method == "GET" and exchange.params["grant_type"] == "fb_exchange_token"
    assert _kind(meta, exchange.params["fb_exchange_token"]) == "user_short"  # the code's token, exchanged at once
    stored = TokenStore().load("facebook")
    assert _kind(meta, stored["user_token"]) == "user_long" and stored["user_expires_at"] > time.time() + 50 * DAY
    assert _kind(meta, stored["access_token"]) == "page" and stored["page_id"] == meta.page
    assert stored["expires_at"] is None  # a Page token from a long-lived user token does not expire
    assert meta.tokens[stored["access_token"]].expires_at is None


def test_auth_facebook_without_a_page_id_says_which_setting_to_set(
    meta: FakeMeta, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ConfigurationError, match="SHORTS_FACEBOOK_PAGE_ID is not set"):
        _authorize(capsys, "facebook", token_url=_token_url(meta))


def test_auth_instagram_asks_exactly_the_documented_permissions(
    meta: FakeMeta, capsys: pytest.CaptureFixture[str]
) -> None:
    query = _authorize(capsys, "instagram", token_url=_token_url(meta))

    scopes = query["scope"].split(",")
    assert scopes == [
        "instagram_basic", "instagram_content_publish", "pages_read_engagement", "pages_show_list",
        "business_management", "instagram_manage_insights",
    ]  # fmt: skip
    assert _kind(meta, TokenStore().load("instagram")["access_token"]) == "user_long"


def test_the_reels_endpoints_refuse_a_user_token_with_metas_error(meta: FakeMeta, video: Path) -> None:
    answer = httpx.post(
        f"{meta.base_url}/v27.0/{meta.page}/video_reels",
        data={"upload_phase": "start"},
        headers={"Authorization": f"Bearer {meta.token}"},
    )
    assert answer.status_code == 400
    assert answer.json()["error"] | {"fbtrace_id": ""} == {
        "message": "(#190) This method must be called with a Page Access Token",
        "type": "OAuthException",
        "code": 190,
        "fbtrace_id": "",
    }


def test_a_fixed_user_token_for_facebook_fails_naming_the_auth_command(
    meta: FakeMeta, video: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACEBOOK_ACCESS_TOKEN", meta.token)  # a user token where a Page token belongs
    with pytest.raises(ConfigurationError, match="shorts auth facebook"):
        _publish(tmp_path, meta, "facebook", video)
    assert meta.published == 0


def test_facebook_derives_the_page_token_from_the_stored_user_token_and_sends_only_it(
    meta: FakeMeta, video: Path, tmp_path: Path
) -> None:
    # What an earlier `auth` left: a long-lived user token, no Page token.
    user = {"token_kind": "user_long", "user_token": meta.token, "user_expires_at": time.time() + 50 * DAY}
    TokenStore().save("facebook", {**user, "access_token": meta.token, "expires_at": time.time() + 50 * DAY})

    _publish(tmp_path, meta, "facebook", video)

    assert meta.published == 1
    (derive,) = [r for r in meta.routes("page") if r.params.get("fields") == "access_token"]
    stored = TokenStore().load("facebook")
    assert derive.bearer == stored["user_token"] and _kind(meta, derive.bearer) == "user_long"
    page_token = stored["access_token"]
    assert _kind(meta, page_token) == "page"
    reels = meta.routes("start") + meta.routes("finish")
    assert reels and all(r.bearer == page_token for r in reels)
    assert all(r.headers["authorization"] == f"OAuth {page_token}" for r in meta.routes("upload"))


def test_a_refused_page_token_is_derived_again_from_the_user_token(meta: FakeMeta, video: Path, tmp_path: Path) -> None:
    user = {"token_kind": "user_long", "user_token": meta.token, "user_expires_at": time.time() + 50 * DAY}
    page = {"token_kind": "page", "access_token": "revoked-page-token", "expires_at": None, "page_id": meta.page}
    TokenStore().save("facebook", user | page)

    _publish(tmp_path, meta, "facebook", video)

    assert meta.published == 1 and TokenStore().load("facebook")["access_token"] != "revoked-page-token"
    assert [r.params["grant_type"] for r in meta.token_requests()] == ["fb_exchange_token"]


def test_an_expired_short_lived_token_is_exchanged_not_refreshed(meta: FakeMeta, video: Path, tmp_path: Path) -> None:
    short = meta.issue("user_short", 3600)
    # What the old `auth` stored: the code's short-lived token, no refresh token, past our own expiry estimate.
    TokenStore().save("instagram", {"access_token": short, "refresh_token": "", "expires_at": time.time() - 10})

    _publish(tmp_path, meta, "instagram", video)

    assert meta.published == 1
    grants = [r.params.get("grant_type") for r in meta.token_requests()]
    assert grants == ["fb_exchange_token"] and "refresh_token" not in grants
    assert all("refresh_token" not in r.params for r in meta.requests)
    stored = TokenStore().load("instagram")
    assert _kind(meta, stored["access_token"]) == "user_long" and stored["user_token"] == stored["access_token"]


def test_the_meta_fake_refuses_a_refresh_token_grant_as_meta_does(meta: FakeMeta) -> None:
    secret = {"client_secret": meta.app_secret}
    answer = httpx.post(
        _token_url(meta),
        data={"grant_type": "refresh_token", "refresh_token": "r"} | {"client_id": meta.app_id} | secret,
    )
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["type"] == "OAuthException" and error["code"] == 100 and "refresh_token" in error["message"]


def test_a_long_lived_token_used_near_its_end_is_exchanged_again_once(meta: FakeMeta) -> None:
    ending = time.time() + 2 * DAY  # within META_RENEW_WITHIN_S
    record = {"token_kind": "user_long", "user_token": meta.token, "user_expires_at": ending}
    TokenStore().save("instagram", {**record, "access_token": meta.token, "expires_at": ending})
    tokens = AccessTokens("instagram", token_url=_token_url(meta))

    renewed = tokens.get()

    assert renewed != meta.token and _kind(meta, renewed) == "user_long"
    assert TokenStore().load("instagram")["user_expires_at"] > time.time() + 50 * DAY
    assert AccessTokens("instagram", token_url=_token_url(meta)).get() == renewed
    assert len(meta.token_requests()) == 1


@pytest.mark.parametrize(("state", "subcode"), [("revoked", "458"), ("expired", "463")])
def test_a_gone_meta_grant_says_which_auth_command_to_run(meta: FakeMeta, state: str, subcode: str) -> None:
    short = meta.issue("user_short", 3600)
    if state == "revoked":
        meta.tokens[short].revoked = True
    else:
        meta.tokens[short].expires_at = time.time() - 1
    TokenStore().save("instagram", {"access_token": short, "refresh_token": "", "expires_at": time.time() - 10})

    with pytest.raises(ConfigurationError, match=rf"subcode {subcode}.*run `shorts auth instagram`") as raised:
        AccessTokens("instagram", token_url=_token_url(meta)).get()
    assert short not in str(raised.value) and meta.app_secret not in str(raised.value)


def test_a_page_token_keeps_working_when_its_user_token_can_no_longer_be_renewed(meta: FakeMeta) -> None:
    meta.tokens[meta.token].revoked = True
    ending = time.time() + DAY
    user = {"token_kind": "user_long", "user_token": meta.token, "user_expires_at": ending}
    page = {"token_kind": "page", "access_token": meta.page_token, "expires_at": None, "page_id": meta.page}
    TokenStore().save("facebook", user | page)

    assert AccessTokens("facebook", token_url=_token_url(meta), account=meta.page).get() == meta.page_token
    assert TokenStore().load("facebook")["user_expires_at"] is None  # not tried again at every publish


# --- LinkedIn ---------------------------------------------------------------------------------------------------

ORG = "urn:li:organization:2414183"


def test_auth_linkedin_asks_w_organization_social_only_for_an_organization_author() -> None:
    def scopes(account: str) -> list[str]:
        url = authorization_url("linkedin", "cid", "http://127.0.0.1:8765/callback", "s", None, account=account)
        return dict(urllib.parse.parse_qsl(urllib.parse.urlparse(url).query))["scope"].split(" ")

    assert "w_organization_social" in scopes(ORG)
    assert "w_organization_social" not in scopes("urn:li:person:abc") and "w_member_social" in scopes(ORG)
    # The statistics scope of each author type: the organization's share statistics, the member's own posts'.
    assert "rw_organization_admin" in scopes(ORG) and "r_member_postAnalytics" not in scopes(ORG)
    assert "r_member_postAnalytics" in scopes("urn:li:person:abc")
    assert "rw_organization_admin" not in scopes("urn:li:person:abc")


@pytest.fixture
def linkedin_fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeLinkedIn]:
    publishing.use_token(monkeypatch, tmp_path, "linkedin", "li-test-token")
    with FakeLinkedIn(token="li-test-token", version=linkedin.LINKEDIN_VERSION, part_size=256 * 1024) as server:
        yield server


def _linkedin_publish(tmp_path: Path, fake: FakeLinkedIn, video: Path) -> None:
    publisher = publishing.api_publisher("linkedin", tmp_path, api_base_url=fake.base_url, account_id=ORG)
    publisher.publish(publishing.post_request("linkedin", video, CAPTION, "file-abc"))


def test_a_member_only_token_is_refused_for_an_organization_author(
    linkedin_fake: FakeLinkedIn, video: Path, tmp_path: Path
) -> None:
    linkedin_fake.org_roles[ORG] = "ADMINISTRATOR"  # the role alone is not enough: the scope is missing
    with pytest.raises(ConfigurationError, match=r"w_organization_social.*shorts auth linkedin") as raised:
        _linkedin_publish(tmp_path, linkedin_fake, video)

    assert "Not enough permissions to access: videos.ACTION" in str(raised.value)  # LinkedIn's 403 message
    assert len(linkedin_fake.routes("initialize")) == 1 and not linkedin_fake.videos and not linkedin_fake.posts


def test_the_linkedin_fake_answers_the_documented_403_body(linkedin_fake: FakeLinkedIn) -> None:
    body = {"initializeUploadRequest": {"owner": ORG, "fileSizeBytes": 10, "uploadCaptions": False,
                                        "uploadThumbnail": False}}  # fmt: skip
    headers = {"Authorization": "Bearer li-test-token", "LinkedIn-Version": linkedin.LINKEDIN_VERSION,
               "X-Restli-Protocol-Version": "2.0.0"}  # fmt: skip
    answer = httpx.post(f"{linkedin_fake.base_url}/rest/videos?action=initializeUpload", json=body, headers=headers)
    assert answer.status_code == 403
    assert answer.json() == {
        "status": 403,
        "serviceErrorCode": 100,
        "code": "ACCESS_DENIED",
        "message": f"Not enough permissions to access: videos.ACTION.{linkedin.LINKEDIN_VERSION}01",
    }


def test_an_organization_author_posts_with_the_scope_and_an_admin_role(
    linkedin_fake: FakeLinkedIn, video: Path, tmp_path: Path
) -> None:
    linkedin_fake.token_scopes.append("w_organization_social")
    with pytest.raises(ConfigurationError, match="ADMINISTRATOR"):  # the scope alone: no role on the Page
        _linkedin_publish(tmp_path, linkedin_fake, video)

    linkedin_fake.org_roles[ORG] = "ADMINISTRATOR"
    _linkedin_publish(tmp_path, linkedin_fake, video)
    (post,) = linkedin_fake.posts.values()
    assert post["author"] == ORG


# --- TikTok -----------------------------------------------------------------------------------------------------


def test_auth_tiktok_uses_the_desktop_loopback_redirect_and_a_hex_sha256_challenge(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SHORTS_TOKEN_FILE", str(tmp_path / "tokens.json"))
    with FakeTikTok() as fake:
        monkeypatch.setenv("TIKTOK_CLIENT_ID", fake.client_key)
        monkeypatch.setenv("TIKTOK_CLIENT_SECRET", fake.client_secret)
        query = _authorize(capsys, "tiktok", token_url=f"{fake.base_url}/v2/oauth/token/")
        (exchange,) = fake.calls("token")

    form = exchange.urlencoded
    assert query["redirect_uri"].startswith("http://127.0.0.1:") and form["redirect_uri"] == query["redirect_uri"]
    assert query["code_challenge_method"] == "S256"
    # "You must use hex encoding of SHA256 to generate the code challenge" (Login Kit for Desktop).
    assert query["code_challenge"] == hashlib.sha256(form["code_verifier"].encode()).hexdigest()
    assert 43 <= len(form["code_verifier"]) <= 128
