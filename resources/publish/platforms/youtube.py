"""YouTube Shorts through the YouTube Data API v3 `videos.insert` (resumable upload), with google-api-python-client.

An upload survives a failed attempt: the session URI, the file's fingerprint and the progress are saved in the
ledger's checkpoint as soon as they exist, so the next attempt (a new process) asks the session how far it got
and continues it instead of creating a second video. The video id is saved the moment YouTube returns it.
The SDK's own retries are off: every call goes through the shared `base.PlatformClient.call` (retries from the
Publisher's settings, one token refresh), except the daily upload quota, which fails at once because it only
resets at midnight Pacific time.

`metrics` reads a video's numbers back: `videos.list(part=statistics)` for views, likes and comments, and the
YouTube Analytics API v2 `reports.query` for watch time when the grant includes yt-analytics.readonly.
"""

from __future__ import annotations

import functools
import hashlib
import http.client
import json
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self, TypeVar

import dagster as dg
import google_auth_httplib2
import googleapiclient
import httplib2
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build_from_document
from googleapiclient.errors import HttpError
from googleapiclient.http import MediaFileUpload

from resources.errors import ConfigurationError, InputRejected, MetricsUnavailable, ProviderError, RetryableError
from resources.http.deadline import Pending
from resources.http.retry import http_failure
from resources.publish.oauth import auth_command
from resources.publish.platforms import client as base
from resources.publish.platforms.common import dry_run_post
from resources.publish.publisher import PostRequest
from resources.records import Post

T = TypeVar("T")

DISCOVERY_DOC = Path(googleapiclient.__file__).parent / "discovery_cache" / "documents" / "youtube.v3.json"
# The YouTube Analytics API v2, from the same package (its own host: youtubeanalytics.googleapis.com).
ANALYTICS_DOC = DISCOVERY_DOC.with_name("youtubeAnalytics.v2.json")
REAL_ROOT_URL = "https://youtube.googleapis.com/"
CHUNK_QUANTUM = 256 * 1024  # resumable chunks must be multiples of 256 KiB (all but the last)
CATEGORY_PEOPLE_AND_BLOGS = "22"
TITLE_LIMIT = 100
DESCRIPTION_LIMIT = 5000
TAGS_LIMIT = 500  # characters over all tags
HTTP_TIMEOUT_S = 120.0
RETRY_ATTEMPTS = 5  # the default attempts per call here: one more than elsewhere, for a long chunked upload
QUOTA_REASONS = frozenset({"quotaExceeded", "dailyLimitExceeded", "uploadLimitExceeded"})
# Per-user rate limits are short-lived (the SDK itself retries them); the daily caps above are not.
RATE_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
SESSION_GONE = frozenset({404, 410})
# The Data API's daily unit quota: reads spend it too, and it resets at midnight Pacific time as well.
DAILY_QUOTA_REASONS = frozenset({"quotaExceeded", "dailyLimitExceeded"})
# Google's answer to a token without the method's scope: 403 insufficientPermissions, "Request had insufficient
# authentication scopes." (https://developers.google.com/youtube/v3/docs/errors, "forbidden (403)").
SCOPE_REASONS = frozenset({"insufficientPermissions", "ACCESS_TOKEN_SCOPE_INSUFFICIENT"})
READONLY_SCOPE = "https://www.googleapis.com/auth/youtube.readonly"
ANALYTICS_SCOPE = "https://www.googleapis.com/auth/yt-analytics.readonly"
# Reports: Query (https://developers.google.com/youtube/analytics/reference/reports/query) with no dimension and
# `filters=video==ID`: the "Video reports" user-activity report of one video (https://developers.google.com/
# youtube/analytics/channel_reports). averageViewDuration is in seconds, estimatedMinutesWatched in minutes
# (https://developers.google.com/youtube/analytics/metrics).
ANALYTICS_METRICS = ("views", "estimatedMinutesWatched", "averageViewDuration")
TRANSPORT_ERRORS = (httplib2.HttpLib2Error, http.client.HTTPException, OSError)


class _ChunkedFile(MediaFileUpload):  # type: ignore[misc]
    """A MediaFileUpload that hands each chunk to the transport as bytes.

    httplib2 silently resends a request once when it finds the connection closed; a stream slice would already
    be read to its end, so the resend would announce a chunk and send nothing. Bytes can be sent twice.
    """

    def has_stream(self) -> bool:
        return False


class PartialMetrics(dict[str, float]):
    """The numbers that could be read, with `detail` saying which part is missing and how to get it."""

    def __init__(self, values: dict[str, float], detail: str) -> None:
        super().__init__(values)
        self.detail = detail


class _SessionExpired(Exception):
    """The resumable session URI answered 404/410: it expired, so the upload must start over."""


def upload_fingerprint(path: Path) -> str:
    """sha256 of the file: a saved session is only resumed with the very bytes it started with."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def error_details(content: bytes | str | None) -> tuple[list[str], str]:
    """(reasons, message) from Google's error envelope `{"error": {"message", "errors": [{"reason"}]}}`."""
    text = content.decode("utf-8", "replace") if isinstance(content, bytes) else (content or "")
    try:
        error = json.loads(text).get("error", {})
    except (ValueError, AttributeError):
        return [], text[:300]
    if not isinstance(error, dict):
        return [], str(error)[:300]
    reasons = [str(item.get("reason", "")) for item in error.get("errors", []) if isinstance(item, dict)]
    return [reason for reason in reasons if reason], str(error.get("message", ""))[:300]


def is_upload_quota(status: int, reasons: list[str], message: str) -> bool:
    """True for the daily caps: 429 "Video Uploads per day", 403 quotaExceeded, 400 uploadLimitExceeded."""
    if QUOTA_REASONS.intersection(reasons):
        return True
    return status == 429 and "rateLimitExceeded" in reasons and "per day" in message.lower()


def video_body(request: PostRequest, *, privacy: str, publish_at: str, made_for_kids: bool) -> dict[str, Any]:
    """The `video` resource sent on insert; raises when YouTube would refuse it."""
    where = request.where
    title, description = request.caption.title.strip(), request.caption.text
    tags = [tag.strip().lstrip("#") for tag in request.caption.hashtags if tag.strip().lstrip("#")]
    if not title:
        raise InputRejected(f"{where}: the title is empty; YouTube requires one")
    for name, text, limit in (("title", title, TITLE_LIMIT), ("description", description, DESCRIPTION_LIMIT)):
        if len(text) > limit:
            raise InputRejected(f"{where}: the {name} has {len(text)} characters; YouTube allows {limit}")
        if "<" in text or ">" in text:
            raise InputRejected(f"{where}: the {name} contains < or >, which YouTube rejects; remove them")
    if sum(len(tag) for tag in tags) > TAGS_LIMIT:
        raise InputRejected(f"{where}: the tags add up to more than {TAGS_LIMIT} characters; use fewer hashtags")
    status: dict[str, Any] = {
        "privacyStatus": privacy,
        "selfDeclaredMadeForKids": request.made_for_kids or made_for_kids,
        "containsSyntheticMedia": request.contains_synthetic_media,
    }
    if publish_at:
        if privacy != "private":
            raise ConfigurationError(
                f"{where}: publish_at needs privacy=private (YouTube makes a private video public at that time); "
                "set privacy: private or clear publish_at"
            )
        status["publishAt"] = _rfc3339(publish_at, where)
    return {
        "snippet": {
            "title": title,
            "description": description,
            "tags": tags,
            "categoryId": CATEGORY_PEOPLE_AND_BLOGS,
        },
        "status": status,
    }


def _rfc3339(value: str, where: str) -> str:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ConfigurationError(f"{where}: publish_at={value!r} is not an RFC 3339 time with a zone offset")
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class YouTubeClient(base.PlatformClient):
    """The SDK's `youtube.v3` service on AccessTokens' token; a 401 comes back to `call` (google-auth never
    refreshes by itself), and the SDK's answers become pipeline errors here."""

    credentials: Credentials
    service: Any

    def __enter__(self) -> Self:
        super().__enter__()
        self.credentials = Credentials(token=self.token)
        self.service = self._service(DISCOVERY_DOC)
        return self

    def refresh_token(self) -> None:
        super().refresh_token()
        self.credentials.token = self.token

    @functools.cached_property
    def analytics(self) -> Any:
        """The SDK's `youtubeAnalytics.v2` service (built on first use), on the same token and transport."""
        return self._service(ANALYTICS_DOC)

    def read(self, call: Any, *, doing: str, scope: str) -> dict[str, Any]:
        """A read-only metrics call, retried; its refusals become MetricsUnavailable (`scope`: what it needs)."""

        def once() -> dict[str, Any]:
            try:
                return dict(self.transport(lambda: call.execute(num_retries=0)))
            except HttpError as exc:
                raise self.metrics_error(exc.resp.status, exc.content, exc.resp, doing, scope) from None

        return self.call(once, doing=doing)

    def metrics_error(
        self, status: int, content: bytes | str | None, headers: Any, doing: str, scope: str
    ) -> Exception:
        """The error for a refused metrics read: no scope, the daily quota, a vanished video, else as any call."""
        reasons, message = error_details(content)
        message = self.redact(message)
        if status == 403 and SCOPE_REASONS.intersection(reasons):
            return MetricsUnavailable(
                "missing_scope",
                f"{self.where}: {doing}: the token lacks {scope.rsplit('/', 1)[-1]} ({message}); run "
                f"{auth_command('youtube')} to grant it",
            )
        if DAILY_QUOTA_REASONS.intersection(reasons):
            return MetricsUnavailable(
                "rate_limited",
                f"{self.where}: {doing}: the daily API quota is spent ({message}); it resets at midnight Pacific time",
            )
        if status == 404 and "videoNotFound" in reasons:
            return MetricsUnavailable("deleted", f"{self.where}: {doing}: YouTube no longer has the video")
        if status == 429 or (status == 403 and RATE_REASONS.intersection(reasons)):
            retry_headers = {str(k): str(v) for k, v in dict(headers).items()}
            return http_failure("YouTube", 429, f"{message} ({', '.join(reasons)})", retry_headers)
        return self.answer_error(status, content, headers)

    def refused(self) -> None:
        """The create call (the last chunk, sent through the SDK rather than `create`) was refused for sure."""
        self._create_refused = True

    def execute(self, call: Any, *, doing: str) -> dict[str, Any]:
        """A read-only SDK call, retried; its error answers become pipeline errors."""

        def once() -> dict[str, Any]:
            try:
                return dict(self.transport(lambda: call.execute(num_retries=0)))
            except HttpError as exc:
                raise self.answer_error(exc.resp.status, exc.content, exc.resp) from None

        return self.call(once, doing=doing)

    def transport(self, call: Callable[[], T]) -> T:
        """`call`, with connection failures turned into RetryableError (`call` names the step)."""
        try:
            return call()
        except TRANSPORT_ERRORS as exc:
            raise RetryableError(f"connection to YouTube failed: {type(exc).__name__}") from None

    def answer_error(self, status: int, content: bytes | str | None, headers: Any) -> Exception:
        """The pipeline error for a YouTube error answer (the token is never quoted).

        Permanent errors name the step; retryable ones do not, as with_retries adds it when it gives up.
        """
        reasons, message = error_details(content)
        message = self.redact(message)
        if status == 401:
            return base.TokenRejected()
        if is_upload_quota(status, reasons, message):
            return ProviderError(
                f"{self.where}: YouTube upload quota exhausted ({', '.join(reasons)}: {message}): it resets at "
                "midnight Pacific time; re-execute youtube_post then"
            )
        if status == 403 and RATE_REASONS.intersection(reasons):
            return RetryableError(f"YouTube answered HTTP 403 ({', '.join(reasons)}): {message}")
        detail = f"{message} ({', '.join(reasons)})" if reasons else message
        failure = http_failure("YouTube", status, detail, {str(k): str(v) for k, v in dict(headers).items()})
        return failure if isinstance(failure, RetryableError) else ProviderError(f"{self.where}: {failure}")

    def _service(self, discovery_doc: Path) -> Any:
        """A client from a discovery document bundled with the SDK, pointed at `api_base_url` when set."""
        document = json.loads(discovery_doc.read_text(encoding="utf-8"))
        if self.settings.api_base_url:
            # `client_options.api_endpoint` would keep uploads on https; the document's root moves both.
            document["rootUrl"] = self.settings.api_base_url.rstrip("/") + "/"
            document["servicePath"] = ""
            document.pop("mtlsRootUrl", None)
        # A 401 comes back to us (refresh_status_codes=()): refreshing is AccessTokens' job, not google-auth's.
        transport = httplib2.Http(timeout=HTTP_TIMEOUT_S)
        # 308 means "resume incomplete" here, not a redirect (the SDK does the same for the Http it builds).
        transport.redirect_codes = transport.redirect_codes - {308}
        authorized = google_auth_httplib2.AuthorizedHttp(self.credentials, http=transport, refresh_status_codes=())
        return build_from_document(document, http=authorized)


@dataclass(frozen=True)
class YouTubeEngine(base.ApiEngine):
    """Uploads one short with `videos.insert`, resuming an interrupted session from the checkpoint."""

    _: KW_ONLY
    privacy: str
    publish_at: str = ""  # RFC 3339; YouTube makes the private video public then
    made_for_kids: bool = False
    name = "youtube"

    # -- the numbers ------------------------------------------------------------------------------------------

    def metrics(self, post: Post) -> dict[str, float]:
        """Views, likes and comments from `videos.list`; watch time from the Analytics API when the grant has
        yt-analytics.readonly (without it, a PartialMetrics whose `detail` says so)."""
        where = f"youtube[{post.partition_key}]"
        try:
            with YouTubeClient(self.settings, where) as client:
                values = self._statistics(client, post.remote_id)
                try:
                    values |= self._watch_time(client, post)
                except (MetricsUnavailable, RetryableError, ProviderError) as exc:
                    # The Data API counts stand on their own: keep them, say what is missing.
                    dg.get_dagster_logger().warning(f"{where}: watch time not read: {exc}")
                    return PartialMetrics(values, f"watch time not read: {exc}")
                return values
        except ConfigurationError as exc:  # no token, or one refused even after a refresh
            raise MetricsUnavailable("revoked", str(exc)) from None

    @staticmethod
    def _statistics(client: YouTubeClient, video_id: str) -> dict[str, float]:
        """`videos.list(part=statistics)` (https://developers.google.com/youtube/v3/docs/videos/list): the counts
        are strings; a hidden count is left out. A video that is gone is simply not among the items."""
        answer = client.read(
            client.service.videos().list(part="statistics", id=video_id),
            doing="reading the video statistics",
            scope=READONLY_SCOPE,
        )
        items = answer.get("items") or []
        if not items:
            raise MetricsUnavailable(
                "deleted", f"{client.where}: YouTube lists no video {video_id} (deleted, or not the token's channel)"
            )
        statistics = items[0].get("statistics") or {}
        names = {"viewCount": "views", "likeCount": "likes", "commentCount": "comments"}
        return {metric: float(statistics[field]) for field, metric in names.items() if field in statistics}

    @staticmethod
    def _watch_time(client: YouTubeClient, post: Post) -> dict[str, float]:
        """The Analytics report of this video since it was posted; {} while YouTube has no rows for it yet
        (the report lags a day or two behind)."""
        today = datetime.now(UTC).date()
        start = min(post.posted_at.astimezone(UTC).date(), today)
        query = client.analytics.reports().query(
            ids="channel==MINE",
            startDate=start.isoformat(),
            endDate=today.isoformat(),
            metrics=",".join(ANALYTICS_METRICS),
            filters=f"video=={post.remote_id}",
        )
        report = client.read(query, doing="reading YouTube Analytics", scope=ANALYTICS_SCOPE)
        columns = [str(header.get("name", "")) for header in report.get("columnHeaders") or []]
        rows = report.get("rows") or []
        if not rows:
            return {}
        row = dict(zip(columns, rows[0], strict=False))
        values: dict[str, float] = {}
        if row.get("estimatedMinutesWatched") is not None:
            values["watch_time_s"] = float(row["estimatedMinutesWatched"]) * 60
        if row.get("averageViewDuration") is not None:
            values["avg_view_duration_s"] = float(row["averageViewDuration"])
        return values

    # -- the flow ---------------------------------------------------------------------------------------------

    def publish(self, request: PostRequest) -> Post:
        """Upload (or resume) and wait for processing; in dry-run, stop before the first byte is sent."""
        body = video_body(request, privacy=self.privacy, publish_at=self.publish_at, made_for_kids=self.made_for_kids)
        size = self._check_file(request.video_path, request.where)
        with YouTubeClient(self.settings, request.where) as client:
            insert = self._insert(client, request, body)  # built in dry-run too: it validates the parameters
            if self.settings.dry_run:
                return dry_run_post(request)
            video_id = str(self.checkpoint.get("remote_id") or "")
            if video_id:
                dg.get_dagster_logger().info(
                    f"{client.where}: video {video_id} was already uploaded; checking its status"
                )
            else:
                video_id = self._upload(client, insert, request, body, size)
            self._wait_until_processed(client, video_id)
        return request.post("published", video_id, f"https://youtube.com/shorts/{video_id}")

    def _upload(self, client: YouTubeClient, insert: Any, request: PostRequest, body: dict[str, Any], size: int) -> str:
        fingerprint = upload_fingerprint(request.video_path)
        if self.checkpoint.pending_create() is not None:
            # An earlier attempt sent the last chunk and never learned the outcome: look it up, never a new session.
            return self._send_last(client, insert, body, size, fingerprint)
        for _ in range(2):  # the second pass only after the saved session expired before its last chunk
            try:
                video = self._resume(client, insert, size, fingerprint)
                if video is None:
                    return self._send(client, insert, body, fingerprint)
            except _SessionExpired:
                dg.get_dagster_logger().warning(f"{client.where}: the upload session expired; starting a new one")
                self.checkpoint.clear()
                insert = self._insert(client, request, body)
                continue
            video_id = self._video_id(client, video)
            self.checkpoint.set("remote_id", video_id)
            return video_id
        raise ProviderError(f"{client.where}: YouTube expired two upload sessions in a row; re-execute youtube_post")

    @staticmethod
    def _video_id(client: YouTubeClient, video: dict[str, Any]) -> str:
        video_id = str(video.get("id") or "")
        if not video_id:
            raise base.OutcomeUnknown(f"{client.where}: YouTube finished the upload without a video id")
        return video_id

    def _resume(self, client: YouTubeClient, insert: Any, size: int, fingerprint: str) -> dict[str, Any] | None:
        """Point `insert` at the saved session, at the offset the server reports; the video if already done."""
        session = str(self.checkpoint.get("session_uri") or "")
        if not session:
            return None
        if self.checkpoint.get("fingerprint") != fingerprint or self.checkpoint.get("size") != size:
            # Another file now: never append its bytes to the old session (which then simply expires unused).
            dg.get_dagster_logger().warning(f"{client.where}: the video changed since the upload began; starting over")
            self.checkpoint.clear()
            return None

        def query() -> tuple[int, dict[str, Any] | None]:
            headers = {"Content-Range": f"bytes */{size}", "Content-Length": "0"}
            resp, content = client.transport(lambda: insert.http.request(session, "PUT", headers=headers))
            if resp.status in SESSION_GONE:
                raise _SessionExpired()
            if resp.status in (200, 201):
                return size, dict(json.loads(content))
            if resp.status == 308:
                # No Range header means the server holds no bytes yet.
                held = resp.get("range", "")
                return (int(held.split("-")[1]) + 1 if held else 0), None
            raise client.answer_error(resp.status, content, resp)

        offset, video = client.call(query, doing="asking the upload session for its offset")
        if video is not None:
            return video
        insert.resumable_uri = session
        insert.resumable_progress = offset
        self.checkpoint.set("progress", offset)
        dg.get_dagster_logger().info(f"{client.where}: resuming the upload at byte {offset} of {size}")
        return None

    def _send(self, client: YouTubeClient, insert: Any, body: dict[str, Any], fingerprint: str) -> str:
        """Drive `next_chunk` up to the last chunk, each retried (the SDK re-syncs from the server's Range); the
        last one, which creates the video, goes through `_send_last`."""
        size = insert.resumable.size()
        while insert.resumable_progress + insert.resumable.chunksize() < size:
            video = client.call(lambda: self._chunk(client, insert, size, fingerprint, last=False), doing="uploading")
            if video is not None:  # YouTube took more than was sent (it never does): the upload is complete
                return self._save_video(client, video)
        return self._send_last(client, insert, body, size, fingerprint)

    def _save_video(self, client: YouTubeClient, video: dict[str, Any]) -> str:
        video_id = self._video_id(client, video)
        self.checkpoint.set("remote_id", video_id)
        return video_id

    def _chunk(self, client: YouTubeClient, insert: Any, size: int, fingerprint: str, *, last: bool) -> Any:
        """One `next_chunk`: the video when the upload is complete, else None."""
        had_session = insert.resumable_uri is not None
        try:
            _, video = client.transport(lambda: insert.next_chunk(num_retries=0))
        except HttpError as exc:
            status = exc.resp.status
            if had_session and status in SESSION_GONE:
                if last:  # the session ended after bytes that may have completed the upload: look, never restart
                    raise base.OutcomeUnknown(f"{client.where}: the upload session answered HTTP {status}") from None
                raise _SessionExpired() from None
            error = client.answer_error(status, exc.content, exc.resp)
            if last and not isinstance(error, RetryableError | base.TokenRejected):
                client.refused()  # a session start or a chunk YouTube refused: no video was created
            raise error from None
        finally:
            self._remember(insert, size, fingerprint)
        return dict(video) if video is not None else None

    def _send_last(self, client: YouTubeClient, insert: Any, body: dict[str, Any], size: int, fingerprint: str) -> str:
        """The last chunk, which creates the video, at most once: a lost answer or a session gone after it is
        looked up (the session, then the channel's uploads), never answered with a new session."""

        def send() -> str:
            while True:
                video = client.call(
                    lambda: self._chunk(client, insert, size, fingerprint, last=True), doing="uploading"
                )
                if video is not None:
                    return self._video_id(client, video)

        def lookup() -> str | None:
            session = str(insert.resumable_uri or self.checkpoint.get("session_uri") or "")
            if not session:
                return base.NOT_POSTED  # no session was ever opened: no byte was sent
            # The status query of the resumable upload guide, Step 4.1 (https://developers.google.com/youtube/v3/
            # guides/using_resumable_upload_protocol): 200/201 carry the video, 308 means it is incomplete.
            headers = {"Content-Range": f"bytes */{size}", "Content-Length": "0"}

            def query() -> tuple[Any, Any]:
                return client.transport(lambda: insert.http.request(session, "PUT", headers=headers))

            resp, content = client.call(query, doing="asking the upload session whether it finished")
            if resp.status in (200, 201):
                return self._video_id(client, dict(json.loads(content)))
            if resp.status == 308:
                return base.NOT_POSTED  # the session lacks bytes: YouTube creates the video only with the last one
            if resp.status not in SESSION_GONE:
                raise client.answer_error(resp.status, content, resp)
            return self._find_upload(client, body)

        snippet = body["snippet"]
        call = base.CreateCall(
            "the last chunk of videos.insert",
            "the YouTube channel the token belongs to (Studio, Content)",
            f"titled {snippet['title']!r} with our description",
        )

        def save(video_id: str) -> None:
            self.checkpoint.set("remote_id", video_id)

        return client.create_once(self.checkpoint, call, send=send, lookup=lookup, save=save)

    def _find_upload(self, client: YouTubeClient, body: dict[str, Any]) -> str | None:
        """Our video among the channel's newest uploads: same title and description (None when not listed).

        The uploads playlist is `channels.list(mine=true, part=contentDetails)` →
        `contentDetails.relatedPlaylists.uploads` (https://developers.google.com/youtube/v3/docs/channels), read
        with `playlistItems.list` (https://developers.google.com/youtube/v3/docs/playlistItems/list).
        """
        channels = client.execute(
            client.service.channels().list(part="contentDetails", mine=True), doing="finding the uploads playlist"
        )
        items = channels.get("items") or [{}]
        uploads = ((items[0].get("contentDetails") or {}).get("relatedPlaylists") or {}).get("uploads")
        if not uploads:
            return None
        listing = client.execute(
            client.service.playlistItems().list(part="snippet", playlistId=uploads, maxResults=25),
            doing="listing the channel's uploads",
        )
        wanted = body["snippet"]
        for item in listing.get("items") or []:
            snippet = item.get("snippet") or {}
            if (snippet.get("title"), snippet.get("description")) == (wanted["title"], wanted["description"]):
                return str((snippet.get("resourceId") or {}).get("videoId") or "") or None
        return None

    def _remember(self, insert: Any, size: int, fingerprint: str) -> None:
        """Save the session URI as soon as it exists, then the progress after every chunk."""
        if insert.resumable_uri and self.checkpoint.get("session_uri") != insert.resumable_uri:
            self.checkpoint.set("size", size)
            self.checkpoint.set("fingerprint", fingerprint)
            self.checkpoint.set("session_uri", insert.resumable_uri)
        if insert.resumable_uri and self.checkpoint.get("progress") != insert.resumable_progress:
            self.checkpoint.set("progress", insert.resumable_progress)

    def _wait_until_processed(self, client: YouTubeClient, video_id: str) -> None:
        """Poll `videos.list` until processed; failed/rejected is permanent; still processing at the deadline is
        fine (the video exists and YouTube finishes it on its own)."""

        def fetch() -> dict[str, Any]:
            call = client.service.videos().list(part="status,processingDetails", id=video_id)
            try:
                return dict(client.transport(lambda: call.execute(num_retries=0)))
            except HttpError as exc:
                raise client.answer_error(exc.resp.status, exc.content, exc.resp) from None

        def read() -> str | Pending:
            items = client.call(fetch, doing="reading the video status").get("items") or []
            status = dict(items[0].get("status", {})) if items else {}
            upload_status = str(status.get("uploadStatus", ""))
            if upload_status == "processed":
                return upload_status
            if upload_status in ("failed", "rejected", "deleted"):
                reason = status.get("failureReason") or status.get("rejectionReason") or "no reason given"
                self.checkpoint.clear()  # a re-execution must upload again, not poll a dead video
                raise ProviderError(
                    f"{client.where}: YouTube {upload_status} video {video_id} ({reason}); fix the video or its "
                    "metadata, then re-execute youtube_post"
                )
            return Pending(upload_status or "not listed")

        def settle(last: Pending) -> str:
            dg.get_dagster_logger().warning(
                f"{client.where}: video {video_id} is still {last.status} after {self.settings.timeout_s:.0f} s; "
                "YouTube will finish processing it"
            )
            return last.status

        client.poll(read, doing=f"processing video {video_id}", at_deadline=settle)

    # -- requests -----------------------------------------------------------------------------------------------

    def _insert(self, client: YouTubeClient, request: PostRequest, body: dict[str, Any]) -> Any:
        media = _ChunkedFile(
            str(request.video_path), mimetype="video/mp4", chunksize=self.settings.chunk_size_bytes, resumable=True
        )
        insert = client.service.videos().insert(
            part="snippet,status",
            body=body,
            media_body=media,
            notifySubscribers=self.privacy == "public" and not self.publish_at,
        )
        if self.settings.upload_base_url:
            api = self.settings.api_base_url
            root = (api.rstrip("/") + "/") if api else REAL_ROOT_URL
            insert.uri = self.settings.upload_base_url.rstrip("/") + "/" + insert.uri.removeprefix(root)
        return insert

    def _check_file(self, path: Path, where: str) -> int:
        chunk = self.settings.chunk_size_bytes
        if chunk <= 0 or chunk % CHUNK_QUANTUM:
            raise ConfigurationError(
                f"{where}: chunk_size_bytes={chunk} is not a multiple of 256 KiB ({CHUNK_QUANTUM}); "
                "YouTube refuses such chunks"
            )
        if not path.is_file():
            raise InputRejected(f"{where}: the video {path} does not exist; re-materialize short_video")
        size = path.stat().st_size
        if size == 0:
            raise InputRejected(f"{where}: the video {path} is empty; re-materialize short_video")
        return size
