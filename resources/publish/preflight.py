"""Account preflight: each platform's read-only endpoints say, before any upload, whether a publish can work.

For one configured API publisher it checks that the token is valid and carries the scopes publishing needs
(Meta `debug_token`, Google `tokeninfo`, X `/2/users/me`, LinkedIn `userinfo` + token introspection, TikTok
`creator_info`), that the account, Page or author exists and belongs to that token, and what the platform will
actually do with a post (TikTok's privacy options, the daily quotas it reports). Nothing here writes anything.
`shorts accounts check` prints one `AccountCheck` per platform; each `<platform>_post` runs the same check first.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx
from pydantic import BaseModel, Field

from resources.errors import ConfigurationError, InputRejected, PipelineError
from resources.http.secrets import redact
from resources.publish.caption_rules import caption_problems, caption_usage
from resources.publish.captions import Caption
from resources.publish.oauth import AccessTokens, auth_command, env_name
from resources.publish.platforms.common import json_object

if TYPE_CHECKING:
    from resources.publish.publisher import Publisher

HTTP_TIMEOUT = httpx.Timeout(20.0, connect=10.0)
GOOGLE_TOKENINFO = "https://oauth2.googleapis.com/tokeninfo"
YOUTUBE_API = "https://youtube.googleapis.com"
TIKTOK_API = "https://open.tiktokapis.com"
GRAPH_API = "https://graph.facebook.com"
GRAPH_VERSION = "v27.0"
X_API = "https://api.x.com"
LINKEDIN_API = "https://api.linkedin.com"
LINKEDIN_OAUTH = "https://www.linkedin.com"
LINKEDIN_VERSION = "202605"

# videos.insert accepts any of these (discovery document, `videos.insert.scopes`).
YOUTUBE_UPLOAD_SCOPES = frozenset(
    f"https://www.googleapis.com/auth/{name}" for name in ("youtube.upload", "youtube", "youtube.force-ssl")
)
# Permissions the publishing guides list: IG content publishing and the Reels publishing guide.
META_SCOPES: dict[str, tuple[str, ...]] = {
    "instagram": ("instagram_basic", "instagram_content_publish"),
    "facebook": ("pages_show_list", "pages_read_engagement", "pages_manage_posts"),
}
# Organization roles that may post as the organization (Videos API: "ADMIN or DSC permissions").
LINKEDIN_POSTING_ROLES = frozenset({"ADMINISTRATOR", "CONTENT_ADMINISTRATOR", "DIRECT_SPONSORED_CONTENT_POSTER"})
# Never more public than asked, widest first (as the TikTok engine picks).
TIKTOK_PRIVACY: dict[str, tuple[str, ...]] = {
    "public": ("PUBLIC_TO_EVERYONE", "FOLLOWER_OF_CREATOR", "MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY"),
    "unlisted": ("MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY"),
    "private": ("SELF_ONLY",),
}


class AccountCheck(BaseModel):
    """What the preflight found for one platform."""

    platform: str
    ok: bool
    checked: list[str] = Field(default_factory=list, description="What was checked and found right.")
    will: list[str] = Field(default_factory=list, description="What the platform will do with a post.")
    problem: str = Field(default="", description="What is wrong and how to fix it (when not ok).")

    def line(self) -> str:
        """`ok   youtube    token valid …; will …` or `FAIL tiktok     <problem> (checked: …)`."""
        if self.ok:
            return f"ok   {self.platform:<10} " + "; ".join(self.checked + self.will)
        checked = f" (checked: {'; '.join(self.checked)})" if self.checked else ""
        return f"FAIL {self.platform:<10} {self.problem}{checked}"

    def markdown(self) -> str:
        """The check as a short Markdown list, for the asset's metadata in the UI."""
        head = "**ok**" if self.ok else f"**FAIL**: {self.problem}"
        return "\n".join([head, *(f"- {item}" for item in self.checked), *(f"- will: {item}" for item in self.will)])


class Misconfigured(Exception):
    """The account cannot publish as configured; the message names the fix."""


class Probe:
    """Read-only calls with the publisher's token; every answer is (status, JSON object)."""

    def __init__(self, publisher: Publisher, token: str) -> None:
        self.publisher = publisher
        self.platform = publisher.platform
        self.token = token
        self.http = httpx.Client(timeout=HTTP_TIMEOUT)

    def base(self, real: str) -> str:
        """The platform's host, or the configured `api_base_url` (every route of a test fake is there)."""
        return (self.publisher.api_base_url or real).rstrip("/")

    def call(self, method: str, url: str, *, bearer: str | None = None, **kwargs: Any) -> tuple[int, dict[str, Any]]:
        headers = dict(kwargs.pop("headers", {}))
        token = self.token if bearer is None else bearer
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            response = self.http.request(method, url, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise Misconfigured(f"cannot reach {self.platform} ({type(exc).__name__}); check the network") from None
        return response.status_code, json_object(response)

    def auth_fix(self, why: str) -> Misconfigured:
        return Misconfigured(f"{why}; run {auth_command(self.platform)}")

    def close(self) -> None:
        self.http.close()


Checker = Callable[[Probe, AccountCheck], None]


def _dict(value: Any) -> dict[str, Any]:
    """`value` when it is a JSON object, else {} (platforms answer errors in many shapes)."""
    return value if isinstance(value, dict) else {}


def check_account(publisher: Publisher) -> AccountCheck:
    """The preflight of one API publisher: ok, with what was checked and what the platform will do, or FAIL with
    the fix. Never raises for a platform's answer: a misconfiguration is a FAIL line."""
    result = AccountCheck(platform=publisher.platform, ok=False)
    checker = CHECKERS.get(publisher.platform)
    if checker is None:
        result.problem = f"no preflight for {publisher.platform}"
        return result
    try:
        token = AccessTokens(publisher.platform, token_url=publisher.token_url, account=_token_account(publisher)).get()
    except PipelineError as exc:
        result.problem = str(exc)
        return result
    probe = Probe(publisher, token)
    try:
        checker(probe, result)
    except Misconfigured as exc:
        result.problem = redact(str(exc), token)
        return result
    finally:
        probe.close()
    result.ok = True
    return result


def _token_account(publisher: Publisher) -> str:
    # Facebook's token is the configured Page's own token (AccessTokens derives it from the user's grant).
    return publisher.account_id if publisher.platform == "facebook" else ""


def before_upload(publisher: Publisher, partition_key: str, caption: Caption) -> dict[str, str]:
    """What a `<platform>_post` checks before any byte goes out: the caption by the platform's own counting
    (InputRejected naming what to shorten), then, for an API publisher whose post is not in the ledger yet, the
    account preflight (ConfigurationError naming the fix). Returns Markdown for the asset's metadata."""
    platform = publisher.platform
    where = f"{platform}[{partition_key}]"
    tags = [tag.strip().lstrip("#") for tag in caption.hashtags if tag.strip().lstrip("#")]
    template = bool(publisher.caption_template)
    problems = caption_problems(platform, title=caption.title, text=caption.text, tags=tags, template=template)
    if problems:
        fix = "edit the caption template" if template else "shorten the script's title, description or hashtags"
        raise InputRejected(f"{where}: nothing was uploaded: " + "; ".join(problems) + f" ({fix})")
    checks = {"caption_check": f"ok: {caption_usage(platform, caption.text)}"}
    if publisher.provider == "api" and publisher.ledger().get(partition_key, platform) is None:
        result = check_account(publisher)
        if not result.ok:
            raise ConfigurationError(f"{where}: account preflight failed, nothing was uploaded: {result.problem}")
        checks["preflight"] = result.markdown()
    return checks


# --- YouTube -------------------------------------------------------------------------------------------------------
def check_youtube(probe: Probe, result: AccountCheck) -> None:
    """Google tokeninfo (valid, scopes), then `channels.list mine=true` (the account has a channel)."""
    url = probe.base(GOOGLE_TOKENINFO.rsplit("/", 1)[0]) + "/tokeninfo"
    status, info = probe.call("GET", url, bearer="", params={"access_token": probe.token})
    if status != 200:
        raise probe.auth_fix(f"Google refused the token ({info.get('error_description') or info.get('error')})")
    scopes = set(str(info.get("scope", "")).split())
    if not scopes & YOUTUBE_UPLOAD_SCOPES:
        raise probe.auth_fix(f"the token lacks the youtube.upload scope (it has {', '.join(sorted(scopes)) or 'none'})")
    result.checked.append(f"token valid for {info.get('expires_in', '?')} s, scope youtube.upload")
    status, body = probe.call(
        "GET", probe.base(YOUTUBE_API) + "/youtube/v3/channels", params={"part": "id,snippet,status", "mine": "true"}
    )
    if status == 401:
        raise probe.auth_fix("YouTube refused the token")
    if status != 200:
        message = _dict(body.get("error")).get("message", "")
        raise Misconfigured(f"channels.list answered HTTP {status} {message}; the token needs youtube.readonly too")
    items = body.get("items") or []
    if not items:
        raise Misconfigured(
            "this Google account has no YouTube channel; create one on youtube.com, then run " + auth_command("youtube")
        )
    channel = items[0]
    title = (channel.get("snippet") or {}).get("title", "")
    result.checked.append(f"channel {channel.get('id')} ({title})")
    privacy = probe.publisher.privacy
    # Since 2026-11-02 unverified projects' uploads are no longer locked private (revision history); the API
    # does not report a project's audit state, so only the channel's own limits can be read here.
    long_uploads = (channel.get("status") or {}).get("longUploadsStatus", "")
    result.will.append(f"upload as {privacy}" + (f" (long uploads: {long_uploads})" if long_uploads else ""))


# --- TikTok --------------------------------------------------------------------------------------------------------
def check_tiktok(probe: Probe, result: AccountCheck) -> None:
    """`creator_info/query` (token, video.publish scope, the creator) and the privacy levels it offers."""
    status, body = probe.call(
        "POST",
        probe.base(TIKTOK_API) + "/v2/post/publish/creator_info/query/",
        headers={"Content-Type": "application/json; charset=UTF-8"},
        content=b"",
    )
    error = _dict(body.get("error"))
    code = str(error.get("code") or ("ok" if status < 400 else status))
    mode = probe.publisher.mode
    if code == "access_token_invalid":
        raise probe.auth_fix("TikTok refused the token (access_token_invalid)")
    if code == "scope_not_authorized":
        if mode == "inbox":
            result.checked.append("token valid; video.publish not granted (inbox drafts need only video.upload)")
            result.will.append("send each short to the creator's TikTok inbox as a draft")
            return
        raise probe.auth_fix("the token lacks video.publish (direct posts need it; the app must be approved for it)")
    if code != "ok":
        raise Misconfigured(f"creator_info answered {code}: {error.get('message', '')}")
    data = _dict(body.get("data"))
    options = [str(option) for option in data.get("privacy_level_options") or []]
    result.checked.append(
        f"token valid, scope video.publish, creator @{data.get('creator_username', '?')}, "
        f"privacy options {', '.join(options) or 'none'}"
    )
    if mode == "inbox":
        result.will.append("send each short to the creator's TikTok inbox; the creator posts it in the app")
        return
    privacy = probe.publisher.privacy
    level = next((level for level in TIKTOK_PRIVACY[privacy] if level in options), "")
    if not level:
        raise Misconfigured(
            f"privacy={privacy} matches none of the creator's options {options}; set SHORTS_PUBLISH_PRIVACY "
            "to one they allow, or mode=inbox"
        )
    if level != TIKTOK_PRIVACY[privacy][0]:
        why = "an unaudited app may only post SELF_ONLY" if options == ["SELF_ONLY"] else "the creator's settings"
        result.will.append(
            f"post as {level}, not {TIKTOK_PRIVACY[privacy][0]} ({why}): to post publicly have the app pass "
            "TikTok's audit and the account be public, or use mode=inbox to send drafts"
        )
    else:
        result.will.append(f"post directly as {level}")
    if data.get("max_video_post_duration_sec"):
        result.will.append(f"accept videos up to {data['max_video_post_duration_sec']} s")


# --- Instagram and Facebook ----------------------------------------------------------------------------------------
def _graph(probe: Probe, path: str, **params: str) -> tuple[int, dict[str, Any]]:
    return probe.call("GET", f"{probe.base(GRAPH_API)}/{GRAPH_VERSION}/{path}", params=params)


def _graph_message(body: dict[str, Any]) -> str:
    error = _dict(body.get("error"))
    return f"{error.get('message', 'no message')} (code {error.get('code')})"


def _debug_token(probe: Probe, result: AccountCheck) -> dict[str, Any]:
    """Meta's `debug_token` on the publishing token, read with the app token when the app's id and secret are set
    (the documented caller), else with the token itself."""
    platform = probe.platform
    app_id, secret = (
        os.environ.get(env_name(platform, "CLIENT_ID"), ""),
        os.environ.get(env_name(platform, "CLIENT_SECRET"), ""),
    )
    reader = f"{app_id}|{secret}" if app_id and secret else probe.token
    status, body = probe.call(
        "GET",
        f"{probe.base(GRAPH_API)}/{GRAPH_VERSION}/debug_token",
        bearer=reader,
        params={"input_token": probe.token},
    )
    data = _dict(body.get("data"))
    if status != 200 or not data.get("is_valid"):
        reason = _dict(data.get("error")).get("message")
        raise probe.auth_fix(f"Meta says the token is not valid ({reason or _graph_message(body)})")
    scopes = {str(scope) for scope in data.get("scopes") or []}
    missing = [scope for scope in META_SCOPES[platform] if scope not in scopes]
    if missing:
        raise probe.auth_fix(f"the token lacks {', '.join(missing)} (App Review grants them beyond app roles)")
    expires = data.get("expires_at")
    lasting = "does not expire" if not expires else f"expires at {expires} (unix)"
    result.checked.append(
        f"{str(data.get('type', '?')).lower()} token valid, {lasting}, scopes {', '.join(META_SCOPES[platform])}"
    )
    return data


def check_instagram(probe: Probe, result: AccountCheck) -> None:
    """debug_token, the IG user exists, it is the professional account linked to a Page, the publishing quota."""
    account = probe.publisher.account_id.strip()
    if not account:
        raise Misconfigured("SHORTS_INSTAGRAM_ACCOUNT_ID is not set; set it to the Instagram professional account id")
    token = _debug_token(probe, result)
    status, body = _graph(probe, account, fields="id,username")
    if status != 200:
        raise Misconfigured(
            f"Instagram account {account} is not visible to this token ({_graph_message(body)}); set "
            "SHORTS_INSTAGRAM_ACCOUNT_ID to the instagram_business_account id of the linked Page"
        )
    linked = _instagram_link(probe, token)
    if account not in linked:
        raise Misconfigured(
            f"Instagram account {account} is not linked to a Page of this login "
            f"(linked: {', '.join(linked) or 'none'}); switch it to a professional account and connect it to "
            "the Facebook Page, then run " + auth_command("instagram")
        )
    result.checked.append(f"account {account} (@{body.get('username', '?')}) linked to a Page")
    status, limit = _graph(probe, f"{account}/content_publishing_limit", fields="quota_usage,config")
    rows = limit.get("data") if status == 200 else None
    if isinstance(rows, list) and rows and isinstance(rows[0], dict):
        used, total = rows[0].get("quota_usage", 0), (rows[0].get("config") or {}).get("quota_total", "?")
        if isinstance(total, int) and used >= total:
            raise Misconfigured(f"the 24-hour publishing quota is used up ({used} of {total}); publish later")
        result.will.append(f"publish a Reel ({used} of {total} API posts used in the last 24 h)")


def _instagram_link(probe: Probe, token: dict[str, Any]) -> list[str]:
    """The IG professional account ids linked to the Pages this token reaches (a Page token: its own Page)."""
    if str(token.get("type", "")).upper() == "PAGE":
        _, page = _graph(probe, "me", fields="id,instagram_business_account")
        pages = [page]
    else:
        _, body = _graph(probe, "me/accounts", fields="id,name,instagram_business_account")
        pages = [page for page in body.get("data") or [] if isinstance(page, dict)]
    return [str((page.get("instagram_business_account") or {}).get("id")) for page in pages
            if isinstance(page.get("instagram_business_account"), dict)]  # fmt: skip


def check_facebook(probe: Probe, result: AccountCheck) -> None:
    """debug_token: a Page token of the configured Page with the Reels scopes; the Page exists."""
    page = probe.publisher.account_id.strip()
    if not page:
        raise Misconfigured("SHORTS_FACEBOOK_PAGE_ID is not set; set it to the Page to publish Reels on")
    token = _debug_token(probe, result)
    if str(token.get("type", "")).upper() != "PAGE":
        raise probe.auth_fix(
            f"video_reels needs a Page access token, this is a {token.get('type', 'unknown')} token "
            "(the Page token comes from GET /me/accounts)"
        )
    owner = str(token.get("profile_id") or "")
    if owner and owner != page:
        raise Misconfigured(
            f"the Page token belongs to Page {owner}, not SHORTS_FACEBOOK_PAGE_ID={page}; set the id or run "
            + auth_command("facebook")
        )
    status, body = _graph(probe, page, fields="id,name")
    if status != 200:
        raise Misconfigured(f"Page {page} is not visible to this token ({_graph_message(body)}); check the id")
    result.checked.append(f"Page {page} ({body.get('name', '?')})")
    result.will.append("publish a Reel on the Page (Meta allows 30 API reels per Page in 24 h)")


# --- X -------------------------------------------------------------------------------------------------------------
def check_x(probe: Probe, result: AccountCheck) -> None:
    """`GET /2/users/me`: the token is valid and reads as a user (users.read, tweet.read)."""
    status, body = probe.call("GET", probe.base(X_API) + "/2/users/me")
    if status == 401:
        raise probe.auth_fix("X refused the token")
    if status == 403:
        raise probe.auth_fix(
            f"X refused /2/users/me ({body.get('detail') or body.get('title')}): users.read and tweet.read are needed"
        )
    if status != 200:
        raise Misconfigured(f"/2/users/me answered HTTP {status}: {body.get('detail') or body.get('title')}")
    user = _dict(body.get("data"))
    result.checked.append(f"token valid, user @{user.get('username', '?')} ({user.get('id', '?')})")
    # X has no token introspection: tweet.write and media.write only show when a post is made.
    result.will.append("post as that user (X does not report a token's scopes: tweet.write, media.write unproven)")


# --- LinkedIn ------------------------------------------------------------------------------------------------------
def check_linkedin(probe: Probe, result: AccountCheck) -> None:
    """userinfo (the member), token introspection (scopes, when the app's credentials are set), and for an
    organization author the member's role on it."""
    author = probe.publisher.account_id.strip()
    if not author.startswith(("urn:li:person:", "urn:li:organization:")):
        raise Misconfigured(
            "SHORTS_LINKEDIN_AUTHOR_URN must be urn:li:person:<id> or urn:li:organization:<id>"
            + (f", not {author!r}" if author else "")
        )
    status, user = probe.call("GET", probe.base(LINKEDIN_API) + "/v2/userinfo")
    if status == 401:
        raise probe.auth_fix("LinkedIn refused the token")
    if status != 200:
        raise probe.auth_fix(f"userinfo answered HTTP {status} (the openid and profile scopes are needed)")
    member = f"urn:li:person:{user.get('sub', '')}"
    result.checked.append(f"token valid, member {member} ({user.get('name', '?')})")
    organization = author.startswith("urn:li:organization:")
    needed = "w_organization_social" if organization else "w_member_social"
    scopes = _linkedin_scopes(probe)
    if scopes is None:
        result.checked.append(f"scopes not read (set LINKEDIN_CLIENT_ID and LINKEDIN_CLIENT_SECRET to check {needed})")
    elif needed not in scopes:
        raise probe.auth_fix(f"the token lacks {needed} (it has {', '.join(sorted(scopes)) or 'none'})")
    else:
        result.checked.append(f"scope {needed}")
    if not organization:
        if author != member:
            raise Misconfigured(
                f"SHORTS_LINKEDIN_AUTHOR_URN={author} but the token is {member}'s; set it to {member} or authorize "
                f"as that member ({auth_command('linkedin')})"
            )
        result.will.append(f"post as {member}")
        return
    status, acls = probe.call(
        "GET",
        probe.base(LINKEDIN_API) + "/rest/organizationAcls",
        params={"q": "roleAssignee", "state": "APPROVED"},
        headers={"LinkedIn-Version": LINKEDIN_VERSION, "X-Restli-Protocol-Version": "2.0.0"},
    )
    if status != 200:
        raise Misconfigured(
            f"cannot read the member's roles on {author} (HTTP {status}); the organization roles need "
            "rw_organization_admin (or r_organization_admin) granted to the app"
        )
    roles = {
        str(acl.get("role"))
        for acl in acls.get("elements") or []
        if isinstance(acl, dict) and acl.get("organization") == author and acl.get("state", "APPROVED") == "APPROVED"
    }
    if not roles & LINKEDIN_POSTING_ROLES:
        raise Misconfigured(
            f"{member} has no posting role on {author} (roles: {', '.join(sorted(roles)) or 'none'}); a page "
            "Super admin must make them a Content admin (or Administrator)"
        )
    result.checked.append(f"role {', '.join(sorted(roles & LINKEDIN_POSTING_ROLES))} on {author}")
    result.will.append(f"post as {author}")


def _linkedin_scopes(probe: Probe) -> set[str] | None:
    """The token's scopes from LinkedIn's token introspection (needs the app's id and secret), else None."""
    client_id, secret = os.environ.get("LINKEDIN_CLIENT_ID", ""), os.environ.get("LINKEDIN_CLIENT_SECRET", "")
    if not client_id or not secret:
        return None
    base = probe.publisher.api_base_url.rstrip("/") or LINKEDIN_OAUTH
    status, body = probe.call(
        "POST",
        base + "/oauth/v2/introspectToken",
        bearer="",
        data={"client_id": client_id, "client_secret": secret, "token": probe.token},
    )
    if status != 200 or not body.get("active"):
        raise probe.auth_fix(f"LinkedIn says the token is not active ({body.get('status') or status})")
    return {scope.strip() for scope in str(body.get("scope", "")).split(",") if scope.strip()}


CHECKERS: dict[str, Checker] = {
    "youtube": check_youtube,
    "tiktok": check_tiktok,
    "instagram": check_instagram,
    "facebook": check_facebook,
    "x": check_x,
    "linkedin": check_linkedin,
}
