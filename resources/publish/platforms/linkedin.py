"""LinkedIn video posts: Videos API multipart upload (one PUT per instructed byte range), then the Posts API.

The checkpoint holds the video URN with its upload instructions, each uploaded part's ETag (a resume sends only
the missing parts), whether the upload was finalized, and the post URN the moment LinkedIn returns it.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from resources.errors import ConfigurationError, MetricsUnavailable, ProviderError
from resources.http.deadline import Pending
from resources.publish.oauth import (
    LINKEDIN_MEMBER_ANALYTICS_SCOPE,
    LINKEDIN_ORGANIZATION_ANALYTICS_SCOPE,
    LINKEDIN_ORGANIZATION_SCOPE,
    auth_command,
)
from resources.publish.platforms import client as base
from resources.publish.platforms import common
from resources.publish.publisher import PostRequest, PublishSettings
from resources.records import Post

LINKEDIN_VERSION = "202605"  # the Videos API docs are at li-lms-2026-05; versions sunset ~1 year after release
API_HOST = "https://api.linkedin.com"
RESERVED = frozenset("|{}@[]()<>#\\*_~")  # "little text" reserved characters
_HASHTAG = re.compile(r"#([^\W_]+)")
_AUTHOR = re.compile(r"^urn:li:(person|organization):[^\s:]+$")
_POST = re.compile(r"^urn:li:(share|ugcPost):[^\s:]+$")
# Member Post Statistics, single post (`q=entity`, aggregation TOTAL): one call per query type
# (https://learn.microsoft.com/en-us/linkedin/marketing/community-management/members/post-statistics).
MEMBER_QUERY_TYPES = {
    "IMPRESSION": "impressions",
    "MEMBERS_REACHED": "reach",
    "RESHARE": "shares",
    "REACTION": "likes",
    "COMMENT": "comments",
}
# Organization Share Statistics, `totalShareStatistics` (organic only, the past 12 months:
# https://learn.microsoft.com/en-us/linkedin/marketing/community-management/organizations/share-statistics).
SHARE_STATISTICS = {
    "impressionCount": "impressions",
    "uniqueImpressionsCount": "reach",
    "shareCount": "shares",
    "likeCount": "likes",
    "commentCount": "comments",
}

log = logging.getLogger(__name__)


def _escape(text: str) -> str:
    return "".join(f"\\{char}" if char in RESERVED else char for char in text)


def little_text(text: str) -> str:
    """`text` as LinkedIn "little text": reserved characters escaped, `#tag` as a hashtag template."""
    parts: list[str] = []
    position = 0
    for match in _HASHTAG.finditer(text):
        parts.append(_escape(text[position : match.start()]))
        parts.append(f"{{hashtag|\\#|{match.group(1)}}}")
        position = match.end()
    parts.append(_escape(text[position:]))
    return "".join(parts)


def post_url(post_urn: str) -> str:
    """The public page of a post: LinkedIn's feed-update URL pattern."""
    return f"https://www.linkedin.com/feed/update/{post_urn}/"


class LinkedInClient(base.PlatformClient):
    """Versioned Rest.li calls, and part uploads to the URLs LinkedIn hands out."""

    def __init__(self, settings: PublishSettings, where: str) -> None:
        super().__init__(settings, where)
        self.api = (settings.api_base_url or API_HOST).rstrip("/")

    def rest(
        self,
        method: str,
        path: str,
        *,
        doing: str,
        json: Any = None,
        params: dict[str, str] | None = None,
        resend_safe: bool = True,
        check: Callable[[httpx.Response, str], None] | None = None,
    ) -> httpx.Response:
        """One `/rest` call with the version headers LinkedIn requires."""
        headers = {"LinkedIn-Version": LINKEDIN_VERSION, "X-Restli-Protocol-Version": "2.0.0"}
        return self.request(
            method,
            f"{self.api}/rest/{path}",
            doing=doing,
            headers=headers,
            json=json,
            params=params,
            resend_safe=resend_safe,
            check=check,
        )

    def metrics_check(self, response: httpx.Response, doing: str) -> None:
        """A refused statistics read as a MetricsUnavailable (401 stays the refused token, refreshed once).

        Statuses as the error-handling guide lists them (https://learn.microsoft.com/en-us/linkedin/shared/
        api-guide/concepts/error-handling): 403 a permission the token lacks, 404 no such resource, 429 throttled.
        """
        status = response.status_code
        if response.is_success:
            return
        if status == 401:
            raise base.TokenRejected()
        body = common.json_object(response)
        message = self.redact(str(body.get("message") or body) if body else response.text[:300])
        if status == 403:
            raise MetricsUnavailable(
                "missing_scope",
                f"{self.where}: LinkedIn denied {doing} ({message}): a member author needs "
                f"{LINKEDIN_MEMBER_ANALYTICS_SCOPE}, an organization author {LINKEDIN_ORGANIZATION_ANALYTICS_SCOPE} "
                f"and the ADMINISTRATOR role on that Page; run {auth_command('linkedin')}",
            )
        if status == 404:
            raise MetricsUnavailable("deleted", f"{self.where}: LinkedIn has no such post any more ({message})")
        if status == 429:
            raise MetricsUnavailable("rate_limited", f"{self.where}: LinkedIn throttled {doing} ({message})")
        raise self.failure(response, doing)

    def put_part(self, url: str, data: bytes, *, doing: str) -> str:
        """PUT one part to its own upload URL; returns the part's ETag."""
        host = urlsplit(url).hostname or ""
        # The token goes only to LinkedIn's hosts (or the configured API host), never to a foreign URL.
        ours = host == urlsplit(self.api).hostname or host == "linkedin.com" or host.endswith(".linkedin.com")
        headers = {"Content-Type": "application/octet-stream"}
        response = self.request("PUT", url, doing=doing, auth="Bearer" if ours else None, headers=headers, content=data)
        etag = response.headers.get("etag", "")
        if not etag:
            raise ProviderError(f"{self.where}: LinkedIn answered {doing} without an ETag")
        return etag

    def failure(self, response: httpx.Response, doing: str) -> Exception:
        if response.status_code == 401:
            return base.TokenRejected()
        body = common.json_object(response)
        message = str(body.get("message") or body) if body else response.text[:300]
        if response.status_code == 403 and body.get("code") == "ACCESS_DENIED":
            # The token lacks the permission (error-handling guide, 403): re-authorizing is the fix, not a retry.
            return ConfigurationError(
                f"{self.where}: LinkedIn denied {doing} ({self.redact(message)}): an organization author "
                f"(urn:li:organization:…) needs {LINKEDIN_ORGANIZATION_SCOPE} and an ADMINISTRATOR or content-admin "
                f"role on that Page, a member author w_member_social; get the role, then run {auth_command('linkedin')}"
            )
        return self.http_failure(response.status_code, message, doing, response.headers)


@dataclass(frozen=True)
class LinkedInEngine(base.ApiEngine):
    """Initialize → PUT parts → finalize → wait for AVAILABLE → create the post."""

    _: KW_ONLY
    author: str  # an author URN: urn:li:person:<id> or urn:li:organization:<id>
    name = "linkedin"

    def publish(self, request: PostRequest) -> Post:
        author = common.require_account(self.author, "SHORTS_LINKEDIN_AUTHOR_URN", request.where)
        if not _AUTHOR.match(author):
            raise ConfigurationError(
                f"{request.where}: SHORTS_LINKEDIN_AUTHOR_URN must be an author URN like urn:li:person:<id> or "
                f"urn:li:organization:<id>, not {author!r}"
            )
        size = common.validate_media(request)
        with LinkedInClient(self.settings, request.where) as client:
            if self.settings.dry_run:
                return common.dry_run_post(request)
            posted = self.checkpoint.get("post")
            if not posted:
                video = self._upload(client, author, request.video_path, size)
                self._wait_until_available(client, video)
                self._create_post(client, author, video, request)  # saves the post id in the checkpoint
                posted = self.checkpoint.get("post")
        return common.published_post(request, str(posted["id"]), post_url(str(posted["id"])), str(posted["at"]))

    def metrics(self, post: Post) -> dict[str, float]:
        """The post's lifetime numbers: Member Post Statistics for a member author, Organization Share Statistics
        for an organization author (which reads only organic activity of the past 12 months)."""
        where = f"{post.platform}[{post.partition_key}]"
        author = self.author.strip()
        if not _AUTHOR.match(author) or not _POST.match(post.remote_id):
            raise MetricsUnavailable(
                "failed",
                f"{where}: reading numbers needs SHORTS_LINKEDIN_AUTHOR_URN (urn:li:person:… or "
                f"urn:li:organization:…) and a post URN (urn:li:share:… or urn:li:ugcPost:…); have {author!r} and "
                f"{post.remote_id!r}",
            )
        try:
            with LinkedInClient(self.settings, where) as client:
                if author.startswith("urn:li:organization:"):
                    return self._organization_metrics(client, author, post.remote_id)
                return self._member_metrics(client, post.remote_id)
        except ConfigurationError as exc:  # refused even after a refresh, or the refresh token is gone
            raise MetricsUnavailable("revoked", str(exc)) from exc

    def _member_metrics(self, client: LinkedInClient, post: str) -> dict[str, float]:
        # Rest.li 2.0 union `(share:<urn>)` / `(ugcPost:<urn>)`, the URN encoded inside it; built by hand because a
        # params dict would encode the parentheses and the union's colon as well.
        entity = f"({post.split(':')[2]}:{quote(post, safe='')})"
        numbers: dict[str, float] = {}
        for query_type, name in MEMBER_QUERY_TYPES.items():
            path = f"memberCreatorPostAnalytics?q=entity&entity={entity}&queryType={query_type}&aggregation=TOTAL"
            doing = f"reading the post's {query_type} count"
            answer = common.json_object(client.rest("GET", path, doing=doing, check=client.metrics_check))
            elements = [e for e in answer.get("elements") or [] if isinstance(e, dict)]
            counts: list[float] = [e["count"] for e in elements if isinstance(e.get("count"), (int, float))]
            if counts:  # no element: LinkedIn has no figure for it (not a zero)
                numbers[name] = float(sum(counts))
        return numbers

    def _organization_metrics(self, client: LinkedInClient, author: str, post: str) -> dict[str, float]:
        kind = "shares" if post.split(":")[2] == "share" else "ugcPosts"
        path = (
            f"organizationalEntityShareStatistics?q=organizationalEntity&organizationalEntity={quote(author, safe='')}"
            f"&{kind}=List({quote(post, safe='')})"
        )
        doing = "reading the organization's share statistics"
        answer = common.json_object(client.rest("GET", path, doing=doing, check=client.metrics_check))
        elements = [e for e in answer.get("elements") or [] if isinstance(e, dict)]
        if not elements:
            raise MetricsUnavailable(
                "failed",
                f"{client.where}: LinkedIn returned no statistics for {post} (it counts the past 12 months only, "
                "and nothing for a post deleted or not made by this organization)",
            )
        totals = elements[0].get("totalShareStatistics") or {}
        return {
            name: float(totals[field])
            for field, name in SHARE_STATISTICS.items()
            if isinstance(totals.get(field), (int, float))
        }

    def _upload(self, client: LinkedInClient, author: str, path: Path, size: int) -> str:
        """The video URN once every part is uploaded and the upload finalized."""
        video: dict[str, Any] | None = self.checkpoint.get("video")
        expires_ms = float((video or {}).get("expires_at_ms") or 0)
        if video and not self.checkpoint.get("finalized") and expires_ms and expires_ms < time.time() * 1000:
            video = None  # the part URLs have expired: start a new upload
        if not video:
            video = self._initialize(client, author, size)
        urn = str(video["urn"])
        if self.checkpoint.get("finalized"):
            return urn
        instructions: list[dict[str, Any]] = video["instructions"]
        etags: list[str | None] = list(self.checkpoint.get("etags") or [None] * len(instructions))
        if any(etags):
            log.info(
                "%s: resuming %s; %d of %d parts already uploaded", client.where, urn, sum(map(bool, etags)), len(etags)
            )

        def put(chunk: base.Chunk, data: bytes) -> None:
            url = str(instructions[chunk.index]["uploadUrl"])
            etags[chunk.index] = client.put_part(url, data, doing=f"uploading part {chunk.index + 1}")
            self.checkpoint.set("etags", etags)

        parts = [
            base.Chunk(index, int(part["firstByte"]), int(part["lastByte"]))
            for index, part in enumerate(instructions)
            if not etags[index]
        ]
        base.send_chunks(path, parts, put)
        client.rest(
            "POST",
            "videos",
            params={"action": "finalizeUpload"},
            json={
                "finalizeUploadRequest": {
                    "video": urn,
                    "uploadToken": video.get("upload_token", ""),
                    "uploadedPartIds": etags,
                }
            },
            doing="finalizing the upload",
        )
        self.checkpoint.set("finalized", True)
        return urn

    def _initialize(self, client: LinkedInClient, author: str, size: int) -> dict[str, Any]:
        body = {
            "initializeUploadRequest": {
                "owner": author,
                "fileSizeBytes": size,
                "uploadCaptions": False,
                "uploadThumbnail": False,
            }
        }
        response = client.rest(
            "POST", "videos", params={"action": "initializeUpload"}, json=body, doing="initializing the upload"
        )
        value = response.json().get("value") or {}
        instructions = sorted(value.get("uploadInstructions") or [], key=lambda part: int(part["firstByte"]))
        if not value.get("video") or not instructions:
            raise ProviderError(f"{client.where}: LinkedIn's initializeUpload answer has no video or instructions")
        covered = sum(int(part["lastByte"]) - int(part["firstByte"]) + 1 for part in instructions)
        if covered != size:
            raise ProviderError(f"{client.where}: LinkedIn's upload instructions cover {covered} of {size} bytes")
        video = {
            "urn": str(value["video"]),
            "upload_token": str(value.get("uploadToken") or ""),
            "expires_at_ms": value.get("uploadUrlsExpireAt"),
            "instructions": instructions,
        }
        self.checkpoint.set("video", video)
        self.checkpoint.set("etags", [None] * len(instructions))
        self.checkpoint.set("finalized", False)
        return video

    def _wait_until_available(self, client: LinkedInClient, urn: str) -> None:
        def read() -> bool | Pending:
            answer = client.rest("GET", f"videos/{quote(urn, safe='')}", doing="reading the video status").json()
            status = answer.get("status")
            if status == "PROCESSING_FAILED":
                self.checkpoint.clear()  # this video can never be posted: upload afresh next time
                raise ProviderError(
                    f"{client.where}: LinkedIn could not process the video: "
                    f"{answer.get('processingFailureReason', 'no reason given')}"
                )
            return True if status == "AVAILABLE" else Pending(str(status or ""))

        client.poll(read, doing="processing the video")

    def _create_post(self, client: LinkedInClient, author: str, video: str, request: PostRequest) -> str:
        body = {
            "author": author,
            "commentary": little_text(request.caption.text),
            "visibility": "PUBLIC",
            "distribution": {
                "feedDistribution": "MAIN_FEED",
                "targetEntities": [],
                "thirdPartyDistributionChannels": [],
            },
            "content": {"media": {"title": request.caption.title, "id": video}},
            "lifecycleState": "PUBLISHED",
            "isReshareDisabledByAuthor": False,
        }
        headers = {"LinkedIn-Version": LINKEDIN_VERSION, "X-Restli-Protocol-Version": "2.0.0"}

        def send() -> str:
            # A lost answer is not retried: a second POST would be a second post.
            url = f"{client.api}/rest/posts"
            response = client.create("POST", url, doing="creating the post", headers=headers, json=body)
            post_id = response.headers.get("x-restli-id", "")
            if not post_id:
                raise base.OutcomeUnknown(
                    f"{client.where}: LinkedIn created the post but returned no x-restli-id header"
                )
            return post_id

        def lookup() -> str | None:
            # Find Posts by Authors, GET /rest/posts?q=author&author=… (Posts API, "Find Posts by Authors":
            # https://learn.microsoft.com/en-us/linkedin/marketing/community-management/shares/posts-api); it needs
            # r_member_social / r_organization_social, without which the lookup fails and the post is unconfirmed.
            params = {"q": "author", "author": author, "count": "20", "sortBy": "CREATED"}
            answer = client.rest("GET", "posts", params=params, doing="finding the author's recent posts").json()
            for element in answer.get("elements") or []:
                if ((element.get("content") or {}).get("media") or {}).get("id") == video:
                    return str(element.get("id") or "") or None
            return None

        call = base.CreateCall("POST /rest/posts", f"the LinkedIn author {author}", f"with the video {video}")
        return client.create_once(
            self.checkpoint, call, send=send, lookup=lookup, save=lambda post_id: self._save_post(post_id)
        )

    def _save_post(self, post_id: str) -> None:
        self.checkpoint.set("post", {"id": post_id, "at": datetime.now(UTC).isoformat()})
