"""LinkedIn video posts: Videos API multipart upload (one PUT per instructed byte range), then the Posts API.

The checkpoint holds the video URN with its upload instructions, each uploaded part's ETag (a resume sends only
the missing parts), whether the upload was finalized, and the post URN the moment LinkedIn returns it.
"""

from __future__ import annotations

import logging
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from resources.errors import ConfigurationError, ProviderError, RetryableError
from resources.http.retry import RetrySettings, http_failure, with_retries
from resources.http.secrets import redact
from resources.publish.ledger import UploadCheckpoint
from resources.publish.platforms.common import dry_run_post, published_post, require_account, validate_media, wait_for
from resources.publish.publisher import PostRequest, Publisher
from resources.records import Post

LINKEDIN_VERSION = "202605"  # the Videos API docs are at li-lms-2026-05; versions sunset ~1 year after release
API_HOST = "https://api.linkedin.com"
RETRY = RetrySettings()  # tests shorten the backoff here (the Publisher has no retry setting)
RESERVED = frozenset("|{}@[]()<>#\\*_~")  # "little text" reserved characters
_HASHTAG = re.compile(r"#([^\W_]+)")
_AUTHOR = re.compile(r"^urn:li:(person|organization):[^\s:]+$")
_TIMEOUT = httpx.Timeout(120.0, connect=10.0)

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


class LinkedInClient:
    """Versioned Rest.li calls and part uploads for one publish, every one through `with_retries`."""

    def __init__(self, publisher: Publisher, where: str) -> None:
        self.where = where
        self._tokens = publisher.tokens()
        self._token = self._tokens.get()
        self._refreshed = False
        self.api = (publisher.api_base_url or API_HOST).rstrip("/")
        self._http = httpx.Client(timeout=_TIMEOUT)

    def __enter__(self) -> LinkedInClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    def _headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self._token}",
            "LinkedIn-Version": LINKEDIN_VERSION,
            "X-Restli-Protocol-Version": "2.0.0",
        }

    def rest(
        self,
        method: str,
        path: str,
        *,
        doing: str,
        json: Any = None,
        params: dict[str, str] | None = None,
        retry_unsent_only: bool = False,
    ) -> httpx.Response:
        """One `/rest` call. `retry_unsent_only`: a lost answer is not retried (the call may have taken effect)."""

        def once() -> httpx.Response:
            try:
                return self._checked(
                    self._http.request(
                        method, f"{self.api}/rest/{path}", headers=self._headers(), json=json, params=params
                    ),
                    doing,
                )
            except (httpx.ConnectError, httpx.ConnectTimeout):
                raise RetryableError(f"{self.where}: {doing}: cannot connect to LinkedIn") from None
            except httpx.TransportError as exc:
                if retry_unsent_only:
                    raise ProviderError(
                        f"{self.where}: {doing}: the connection broke after the request was sent "
                        f"({type(exc).__name__}), so LinkedIn may have created it; check the account's posts "
                        "and re-execute only if it is not there"
                    ) from None
                raise RetryableError(f"{self.where}: {doing} failed: {type(exc).__name__}") from None

        return with_retries(once, what=f"{self.where}: {doing}", settings=RETRY)

    def put_part(self, url: str, chunk: bytes, *, doing: str) -> str:
        """PUT one part to its own upload URL; returns the part's ETag."""
        headers = {"Content-Type": "application/octet-stream"}
        host = urlsplit(url).hostname or ""
        # The token goes only to LinkedIn's hosts (or the configured API host), never to a foreign URL.
        if host == urlsplit(self.api).hostname or host == "linkedin.com" or host.endswith(".linkedin.com"):
            headers["Authorization"] = f"Bearer {self._token}"

        def once() -> str:
            try:
                response = self._checked(self._http.put(url, content=chunk, headers=headers), doing)
            except httpx.TransportError as exc:
                raise RetryableError(f"{self.where}: {doing} failed: {type(exc).__name__}") from None
            etag = response.headers.get("etag", "")
            if not etag:
                raise ProviderError(f"{self.where}: LinkedIn answered {doing} without an ETag")
            return etag

        return with_retries(once, what=f"{self.where}: {doing}", settings=RETRY)

    def _checked(self, response: httpx.Response, doing: str) -> httpx.Response:
        if response.is_success:
            return response
        try:
            body = response.json()
            message = str(body.get("message") or body) if isinstance(body, dict) else response.text[:300]
        except ValueError:
            message = response.text[:300]
        if response.status_code == 401:
            if self._refreshed:
                raise ConfigurationError(
                    f"{self.where}: the access token is expired or revoked; "
                    "run `python -m pipeline_assets auth linkedin`"
                )
            self._refreshed = True
            self._token = self._tokens.get(force_refresh=True)
            raise RetryableError(f"{self.where}: token rejected; retrying with a refreshed one", retry_after_s=0)
        raise http_failure(
            self.where, response.status_code, redact(f"{message} (while {doing})", self._token), response.headers
        )


class LinkedInEngine:
    """Initialize → PUT parts → finalize → wait for AVAILABLE → create the post."""

    name = "linkedin"

    def __init__(self, publisher: Publisher, checkpoint: UploadCheckpoint) -> None:
        self.publisher = publisher
        self.checkpoint = checkpoint

    def publish(self, request: PostRequest) -> Post:
        where = f"linkedin[{request.partition_key}]"
        author = require_account(self.publisher, "SHORTS_LINKEDIN_AUTHOR_URN", where)
        if not _AUTHOR.match(author):
            raise ConfigurationError(
                f"{where}: SHORTS_LINKEDIN_AUTHOR_URN must be an author URN like urn:li:person:<id> or "
                f"urn:li:organization:<id>, not {author!r}"
            )
        size = validate_media(request, where, "linkedin")
        with LinkedInClient(self.publisher, where) as client:
            if self.publisher.dry_run:
                return dry_run_post(request)
            posted = self.checkpoint.get("post")
            if not posted:
                video = self._upload(client, author, request.video_path, size)
                self._wait_until_available(client, video)
                posted = {"id": self._create_post(client, author, video, request), "at": datetime.now(UTC).isoformat()}
                self.checkpoint.set("post", posted)
        return published_post(request, str(posted["id"]), post_url(str(posted["id"])), str(posted["at"]))

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
        with path.open("rb") as handle:
            for index, part in enumerate(instructions):
                if etags[index]:
                    continue
                first, last = int(part["firstByte"]), int(part["lastByte"])
                handle.seek(first)
                etags[index] = client.put_part(
                    str(part["uploadUrl"]), handle.read(last - first + 1), doing=f"uploading part {index + 1}"
                )
                self.checkpoint.set("etags", etags)
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
        def available() -> bool:
            answer = client.rest("GET", f"videos/{quote(urn, safe='')}", doing="reading the video status").json()
            status = answer.get("status")
            if status == "PROCESSING_FAILED":
                self.checkpoint.clear()  # this video can never be posted: upload afresh next time
                raise ProviderError(
                    f"{client.where}: LinkedIn could not process the video: "
                    f"{answer.get('processingFailureReason', 'no reason given')}"
                )
            return status == "AVAILABLE"

        wait_for(
            available,
            where=client.where,
            doing="processing the video",
            interval_s=self.publisher.poll_interval_s,
            timeout_s=self.publisher.timeout_s,
        )

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
        # A lost answer is not retried: a second POST would be a second post.
        response = client.rest("POST", "posts", json=body, doing="creating the post", retry_unsent_only=True)
        post_id = response.headers.get("x-restli-id", "")
        if not post_id:
            raise ProviderError(f"{client.where}: LinkedIn created the post but returned no x-restli-id header")
        return post_id
