"""Instagram Reels and Facebook Page Reels through the Graph API, with bytes sent to Meta's `rupload` host.

Both platforms share `GraphClient`: the error envelope, rate limits, the one token refresh on code 190 and the
resumable byte upload (`offset` / `file_size` headers) are the same. Every step that the platform cannot undo
(container or video id, bytes acknowledged, the published id) is written to the upload checkpoint as soon as it
is known, so a re-execution resumes instead of posting twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx

from resources.errors import ConfigurationError, ProviderError, RetryableError
from resources.http.retry import RetrySettings, http_failure, parse_retry_after, with_retries
from resources.http.secrets import redact
from resources.publish.ledger import UploadCheckpoint
from resources.publish.platforms.common import dry_run_post, published_post, require_account, validate_media, wait_for
from resources.publish.publisher import PostRequest, Publisher
from resources.records import Post

GRAPH_VERSION = "v27.0"  # current in Meta's docs (publishing-apis.md §4)
GRAPH_HOST = "https://graph.facebook.com"
RUPLOAD_HOST = "https://rupload.facebook.com"
RETRY = RetrySettings()  # tests shorten the backoff here (the Publisher has no retry setting)
RATE_LIMIT_CODES = frozenset({4, 17, 32, 613})
EXPIRED_TOKEN_CODE = 190
PUBLISH_LIMIT_CODES = frozenset({9})
PUBLISH_LIMIT_SUBCODES = frozenset({2207042})  # IG "maximum number of posts reached"
_TIMEOUT = httpx.Timeout(120.0, connect=10.0)

log = logging.getLogger(__name__)


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _graph_error(response: httpx.Response) -> dict[str, Any]:
    """The Graph `error` object (or rupload's `debug_info`); empty when the body has neither."""
    try:
        body = response.json()
    except ValueError:
        return {}
    if not isinstance(body, dict):
        return {}
    error = body.get("error") or body.get("debug_info") or {}
    return error if isinstance(error, dict) else {}


class GraphClient:
    """Authenticated Graph API and rupload calls for one publish, every one through `with_retries`."""

    def __init__(self, publisher: Publisher, where: str) -> None:
        self.where = where
        self.platform = publisher.platform
        self._tokens = publisher.tokens()
        self._token = self._tokens.get()
        self._refreshed = False
        self.api = f"{(publisher.api_base_url or GRAPH_HOST).rstrip('/')}/{GRAPH_VERSION}"
        self.upload_base = (publisher.upload_base_url or RUPLOAD_HOST).rstrip("/")
        self._http = httpx.Client(timeout=_TIMEOUT)

    def __enter__(self) -> GraphClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    def rupload_url(self, kind: str, object_id: str) -> str:
        """`{rupload}/{kind}/{ver}/{id}`: only used when the API did not return the upload URL itself."""
        return f"{self.upload_base}/{kind}/{GRAPH_VERSION}/{object_id}"

    def get(self, path: str, *, doing: str, **params: str) -> dict[str, Any]:
        return self._call("GET", f"{self.api}/{path}", doing=doing, params=params)

    def post(self, path: str, *, doing: str, **form: str) -> dict[str, Any]:
        # A form body rather than a query string keeps long captions out of URLs (Graph accepts both).
        return self._call("POST", f"{self.api}/{path}", doing=doing, data=form)

    def upload(self, url: str, chunk: bytes, *, offset: int, file_size: int, doing: str) -> dict[str, Any]:
        """POST one byte range to rupload; the body is the file from `offset` on (this chunk of it)."""
        headers = {"offset": str(offset), "file_size": str(file_size), "Content-Type": "application/octet-stream"}
        return self._call("POST", url, doing=doing, content=chunk, headers=headers, rupload=True)

    def _call(
        self,
        method: str,
        url: str,
        *,
        doing: str,
        rupload: bool = False,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        def once() -> dict[str, Any]:
            # rupload wants `OAuth <token>`; the Graph API takes the token as a Bearer header, which keeps it
            # out of URLs (and so out of logs and httpx error messages).
            auth = f"OAuth {self._token}" if rupload else f"Bearer {self._token}"
            try:
                response = self._http.request(method, url, headers={**(headers or {}), "Authorization": auth}, **kwargs)
            except httpx.TimeoutException:
                raise RetryableError(f"{self.where}: {doing} timed out") from None
            except httpx.TransportError as exc:
                raise RetryableError(f"{self.where}: {doing} failed: {type(exc).__name__}") from None
            if response.is_success:
                try:
                    body = response.json()
                except ValueError:
                    raise ProviderError(f"{self.where}: the answer to {doing} is not JSON") from None
                if not isinstance(body, dict):
                    raise ProviderError(f"{self.where}: the answer to {doing} is not a JSON object")
                return body
            raise self._failure(response, doing)

        return with_retries(once, what=f"{self.where}: {doing}", settings=RETRY)

    def _failure(self, response: httpx.Response, doing: str) -> Exception:
        error = _graph_error(response)
        code, subcode = error.get("code"), error.get("error_subcode")
        message = str(error.get("message") or response.text[:300] or response.reason_phrase)
        detail = redact(f"{message} (code {code}, subcode {subcode}, while {doing})", self._token)
        if code == EXPIRED_TOKEN_CODE:
            if self._refreshed:
                return ConfigurationError(
                    f"{self.where}: the access token is expired or revoked; "
                    f"run `python -m pipeline_assets auth {self.platform}`"
                )
            self._refreshed = True
            self._token = self._tokens.get(force_refresh=True)
            return RetryableError(f"{self.where}: token expired; retrying with a refreshed one", retry_after_s=0)
        if code in PUBLISH_LIMIT_CODES or subcode in PUBLISH_LIMIT_SUBCODES:
            return ProviderError(f"{self.where}: daily publishing limit reached: {detail}")
        if response.status_code == 429 or code in RATE_LIMIT_CODES:
            return RetryableError(
                f"{self.where}: rate limited: {detail}", retry_after_s=parse_retry_after(response.headers)
            )
        return http_failure(self.where, response.status_code, detail, response.headers)


def send_file(
    graph: GraphClient,
    url: str,
    path: Path,
    *,
    start: int,
    size: int,
    chunk_size: int,
    on_progress: Callable[[int], None],
) -> None:
    """Send `path` from `start` in chunks; `on_progress(offset)` after each acknowledged chunk."""
    if start:
        log.info("%s: resuming the upload at byte %d of %d", graph.where, start, size)
    offset = start
    with path.open("rb") as handle:
        while offset < size:
            handle.seek(offset)
            chunk = handle.read(max(1, chunk_size))
            answer = graph.upload(url, chunk, offset=offset, file_size=size, doing=f"uploading bytes at {offset}")
            if answer.get("success") is False:
                raise ProviderError(f"{graph.where}: rupload refused the bytes at {offset}: {answer}")
            offset += len(chunk)
            on_progress(offset)


class InstagramEngine:
    """Instagram Reels: container → rupload bytes → poll `status_code` → `media_publish`."""

    name = "instagram"

    def __init__(self, publisher: Publisher, checkpoint: UploadCheckpoint) -> None:
        self.publisher = publisher
        self.checkpoint = checkpoint

    def publish(self, request: PostRequest) -> Post:
        where = f"instagram[{request.partition_key}]"
        account = require_account(self.publisher, "SHORTS_INSTAGRAM_ACCOUNT_ID", where)
        size = validate_media(request, where, "instagram")
        with GraphClient(self.publisher, where) as graph:
            published = self.checkpoint.get("published")
            if self.publisher.dry_run:
                self._check_quota(graph, account)
                return dry_run_post(request)
            if not published:
                self._check_quota(graph, account)
                container, uri = self._container(graph, account, request)
                uploaded = int(self.checkpoint.get("uploaded", 0))
                if uploaded < size:
                    # The doc does not say how rupload reports the bytes it holds, so resume from the last
                    # offset it acknowledged; a chunk sent again at that offset simply overwrites.
                    send_file(
                        graph,
                        uri,
                        request.video_path,
                        start=uploaded,
                        size=size,
                        chunk_size=self.publisher.chunk_size_bytes,
                        on_progress=lambda offset: self.checkpoint.set("uploaded", offset),
                    )
                self._wait_until_finished(graph, container)
                # Safe to retry: Meta publishes a container at most once.
                media_id = str(graph.post(f"{account}/media_publish", doing="publishing", creation_id=container)["id"])
                published = {"id": media_id, "at": _now()}
                self.checkpoint.set("published", published)
            permalink = self._permalink(graph, str(published["id"]))
        return published_post(request, str(published["id"]), permalink, str(published["at"]))

    def _check_quota(self, graph: GraphClient, account: str) -> None:
        answer = graph.get(
            f"{account}/content_publishing_limit", doing="reading the publishing limit", fields="quota_usage,config"
        )
        data = answer.get("data") or [{}]
        usage = data[0].get("quota_usage", 0)
        total = (data[0].get("config") or {}).get("quota_total")
        # The documented cap varies by source (25/50/100): trust the number the API returns.
        if isinstance(total, int) and isinstance(usage, int) and usage >= total:
            raise ProviderError(
                f"{graph.where}: daily publishing limit reached ({usage}/{total} in 24 h); re-execute tomorrow"
            )

    def _container(self, graph: GraphClient, account: str, request: PostRequest) -> tuple[str, str]:
        container = self.checkpoint.get("container_id")
        if container:
            return str(container), str(self.checkpoint.get("upload_uri"))
        answer = graph.post(
            f"{account}/media",
            doing="creating the Reels container",
            media_type="REELS",
            upload_type="resumable",
            caption=request.caption.text,
            share_to_feed="true",
        )
        container = str(answer["id"])
        # Use the returned URI: a hand-built one can leave the container stuck IN_PROGRESS (doc §3.1).
        uri = str(answer.get("uri") or graph.rupload_url("ig-api-upload", container))
        self.checkpoint.set("container_id", container)
        self.checkpoint.set("upload_uri", uri)
        return container, uri

    def _wait_until_finished(self, graph: GraphClient, container: str) -> None:
        def finished() -> bool:
            answer = graph.get(container, doing="reading the container status", fields="status_code,status")
            code = answer.get("status_code")
            if code in ("ERROR", "EXPIRED"):
                # Start from a new container next time: this one can never be published.
                self.checkpoint.clear()
                raise ProviderError(f"{graph.where}: Instagram reports the container {code}: {answer.get('status')}")
            return code in ("FINISHED", "PUBLISHED")

        wait_for(
            finished,
            where=graph.where,
            doing="processing the video",
            interval_s=self.publisher.poll_interval_s,
            timeout_s=self.publisher.timeout_s,
        )

    def _permalink(self, graph: GraphClient, media_id: str) -> str:
        try:
            return str(graph.get(media_id, doing="reading the permalink", fields="permalink").get("permalink", ""))
        except ProviderError:
            return ""  # the post exists; a missing read permission should not fail the publish


class FacebookEngine:
    """Facebook Page Reels: `video_reels` start → rupload bytes → finish (PUBLISHED) → poll `status`."""

    name = "facebook"

    def __init__(self, publisher: Publisher, checkpoint: UploadCheckpoint) -> None:
        self.publisher = publisher
        self.checkpoint = checkpoint

    def publish(self, request: PostRequest) -> Post:
        where = f"facebook[{request.partition_key}]"
        page = require_account(self.publisher, "SHORTS_FACEBOOK_PAGE_ID", where)
        size = validate_media(request, where, "facebook")
        with GraphClient(self.publisher, where) as graph:
            finished = self.checkpoint.get("finished")
            if self.publisher.dry_run or not finished:
                graph.get(page, doing="reading the Page", fields="id,name")
            if self.publisher.dry_run:
                return dry_run_post(request)
            if not finished:
                video_id, upload_url, resumed = self._start(graph, page)
                start = self._uploaded(graph, video_id) if resumed else 0
                if start < size:
                    send_file(
                        graph,
                        upload_url,
                        request.video_path,
                        start=start,
                        size=size,
                        chunk_size=self.publisher.chunk_size_bytes,
                        on_progress=lambda offset: self.checkpoint.set("uploaded", offset),
                    )
                answer = graph.post(
                    f"{page}/video_reels",
                    doing="finishing the upload and publishing",
                    upload_phase="finish",
                    video_id=video_id,
                    video_state="PUBLISHED",
                    description=request.caption.text,
                )
                if answer.get("success") is not True:
                    raise ProviderError(f"{where}: Facebook did not accept the finish call: {answer}")
                finished = {"id": video_id, "at": _now()}
                self.checkpoint.set("finished", finished)
            video_id = str(finished["id"])
            permalink = self._wait_until_published(graph, video_id)
        return published_post(request, video_id, permalink, str(finished["at"]))

    def _start(self, graph: GraphClient, page: str) -> tuple[str, str, bool]:
        """(video id, upload URL, whether it is resumed from an earlier attempt)."""
        video_id = self.checkpoint.get("video_id")
        if video_id:
            return str(video_id), str(self.checkpoint.get("upload_url")), True
        answer = graph.post(f"{page}/video_reels", doing="starting the Reels upload", upload_phase="start")
        video_id = str(answer["video_id"])
        upload_url = str(answer.get("upload_url") or graph.rupload_url("video-upload", video_id))
        self.checkpoint.set("video_id", video_id)
        self.checkpoint.set("upload_url", upload_url)
        return video_id, upload_url, False

    def _uploaded(self, graph: GraphClient, video_id: str) -> int:
        """Where to resume: `status.uploading_phase.bytes_transferred`, else the last acknowledged offset."""
        status = graph.get(video_id, doing="reading the upload progress", fields="status").get("status") or {}
        transferred = (status.get("uploading_phase") or {}).get("bytes_transferred")
        return int(transferred) if isinstance(transferred, int) else int(self.checkpoint.get("uploaded", 0))

    def _wait_until_published(self, graph: GraphClient, video_id: str) -> str:
        permalink = f"https://www.facebook.com/reel/{video_id}"

        def published() -> bool:
            nonlocal permalink
            answer = graph.get(video_id, doing="reading the video status", fields="status,permalink_url")
            status = answer.get("status") or {}
            for phase in ("uploading_phase", "processing_phase", "publishing_phase"):
                details = status.get(phase) or {}
                if details.get("status") == "error":
                    errors = details.get("errors") or [{}]
                    raise ProviderError(f"{graph.where}: Facebook {phase.replace('_', ' ')} failed: {errors[0]}")
            if status.get("video_status") == "error":
                raise ProviderError(f"{graph.where}: Facebook could not process the video: {status}")
            if answer.get("permalink_url"):
                permalink = urljoin("https://www.facebook.com/", str(answer["permalink_url"]))
            publishing = status.get("publishing_phase") or {}
            if publishing:
                return bool(publishing.get("status") == "complete")
            return status.get("video_status") in ("ready", "published")

        wait_for(
            published,
            where=graph.where,
            doing="processing and publishing the video",
            interval_s=self.publisher.poll_interval_s,
            timeout_s=self.publisher.timeout_s,
        )
        return permalink
