"""OAuth for the publishing platforms: each platform's documented flow as data, a chmod-600 token store,
automatic refresh (keeping rotated refresh tokens, one process at a time), and the one-time authorization command.

Secrets live in environment variables (`<PLATFORM>_CLIENT_ID`, `_CLIENT_SECRET`, `_REFRESH_TOKEN`,
`_ACCESS_TOKEN`) or in the token file ($SHORTS_TOKEN_FILE, default ~/.config/viral-shorts/tokens.json),
never in the repository and never in messages.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import http.server
import json
import logging
import os
import secrets
import stat
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx

from resources.errors import ConfigurationError, ProviderError, RetryableError
from resources.http.retry import RetrySettings, http_failure, with_retries
from resources.http.secrets import redact

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OAuthSpec:
    """A platform's authorization-code flow, as its docs describe it."""

    authorize_url: str
    token_url: str
    scopes: tuple[str, ...]
    scope_separator: str = " "
    pkce: bool = True
    client_id_param: str = "client_id"
    basic_auth: bool = False  # X: confidential clients authenticate the token call with HTTP Basic
    extra_authorize: tuple[tuple[str, str], ...] = ()
    # How an expiring token is renewed: the OAuth `refresh_token` grant, or Meta's `fb_exchange_token` (Meta
    # issues no refresh tokens: https://developers.facebook.com/docs/facebook-login/guides/access-tokens/get-long-lived).
    renewal: Literal["refresh_token", "fb_exchange_token"] = "refresh_token"
    # RFC 7636 base64url, or TikTok's hex: "You must use hex encoding of SHA256 to generate the code challenge"
    # (Login Kit for Desktop, https://developers.tiktok.com/doc/login-kit-desktop).
    challenge_encoding: Literal["base64url", "hex"] = "base64url"


def _facebook_login(*scopes: str) -> OAuthSpec:
    """Instagram and Facebook Pages both authorize through Facebook Login (Graph API v27.0)."""
    return OAuthSpec(
        "https://www.facebook.com/v27.0/dialog/oauth",
        "https://graph.facebook.com/v27.0/oauth/access_token",
        scopes,
        scope_separator=",",
        pkce=False,
        renewal="fb_exchange_token",
    )


OAUTH: dict[str, OAuthSpec] = {
    "youtube": OAuthSpec(
        "https://accounts.google.com/o/oauth2/v2/auth",
        "https://oauth2.googleapis.com/token",
        # youtube.readonly also reads videos.list statistics; yt-analytics.readonly is the YouTube Analytics API's
        # (views, watch time, average view duration: https://developers.google.com/youtube/analytics/reference).
        (
            "https://www.googleapis.com/auth/youtube.upload",
            "https://www.googleapis.com/auth/youtube.readonly",
            "https://www.googleapis.com/auth/yt-analytics.readonly",
        ),
        extra_authorize=(("access_type", "offline"), ("prompt", "consent")),
    ),
    "tiktok": OAuthSpec(
        "https://www.tiktok.com/v2/auth/authorize/",
        "https://open.tiktokapis.com/v2/oauth/token/",
        # video.list: /v2/video/query/ reads the posts' counts (https://developers.tiktok.com/doc/tiktok-api-v2-video-query).
        ("user.info.basic", "video.publish", "video.upload", "video.list"),
        scope_separator=",",
        client_id_param="client_key",
        challenge_encoding="hex",
    ),
    "x": OAuthSpec(
        "https://x.com/i/oauth2/authorize",
        "https://api.x.com/2/oauth2/token",
        ("media.write", "tweet.write", "tweet.read", "users.read", "offline.access"),
        basic_auth=True,
    ),
    "linkedin": OAuthSpec(
        "https://www.linkedin.com/oauth/v2/authorization",
        "https://www.linkedin.com/oauth/v2/accessToken",
        ("w_member_social", "openid", "profile"),
        pkce=False,
    ),
    # Exactly what the endpoints we call list for Facebook Login for Business: content_publishing_limit needs
    # instagram_basic, instagram_content_publish, pages_read_engagement, pages_show_list, and business_management
    # when the role on the Page came through a Business Manager (https://developers.facebook.com/docs/
    # instagram-api/reference/ig-user/content_publishing_limit); media_publish needs the first two; a Reel's
    # insights need instagram_manage_insights (https://developers.facebook.com/docs/instagram-platform/reference/
    # instagram-media/insights, Requirements).
    "instagram": _facebook_login(
        "instagram_basic",
        "instagram_content_publish",
        "pages_read_engagement",
        "pages_show_list",
        "business_management",
        "instagram_manage_insights",
    ),
    # The Reels guide's "Before You Start" (https://developers.facebook.com/documentation/video-api/guides/
    # reels-publishing): a Page token from a user with CREATE_CONTENT, granted these three; read_insights for the
    # reel's numbers (https://developers.facebook.com/docs/graph-api/reference/video/video_insights, Requirements).
    "facebook": _facebook_login("pages_show_list", "pages_read_engagement", "pages_manage_posts", "read_insights"),
}
# Where `authorize` reads the account its tokens are for when none is passed (the CLI passes none).
ACCOUNT_SETTINGS = {"facebook": "SHORTS_FACEBOOK_PAGE_ID", "linkedin": "SHORTS_LINKEDIN_AUTHOR_URN"}
# Posting as an organization needs w_organization_social (and an ADMINISTRATOR or content-admin role on the Page):
# https://learn.microsoft.com/en-us/linkedin/marketing/community-management/shares/videos-api (Permissions).
LINKEDIN_ORGANIZATION_SCOPE = "w_organization_social"
# Reading a post's numbers back. A member's own posts: r_member_postAnalytics (Member Post Statistics,
# https://learn.microsoft.com/en-us/linkedin/marketing/community-management/members/post-statistics); an
# organization's: rw_organization_admin with the ADMINISTRATOR role (Organization Share Statistics,
# https://learn.microsoft.com/en-us/linkedin/marketing/community-management/organizations/share-statistics). Both come
# with the Community Management API product: an app without it must not ask for them.
LINKEDIN_MEMBER_ANALYTICS_SCOPE = "r_member_postAnalytics"
LINKEDIN_ORGANIZATION_ANALYTICS_SCOPE = "rw_organization_admin"
# A long-lived Meta user token lasts about 60 days; one used within this many seconds of its end is exchanged anew.
META_RENEW_WITHIN_S = 7 * 86400
META_LONG_LIVED_S = 60 * 86400  # when the exchange answer gives no expires_in
# Graph code 190 subcodes (https://developers.facebook.com/docs/graph-api/guides/error-handling).
META_GRANT_GONE = {
    458: "the app was removed from the account",
    459: "the account is checkpointed (log in on facebook.com)",
    460: "the account's password changed",
    463: "the token expired",
    464: "the account is unconfirmed",
    467: "the token is invalid",
    492: "the session is invalid",
}


def requested_scopes(platform: str, account: str = "") -> tuple[str, ...]:
    """The scopes `auth` asks for: the platform's; LinkedIn adds the author's posting and statistics scopes
    (w_organization_social and rw_organization_admin for an organization, r_member_postAnalytics for a member)."""
    scopes = OAUTH[platform].scopes
    if platform != "linkedin":
        return scopes
    if account.startswith("urn:li:organization:"):
        return (*scopes, LINKEDIN_ORGANIZATION_SCOPE, LINKEDIN_ORGANIZATION_ANALYTICS_SCOPE)
    return (*scopes, LINKEDIN_MEMBER_ANALYTICS_SCOPE)


def auth_command(platform: str) -> str:
    """The operator's command that authorizes `platform` once (what every refused-token error tells)."""
    return f"`shorts auth {platform}`"


def env_name(platform: str, suffix: str) -> str:
    """`YOUTUBE_CLIENT_ID` and friends."""
    return f"{platform.upper()}_{suffix}"


def token_file() -> Path:
    return Path(os.environ.get("SHORTS_TOKEN_FILE", "~/.config/viral-shorts/tokens.json")).expanduser()


class TokenStore:
    """Tokens per platform in one JSON file readable by its owner only (chmod 600, its folder 700).

    Six post steps refresh at once and X and TikTok accept each refresh token only once, so a lost write stops
    publishing until someone re-authorizes. Hence every change is a read-modify-write under an flock on a sibling
    lock file, written to a unique temp file in the same folder, fsynced and renamed over the old file: readers see
    the old file or the new one, and no writer's change overwrites another's. `locked(platform)` holds that
    platform's own lock across a whole refresh. The lock files stay (empty) next to the token file: deleting one
    while another process waits on it would let two holders in.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or token_file()
        self._held = threading.local()  # lock path -> depth, per thread: `locked` is re-entrant

    def load(self, platform: str) -> dict[str, Any]:
        """The platform's stored tokens ({} when none). No lock needed: the file is only ever replaced whole."""
        return dict(self._read().get(platform, {}))

    def save(self, platform: str, tokens: dict[str, Any]) -> None:
        """Store the platform's tokens, keeping every other platform's as the file has them now."""
        with self.locked(platform), self._flock(self._lock_path()):
            data = self._read()
            data[platform] = tokens
            self._write(data)

    @contextmanager
    def locked(self, platform: str) -> Iterator[None]:
        """Hold `platform`'s lock (across processes and threads) for a read-refresh-write; re-entrant."""
        with self._flock(self._lock_path(platform)):
            yield

    def _lock_path(self, platform: str | None = None) -> Path:
        """The lock of one platform's refresh, or (None) of the file itself: `.tokens.json[.tiktok].lock`."""
        return self.path.with_name(f".{self.path.name}{f'.{platform}' if platform else ''}.lock")

    @contextmanager
    def _flock(self, lock_path: Path) -> Iterator[None]:
        if not hasattr(self._held, "depth"):
            self._held.depth = {}
        held: dict[Path, int] = self._held.depth
        if held.get(lock_path):  # this thread holds it already: flock on a second descriptor would deadlock
            held[lock_path] += 1
            try:
                yield
            finally:
                held[lock_path] -= 1
            return
        self._make_folder()
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, stat.S_IRUSR | stat.S_IWUSR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # released when the descriptor closes, also if the process dies
            held[lock_path] = 1
            try:
                yield
            finally:
                held[lock_path] = 0
        finally:
            os.close(fd)

    def _make_folder(self) -> None:
        """Create the token folder, and any missing parent, private to the owner (700)."""
        missing = [folder for folder in (self.path.parent, *self.path.parent.parents) if not folder.exists()]
        for folder in reversed(missing):
            folder.mkdir(mode=0o700, exist_ok=True)
            os.chmod(folder, 0o700)  # mkdir's mode is filtered by the umask

    def _read(self) -> dict[str, Any]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        try:
            return dict(json.loads(text or "{}"))
        except ValueError as exc:
            raise ConfigurationError(
                f"token file {self.path} is not valid JSON ({exc}); restore it or delete it and run "
                f"{auth_command('<platform>')} for each platform"
            ) from None

    def _write(self, data: dict[str, Any]) -> None:
        """Replace the file atomically: a unique temp file in the same folder, fsynced, then renamed over it."""
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                os.fchmod(handle.fileno(), stat.S_IRUSR | stat.S_IWUSR)
                json.dump(data, handle, indent=2)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        folder = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)  # the rename itself survives a crash
        finally:
            os.close(folder)


def _fresh(tokens: dict[str, Any]) -> bool:
    """Whether stored tokens hold an access token good for at least another minute.

    `expires_at: null` is a token that does not expire: a Meta Page token derived from a long-lived user token.
    """
    if not tokens.get("access_token"):
        return False
    expires_at = tokens.get("expires_at", 0)
    return expires_at is None or float(expires_at) > time.time() + 60


def _meta_renewal_due(tokens: dict[str, Any]) -> bool:
    """Whether the long-lived Meta user token behind `tokens` ends within META_RENEW_WITHIN_S (or is unknown)."""
    user_expires = tokens.get("user_expires_at", tokens.get("expires_at", 0))
    return user_expires is not None and float(user_expires) < time.time() + META_RENEW_WITHIN_S


class AccessTokens:
    """A valid access token for a platform, refreshed when needed; the newest refresh token is kept."""

    def __init__(
        self,
        platform: str,
        *,
        token_url: str = "",
        store: TokenStore | None = None,
        retry: RetrySettings | None = None,
        sleep: Callable[[float], None] = time.sleep,
        account: str = "",
    ) -> None:
        self.platform = platform
        self.spec = OAUTH[platform]
        self.token_url = token_url or self.spec.token_url
        self.store = store or TokenStore()
        self.retry = retry
        self.sleep = sleep
        self.account = account  # Facebook: the Page whose token is wanted
        self._issued = ""  # the token `get` last returned

    def _hint(self) -> str:
        return f"run {auth_command(self.platform)} (or set {env_name(self.platform, 'ACCESS_TOKEN')})"

    def get(self, *, force_refresh: bool = False) -> str:
        """An access token: a fixed one from the environment, a stored unexpired one, or a fresh one.

        `force_refresh` (the platform refused the last token) still takes a token that another process stored
        meanwhile: that one is new, and refreshing again would spend the refresh token it came with.
        """
        fixed = os.environ.get(env_name(self.platform, "ACCESS_TOKEN"), "").strip()
        if fixed:
            return fixed
        if self.spec.renewal == "fb_exchange_token":
            return self._issue(self._meta_token(force_refresh))
        seen = self.store.load(self.platform)
        if not force_refresh and _fresh(seen):
            return self._issue(str(seen["access_token"]))
        refused = (self._issued or str(seen.get("access_token", ""))) if force_refresh else None
        with self.store.locked(self.platform):
            # Re-read under the lock: whoever held it before may have refreshed and stored a rotated token.
            stored = self.store.load(self.platform)
            if _fresh(stored) and stored["access_token"] != refused:
                return self._issue(str(stored["access_token"]))
            refresh = str(stored.get("refresh_token") or os.environ.get(env_name(self.platform, "REFRESH_TOKEN"), ""))
            if not refresh:
                raise ConfigurationError(f"{self.platform}: no OAuth token; {self._hint()}")
            return self._issue(self._refresh(refresh, stored))

    def _issue(self, token: str) -> str:
        self._issued = token
        return token

    def _meta_token(self, force_refresh: bool) -> str:
        """Meta has no refresh grant: the stored token while it is good, else one renewed from the stored
        long-lived user token (exchanged anew, then a new Page token for Facebook); Meta refusing that is a gone
        grant, which names the `auth` command."""
        seen = self.store.load(self.platform)
        if not force_refresh and self._meta_usable(seen):
            return str(seen["access_token"])
        refused = (self._issued or str(seen.get("access_token", ""))) if force_refresh else None
        with self.store.locked(self.platform):
            stored = self.store.load(self.platform)  # another process may have renewed meanwhile
            if self._meta_usable(stored) and stored["access_token"] != refused:
                return str(stored["access_token"])
            renewed = self._meta_renew(stored, refused=refused is not None)
            self.store.save(self.platform, renewed)
            return str(renewed["access_token"])

    def _page_id(self, stored: dict[str, Any]) -> str:
        return self.account or str(stored.get("page_id") or os.environ.get(ACCOUNT_SETTINGS["facebook"], ""))

    def _meta_usable(self, tokens: dict[str, Any]) -> bool:
        """Good to send as is: unexpired, not due for a re-exchange, and (Facebook) the configured Page's token."""
        if not _fresh(tokens):
            return False
        if self.platform == "facebook":
            page_ok = tokens.get("token_kind") == "page" and tokens.get("page_id") == self._page_id(tokens)
            return page_ok and not _meta_renewal_due(tokens)
        return not _meta_renewal_due(tokens)

    def _meta_renew(self, stored: dict[str, Any], *, refused: bool) -> dict[str, Any]:
        user = str(stored.get("user_token") or "")
        if not user and stored.get("token_kind") != "page":
            user = str(stored.get("access_token") or "")  # stored by an older `auth`: a (short-lived) user token
        if not user:
            raise ConfigurationError(f"{self.platform}: no OAuth token; {self._hint()}")
        client_id, client_secret = self._client_credentials()
        call = {"platform": self.platform, "retry": self.retry, "sleep": self.sleep}
        try:
            renewed = {**stored, **meta_user_tokens(self.token_url, user, client_id, client_secret, **call)}
        except MetaGrantGone:
            page_kept = stored.get("token_kind") == "page" and stored.get("page_id") == self._page_id(stored)
            if self.platform != "facebook" or refused or not page_kept:
                raise
            # The Page token does not expire with its user token: keep publishing, stop trying to renew.
            log.warning("facebook: the long-lived user token could not be renewed; the Page token still works")
            return {**stored, "user_expires_at": None}
        if self.platform == "facebook":
            page = self._page_id(stored)
            if refused or stored.get("page_id") != page or stored.get("token_kind") != "page":
                renewed |= meta_page_tokens(_graph_base(self.token_url), str(renewed["user_token"]), page, **call)
            else:
                renewed |= {key: stored[key] for key in ("token_kind", "access_token", "expires_at")}
        return renewed

    def _client_credentials(self) -> tuple[str, str]:
        client_id = os.environ.get(env_name(self.platform, "CLIENT_ID"), "").strip()
        secret = os.environ.get(env_name(self.platform, "CLIENT_SECRET"), "").strip()
        if not client_id:
            raise ConfigurationError(
                f"{self.platform}: {env_name(self.platform, 'CLIENT_ID')} is not set; set it (and "
                f"{env_name(self.platform, 'CLIENT_SECRET')}) or use provider=outbox"
            )
        return client_id, secret

    def _refresh(self, refresh_token: str, stored: dict[str, Any]) -> str:
        client_id, client_secret = self._client_credentials()
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token, self.spec.client_id_param: client_id}
        tokens = exchange(
            self.spec,
            self.token_url,
            form,
            client_id,
            client_secret,
            platform=self.platform,
            retry=self.retry,
            sleep=self.sleep,
        )
        if "access_token" not in tokens:
            raise ConfigurationError(f"{self.platform}: the refresh answer has no access token; {self._hint()}")
        # Platforms that rotate (TikTok) invalidate the old refresh token: keep the newest one.
        stored = {
            **stored,
            "access_token": tokens["access_token"],
            "refresh_token": tokens.get("refresh_token") or refresh_token,
            "expires_at": time.time() + float(tokens.get("expires_in", 3600)),
        }
        self.store.save(self.platform, stored)
        return str(tokens["access_token"])


def exchange(
    spec: OAuthSpec,
    token_url: str,
    form: dict[str, str],
    client_id: str,
    client_secret: str,
    *,
    platform: str,
    retry: RetrySettings | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """POST a form to the token endpoint; a revoked/expired grant is a ConfigurationError saying what to run."""
    auth = (client_id, client_secret) if spec.basic_auth else None
    if not spec.basic_auth and client_secret:
        form = {**form, "client_secret": client_secret}

    def call() -> dict[str, Any]:
        try:
            response = httpx.post(token_url, data=form, auth=auth, timeout=30)
        except httpx.HTTPError as exc:
            raise RetryableError(f"{platform} token endpoint unreachable: {type(exc).__name__}") from None
        if response.status_code in (400, 401) and "invalid_grant" in response.text:
            raise ConfigurationError(
                f"{platform}: the refresh token is expired or revoked; run {auth_command(platform)}"
            )
        if response.status_code >= 400:
            raise http_failure(
                f"{platform} token endpoint",
                response.status_code,
                redact(response.text[:300], client_secret, *form.values()),
                response.headers,
            )
        return dict(response.json())

    return with_retries(call, what=f"{platform} token refresh", settings=retry, sleep=sleep)


class MetaGrantGone(ConfigurationError):
    """Meta refused the user token itself (code 190): only `shorts auth <platform>` gets a new one."""


def _graph_base(token_url: str) -> str:
    """`https://graph.facebook.com/v27.0` from the Graph token endpoint `…/v27.0/oauth/access_token`."""
    return token_url.rstrip("/").removesuffix("/oauth/access_token")


def _meta_get(
    url: str,
    params: dict[str, str],
    *,
    platform: str,
    doing: str,
    bearer: str = "",
    retry: RetrySettings | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """One Graph GET; code 190 is MetaGrantGone naming the `auth` command, other errors as `http_failure`."""
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    hidden = (bearer, params.get("client_secret", ""), params.get("fb_exchange_token", ""))

    def call() -> dict[str, Any]:
        try:
            response = httpx.get(url, params=params, headers=headers, timeout=30)
        except httpx.HTTPError as exc:
            raise RetryableError(f"{platform}: Graph API unreachable while {doing}: {type(exc).__name__}") from None
        try:
            body = response.json()
        except ValueError:
            body = {}
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict) and error.get("code") == 190:
            subcode = error.get("error_subcode")
            why = META_GRANT_GONE.get(subcode, "the token was refused") if isinstance(subcode, int) else ""
            raise MetaGrantGone(
                f"{platform}: Meta refused the user token while {doing} (code 190"
                f"{f', subcode {subcode}: {why}' if subcode else ''}); Meta has no refresh tokens, so the grant "
                f"is gone: run {auth_command(platform)}"
            )
        if response.status_code >= 400 or not isinstance(body, dict):
            message = redact(response.text[:300], *hidden)
            raise http_failure(f"{platform}: {doing}", response.status_code, message, response.headers)
        return body

    return with_retries(call, what=f"{platform}: {doing}", settings=retry, sleep=sleep)


def meta_user_tokens(
    token_url: str, user_token: str, client_id: str, client_secret: str, **call: Any
) -> dict[str, Any]:
    """A long-lived (~60-day) user token for `user_token`, as stored fields.

    `GET oauth/access_token?grant_type=fb_exchange_token` (https://developers.facebook.com/docs/facebook-login/
    guides/access-tokens/get-long-lived); a long-lived token is exchanged again the same way before it ends.
    """
    params = {
        "grant_type": "fb_exchange_token",
        "client_id": client_id,
        "client_secret": client_secret,
        "fb_exchange_token": user_token,
    }
    answer = _meta_get(token_url, params, doing="exchanging for a long-lived user token", **call)
    if not answer.get("access_token"):
        raise ProviderError(f"{call.get('platform', 'meta')}: Meta's token exchange answered no access_token")
    expires = time.time() + float(answer.get("expires_in") or META_LONG_LIVED_S)
    token = str(answer["access_token"])
    fields = {"token_kind": "user_long", "user_token": token, "user_expires_at": expires}
    return {**fields, "access_token": token, "expires_at": expires, "refresh_token": ""}


def meta_page_tokens(graph_base: str, user_token: str, page_id: str, **call: Any) -> dict[str, Any]:
    """The Page access token of `page_id`, as stored fields: `GET /{page-id}?fields=access_token` with the user token.

    The Reels endpoints need a Page token (Reels guide, "Before You Start"); one derived from a long-lived user
    token does not expire, so `expires_at` is null.
    """
    platform = str(call.get("platform", "facebook"))
    if not page_id:
        raise ConfigurationError(
            f"{platform}: {ACCOUNT_SETTINGS['facebook']} is not set; set it to the Page id, then run "
            f"{auth_command(platform)}"
        )
    answer = _meta_get(
        f"{graph_base}/{page_id}", {"fields": "access_token"}, bearer=user_token, doing="reading the Page token", **call
    )
    if not answer.get("access_token"):
        raise ConfigurationError(
            f"{platform}: Meta gave no Page token for Page {page_id}: the account that authorized must be able to "
            f"perform CREATE_CONTENT on that Page and grant pages_show_list, pages_read_engagement and "
            f"pages_manage_posts; check {ACCOUNT_SETTINGS['facebook']} and run {auth_command(platform)} as a Page admin"
        )
    return {"token_kind": "page", "access_token": str(answer["access_token"]), "expires_at": None, "page_id": page_id}


def pkce_pair(encoding: Literal["base64url", "hex"] = "base64url") -> tuple[str, str]:
    """(verifier, S256 challenge) for PKCE: RFC 7636 base64url, or the hex digest TikTok's Login Kit asks for."""
    verifier = secrets.token_urlsafe(64)[:96]  # 96 unreserved characters: within the 43–128 both specs allow
    digest = hashlib.sha256(verifier.encode())
    if encoding == "hex":
        return verifier, digest.hexdigest()
    return verifier, base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()


def authorization_url(
    platform: str, client_id: str, redirect_uri: str, state: str, challenge: str | None, *, account: str = ""
) -> str:
    spec = OAUTH[platform]
    params = {
        spec.client_id_param: client_id,
        "response_type": "code",
        "redirect_uri": redirect_uri,
        "scope": spec.scope_separator.join(requested_scopes(platform, account)),
        "state": state,
        **dict(spec.extra_authorize),
    }
    if challenge:
        params |= {"code_challenge": challenge, "code_challenge_method": "S256"}
    return f"{spec.authorize_url}?{urllib.parse.urlencode(params)}"


def authorize(
    platform: str,
    *,
    port: int = 8765,
    token_url: str = "",
    store: TokenStore | None = None,
    timeout_s: float = 300,
    account: str | None = None,
) -> Path:
    """Run the authorization-code flow once: print the URL, catch the redirect on 127.0.0.1, store the tokens.

    `account` (default: the setting in ACCOUNT_SETTINGS) is the Facebook Page whose token is derived, or the
    LinkedIn author (an organization adds w_organization_social). Meta's short-lived user token is exchanged for a
    long-lived one at once. The loopback redirect is what TikTok allows for Desktop apps only ("Only localhost or
    loopback IP 127.0.0.1 are allowed", https://developers.tiktok.com/doc/login-kit-desktop; Web apps need https).
    """
    spec = OAUTH[platform]
    if account is None:
        account = os.environ.get(ACCOUNT_SETTINGS.get(platform, ""), "").strip()
    client_id, client_secret = AccessTokens(platform)._client_credentials()
    redirect_uri = f"http://127.0.0.1:{port}/callback"
    state = secrets.token_urlsafe(24)
    verifier, challenge = pkce_pair(spec.challenge_encoding) if spec.pkce else ("", None)
    received: dict[str, str] = {}

    class Callback(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            query = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(self.path).query))
            received.update(query)
            ok = query.get("state") == state and "code" in query
            self.send_response(200 if ok else 400)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.end_headers()
            self.wfile.write(b"Authorized: you can close this tab." if ok else b"Authorization failed.")

        def log_message(self, format: str, *args: Any) -> None:  # keep codes out of the console
            return

    server = http.server.HTTPServer(("127.0.0.1", port), Callback)
    thread = threading.Thread(target=server.handle_request, daemon=True)
    thread.start()
    url = authorization_url(platform, client_id, redirect_uri, state, challenge, account=account)
    print(f"Open this URL, sign in and allow access:\n{url}")
    thread.join(timeout_s)
    server.server_close()
    if received.get("state") != state or "code" not in received:
        raise ConfigurationError(f"{platform}: authorization was not completed ({received.get('error', 'no code')})")
    form = {
        "grant_type": "authorization_code",
        "code": received["code"],
        "redirect_uri": redirect_uri,
        spec.client_id_param: client_id,
    }
    if verifier:
        form["code_verifier"] = verifier
    token_url = token_url or spec.token_url
    tokens = exchange(spec, token_url, form, client_id, client_secret, platform=platform)
    store = store or TokenStore()
    if spec.renewal == "fb_exchange_token":
        # The code gives a short-lived user token (hours): exchange it now, derive the Page token from the result.
        short_lived = str(tokens.get("access_token", ""))
        record = meta_user_tokens(token_url, short_lived, client_id, client_secret, platform=platform)
        if platform == "facebook":
            record |= meta_page_tokens(_graph_base(token_url), str(record["user_token"]), account, platform=platform)
    else:
        record = {
            "access_token": tokens.get("access_token", ""),
            "refresh_token": tokens.get("refresh_token", ""),
            "expires_at": time.time() + float(tokens.get("expires_in", 3600)),
        }
    if platform == "linkedin":
        record["scope"] = str(tokens.get("scope") or " ".join(requested_scopes(platform, account)))
    store.save(platform, record)
    return store.path
