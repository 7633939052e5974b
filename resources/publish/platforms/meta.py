"""Instagram Reels and Facebook Page Reels through the Graph API, with bytes sent to Meta's `rupload` host.

Both platforms share `GraphClient` (the error envelope, rate limits, code 190 as the refused token the client
refreshes once) and the resumable byte upload (`offset` / `file_size` headers). Every step that the platform
cannot undo (container or video id, bytes acknowledged, the published id) is written to the upload checkpoint
as soon as it is known, so a re-execution resumes instead of posting twice.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import KW_ONLY, dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import urljoin

import httpx

from resources.errors import ConfigurationError, MetricsUnavailable, ProviderError, RetryableError
from resources.http.deadline import Pending
from resources.http.retry import parse_retry_after
from resources.publish.oauth import auth_command
from resources.publish.platforms import client as base
from resources.publish.platforms import common
from resources.publish.publisher import PostRequest, PublishSettings
from resources.records import Post

GRAPH_VERSION = "v27.0"  # current in Meta's docs (publishing-apis.md §4)
GRAPH_HOST = "https://graph.facebook.com"
RUPLOAD_HOST = "https://rupload.facebook.com"
RATE_LIMIT_CODES = frozenset({4, 17, 32, 613})
EXPIRED_TOKEN_CODE = 190
PUBLISH_LIMIT_CODES = frozenset({9})
PUBLISH_LIMIT_SUBCODES = frozenset({2207042})  # IG "maximum number of posts reached"
# Video Insights lists 80001 ("too many calls to this Page account") beside the app/user limits
# (https://developers.facebook.com/docs/graph-api/reference/video/video_insights, Error Codes).
METRICS_RATE_LIMIT_CODES = RATE_LIMIT_CODES | {80001}
# Graph permission errors: (#10) "Application does not have permission" and the (#200)-(#299) range
# (https://developers.facebook.com/docs/graph-api/guides/error-handling).
PERMISSION_CODES = frozenset({10, *range(200, 300)})
# Instagram Media Insights for REELS (https://developers.facebook.com/docs/instagram-platform/reference/
# instagram-media/insights): `views` replaces `plays`, `ig_reels_aggregated_all_plays_count` and `impressions`,
# deprecated in v22.0 and for all versions since 2025-04-21. The two watch times are in milliseconds.
# (`total_interactions` is the sum of the counts read here, so it is not asked for.)
IG_REELS_COUNTS = {
    "views": "views",
    "reach": "reach",
    "likes": "likes",
    "comments": "comments",
    "shares": "shares",
    "saved": "saves",
}
IG_REELS_MILLISECONDS = {
    "ig_reels_avg_watch_time": "avg_view_duration_s",
    "ig_reels_video_view_total_time": "watch_time_s",
}
# Facebook Video Insights, "Reels Metrics" (https://developers.facebook.com/docs/graph-api/reference/video/
# video_insights): all lifetime; the two times in milliseconds; likes come by reaction type and comments with shares
# in one object ({"COMMENT": n, "SHARE": n}).
FB_REELS_METRICS = (
    "blue_reels_play_count",
    "post_impressions_unique",
    "post_video_avg_time_watched",
    "post_video_view_time",
    "post_video_likes_by_reaction_type",
    "post_video_social_actions",
)

log = logging.getLogger(__name__)


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _graph_error(response: httpx.Response) -> dict[str, Any]:
    """The Graph `error` object (or rupload's `debug_info`); empty when the body has neither."""
    body = common.json_object(response)
    error = body.get("error") or body.get("debug_info") or {}
    return error if isinstance(error, dict) else {}


def _count(value: float | dict[str, Any] | None) -> float | None:
    """A count, or the sum of a breakdown object ({"REACTION_LIKE": 3, ...})."""
    if isinstance(value, dict):
        return float(sum(v for v in value.values() if isinstance(v, (int, float))))
    return None if value is None else float(value)


def _seconds(value: float | dict[str, Any] | None) -> float | None:
    """Milliseconds (Meta's watch times) as seconds."""
    return None if value is None or isinstance(value, dict) else float(value) / 1000.0


def _post_id(post: Post) -> str:
    if not post.remote_id or post.remote_id == "dry-run":
        where = f"{post.platform}[{post.partition_key}]"
        raise MetricsUnavailable("failed", f"{where}: the post has no platform id to read its numbers with")
    return post.remote_id


class GraphClient(base.PlatformClient):
    """Graph API calls (token as a Bearer header) and rupload calls (token as `OAuth <token>`)."""

    def __init__(self, settings: PublishSettings, where: str, *, account: str = "") -> None:
        super().__init__(settings, where)
        # Facebook: the token is this Page's own, derived from the stored long-lived user token (oauth.py).
        self._tokens.account = account
        self.api = f"{(settings.api_base_url or GRAPH_HOST).rstrip('/')}/{GRAPH_VERSION}"
        self.upload_base = (settings.upload_base_url or RUPLOAD_HOST).rstrip("/")

    def rupload_url(self, kind: str, object_id: str) -> str:
        """`{rupload}/{kind}/{ver}/{id}`: only used when the API did not return the upload URL itself."""
        return f"{self.upload_base}/{kind}/{GRAPH_VERSION}/{object_id}"

    def get(self, path: str, *, doing: str, **params: str) -> dict[str, Any]:
        return self._json("GET", f"{self.api}/{path}", doing=doing, params=params)

    def post(self, path: str, *, doing: str, **form: str) -> dict[str, Any]:
        # A form body rather than a query string keeps long captions out of URLs (Graph accepts both).
        return self._json("POST", f"{self.api}/{path}", doing=doing, data=form)

    def upload(self, url: str, chunk: base.Chunk, data: bytes, *, file_size: int) -> None:
        """POST one chunk to rupload; the body is the file from `chunk.first` on (this chunk of it)."""
        headers = {"offset": str(chunk.first), "file_size": str(file_size), "Content-Type": "application/octet-stream"}
        doing = f"uploading bytes at {chunk.first}"
        # rupload wants `OAuth <token>`; the Graph API takes the token as a Bearer header, which keeps it
        # out of URLs (and so out of logs and httpx error messages).
        answer = self._json("POST", url, doing=doing, content=data, headers=headers, auth="OAuth")
        if answer.get("success") is False:
            raise ProviderError(f"{self.where}: rupload refused the bytes at {chunk.first}: {answer}")

    def failure(self, response: httpx.Response, doing: str) -> Exception:
        error = _graph_error(response)
        code, subcode = error.get("code"), error.get("error_subcode")
        if code == EXPIRED_TOKEN_CODE:
            return base.TokenRejected()
        message = str(error.get("message") or response.text[:300] or response.reason_phrase)
        detail = f"{message} (code {code}, subcode {subcode})"
        if code in PUBLISH_LIMIT_CODES or subcode in PUBLISH_LIMIT_SUBCODES:
            return ProviderError(f"{self.where}: daily publishing limit reached: {self.redact(detail)} while {doing}")
        if response.status_code == 429 or code in RATE_LIMIT_CODES:
            return RetryableError(
                f"{self.where}: rate limited: {self.redact(detail)}", retry_after_s=parse_retry_after(response.headers)
            )
        return self.http_failure(response.status_code, detail, doing, response.headers)

    def insights(self, path: str, *, doing: str, needs: str, **params: str) -> dict[str, float | dict[str, Any]]:
        """An insights edge read as metric name -> lifetime value; refusals are MetricsUnavailable.

        `needs` names the permissions the edge needs, for the missing-scope message.
        """

        def check(response: httpx.Response, doing: str) -> None:
            if not response.is_success:
                raise self.metrics_failure(response, doing, needs)

        url = f"{self.api}/{path}"
        body = common.json_object(self.request("GET", url, doing=doing, params=params, check=check))
        values: dict[str, float | dict[str, Any]] = {}
        for item in body.get("data") or []:
            if not isinstance(item, dict) or not item.get("name"):
                continue
            points = item.get("values") or []
            # Media insights answer `values: [{value}]`; some metrics answer `total_value: {value}` instead.
            point = points[-1] if points else item.get("total_value") or {}
            value = point.get("value") if isinstance(point, dict) else None
            if isinstance(value, (int, float, dict)) and not isinstance(value, bool):
                values[str(item["name"])] = value
        return values

    def metrics_failure(self, response: httpx.Response, doing: str, needs: str) -> Exception:
        """A refused insights read: 190 is the refused token (refreshed once), the rest a MetricsUnavailable."""
        error = _graph_error(response)
        code, subcode = error.get("code"), error.get("error_subcode")
        if code == EXPIRED_TOKEN_CODE:
            return base.TokenRejected()
        message = self.redact(str(error.get("message") or response.text[:300] or response.reason_phrase))
        detail = f"{message} (code {code}, subcode {subcode})"
        if response.status_code == 429 or code in METRICS_RATE_LIMIT_CODES:
            return MetricsUnavailable("rate_limited", f"{self.where}: rate limited while {doing}: {detail}")
        if code in PERMISSION_CODES:
            return MetricsUnavailable(
                "missing_scope",
                f"{self.where}: Meta refused {doing}: {detail}; the token needs {needs}: run "
                f"{auth_command(self.platform)}",
            )
        # Graph's answer for a deleted (or never existing) object: code 100, subcode 33, "... does not exist".
        if code == 100 and "does not exist" in message:
            return MetricsUnavailable("deleted", f"{self.where}: the post is gone: {detail}")
        return self.failure(response, doing)

    def _json(self, method: str, url: str, *, doing: str, **kwargs: Any) -> dict[str, Any]:
        response = self.request(method, url, doing=doing, **kwargs)
        try:
            body = response.json()
        except ValueError:
            raise ProviderError(f"{self.where}: the answer to {doing} is not JSON") from None
        if not isinstance(body, dict):
            raise ProviderError(f"{self.where}: the answer to {doing} is not a JSON object")
        return body


@dataclass(frozen=True)
class _ReelsEngine(base.ApiEngine, ABC):
    """What Instagram and Facebook Reels share: the account, the Graph client, the checkpointed byte upload."""

    _: KW_ONLY
    account: str  # the Instagram user id or the Facebook Page id
    account_setting: ClassVar[str]  # the variable that configures `account`, named when it is missing

    def publish(self, request: PostRequest) -> Post:
        account = common.require_account(self.account, self.account_setting, request.where)
        size = common.validate_media(request)  # both checked before any call
        with GraphClient(self.settings, request.where, account=account) as graph:
            return self._publish(graph, request, account, size)

    @abstractmethod
    def _publish(self, graph: GraphClient, request: PostRequest, account: str, size: int) -> Post:
        """Publish `request` (`size` bytes) on `account`, resuming from the checkpoint."""

    def metrics(self, post: Post) -> dict[str, float]:
        """The post's lifetime numbers, read with the token it was published with (Instagram's user token, the
        Page token on Facebook); a token that stays refused after one renewal is `revoked`."""
        post_id = _post_id(post)
        where = f"{post.platform}[{post.partition_key}]"
        try:
            with GraphClient(self.settings, where, account=self.account.strip()) as graph:
                return self._metrics(graph, post_id)
        except ConfigurationError as exc:  # refused after the renewal, or the grant itself is gone
            raise MetricsUnavailable("revoked", str(exc)) from exc

    @abstractmethod
    def _metrics(self, graph: GraphClient, post_id: str) -> dict[str, float]:
        """The numbers of the published object `post_id`, as METRICS names."""

    def _upload(self, graph: GraphClient, url: str, request: PostRequest, *, start: int, size: int) -> None:
        """Send the video from byte `start` to its end in ONE POST; the checkpoint holds the acknowledged end.

        rupload is "Resumable (non-chunking)": the Reels guide and IG's resumable-uploads guide send the whole
        file with `offset: 0`, and `offset` only resumes an interrupted upload (https://developers.facebook.com/
        docs/video-api/guides/reels-publishing/, https://developers.facebook.com/documentation/instagram-platform/
        content-publishing/resumable-uploads). Nothing documents a shorter body being continued, so no slices.
        """
        if 0 < start < size:
            log.info("%s: resuming the upload at byte %d of %d", request.where, start, size)

        def send(chunk: base.Chunk, data: bytes) -> None:
            graph.upload(url, chunk, data, file_size=size)
            self.checkpoint.set("uploaded", chunk.last + 1)

        base.send_chunks(request.video_path, base.byte_ranges(size, max(1, size - start), start=start), send)


class InstagramEngine(_ReelsEngine):
    """Instagram Reels: container → rupload bytes → poll `status_code` → `media_publish`."""

    name = "instagram"
    account_setting = "SHORTS_INSTAGRAM_ACCOUNT_ID"

    def _publish(self, graph: GraphClient, request: PostRequest, account: str, size: int) -> Post:
        published = self.checkpoint.get("published")
        if self.settings.dry_run:
            self._check_quota(graph, account)
            return common.dry_run_post(request)
        if not published:
            self._check_quota(graph, account)
            container, uri = self._container(graph, account, request)
            # The doc does not say how rupload reports the bytes it holds, so resume from the last
            # offset it acknowledged; a chunk sent again at that offset simply overwrites.
            self._upload(graph, uri, request, start=int(self.checkpoint.get("uploaded", 0)), size=size)
            self._wait_until_finished(graph, container)
            self._media_publish(graph, account, container, request.caption.text)  # saves "published"
            published = self.checkpoint.get("published")
        permalink = self._permalink(graph, str(published["id"]))
        return common.published_post(request, str(published["id"]), permalink, str(published["at"]))

    def _metrics(self, graph: GraphClient, post_id: str) -> dict[str, float]:
        # Permissions of the Media Insights reference (Facebook Login): instagram_basic, instagram_manage_insights,
        # pages_read_engagement (https://developers.facebook.com/docs/instagram-platform/reference/instagram-media/
        # insights, Requirements).
        metric = ",".join([*IG_REELS_COUNTS, *IG_REELS_MILLISECONDS])
        values = graph.insights(
            f"{post_id}/insights", doing="reading the Reel's insights", needs="instagram_manage_insights", metric=metric
        )
        numbers = {name: _count(values.get(source)) for source, name in IG_REELS_COUNTS.items()}
        numbers |= {name: _seconds(values.get(source)) for source, name in IG_REELS_MILLISECONDS.items()}
        # A metric without data is left out of the answer ("an empty data set instead of 0"): not a zero.
        return {name: value for name, value in numbers.items() if value is not None}

    def _media_publish(self, graph: GraphClient, account: str, container: str, caption: str) -> str:
        """`POST /{ig-user-id}/media_publish` at most once; a lost answer is looked up on the container and the
        account's media (Instagram Platform, content publishing:
        https://developers.facebook.com/docs/instagram-platform/content-publishing/)."""

        def send() -> str:
            url = f"{graph.api}/{account}/media_publish"
            response = graph.create("POST", url, doing="publishing", data={"creation_id": container})
            media_id = str(common.json_object(response).get("id") or "")
            if not media_id:
                raise base.OutcomeUnknown(f"{graph.where}: Instagram answered media_publish without a media id")
            return media_id

        def lookup() -> str | None:
            # The container's status_code turns PUBLISHED once published; the media id is then the account's
            # newest media carrying our caption (a media object does not name the container it came from).
            code = graph.get(container, doing="reading the container status", fields="status_code").get("status_code")
            if code != "PUBLISHED":
                return None  # FINISHED may still be publishing: cannot tell
            fields = "id,caption,timestamp"
            media = graph.get(f"{account}/media", doing="listing the account's media", fields=fields, limit="25")
            for item in media.get("data") or []:
                if isinstance(item, dict) and item.get("caption") == caption:
                    return str(item.get("id") or "") or None
            return None

        call = base.CreateCall(
            "POST /{ig-user-id}/media_publish",
            f"the Instagram account {account}",
            f"from the container {container} with the caption {caption[:60]!r}",
        )

        def save(media_id: str) -> None:
            self.checkpoint.set("published", {"id": media_id, "at": _now()})

        return graph.create_once(self.checkpoint, call, send=send, lookup=lookup, save=save)

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
        def read() -> bool | Pending:
            answer = graph.get(container, doing="reading the container status", fields="status_code,status")
            code = answer.get("status_code")
            if code in ("ERROR", "EXPIRED"):
                # Start from a new container next time: this one can never be published.
                self.checkpoint.clear()
                raise ProviderError(f"{graph.where}: Instagram reports the container {code}: {answer.get('status')}")
            return True if code in ("FINISHED", "PUBLISHED") else Pending(str(code or ""))

        graph.poll(read, doing="processing the video")

    def _permalink(self, graph: GraphClient, media_id: str) -> str:
        try:
            return str(graph.get(media_id, doing="reading the permalink", fields="permalink").get("permalink", ""))
        except ProviderError:
            return ""  # the post exists; a missing read permission should not fail the publish


class FacebookEngine(_ReelsEngine):
    """Facebook Page Reels: `video_reels` start → rupload bytes → finish (PUBLISHED) → poll `status`."""

    name = "facebook"
    account_setting = "SHORTS_FACEBOOK_PAGE_ID"

    def _publish(self, graph: GraphClient, request: PostRequest, page: str, size: int) -> Post:
        finished = self.checkpoint.get("finished")
        if self.settings.dry_run or not finished:
            graph.get(page, doing="reading the Page", fields="id,name")
        if self.settings.dry_run:
            return common.dry_run_post(request)
        if not finished:
            video_id, upload_url, resumed = self._start(graph, page)
            self._upload(graph, upload_url, request, start=self._uploaded(graph, video_id) if resumed else 0, size=size)
            self._finish(graph, page, video_id, request.caption.text)  # saves "finished"
            finished = self.checkpoint.get("finished")
        video_id = str(finished["id"])
        permalink = self._wait_until_published(graph, video_id)
        return common.published_post(request, video_id, permalink, str(finished["at"]))

    def _metrics(self, graph: GraphClient, post_id: str) -> dict[str, float]:
        # Video Insights needs a Page token of a person with the ANALYZE task, read_insights and
        # pages_read_engagement (https://developers.facebook.com/docs/graph-api/reference/video/video_insights,
        # Requirements; https://developers.facebook.com/docs/video-api/guides/insights).
        values = graph.insights(
            f"{post_id}/video_insights",
            doing="reading the reel's insights",
            needs="read_insights and pages_read_engagement on a Page token",
            metric=",".join(FB_REELS_METRICS),
        )
        social = values.get("post_video_social_actions")
        social = social if isinstance(social, dict) else {}
        numbers = {
            "views": _count(values.get("blue_reels_play_count")),
            "reach": _count(values.get("post_impressions_unique")),
            "likes": _count(values.get("post_video_likes_by_reaction_type")),
            "comments": _count(social.get("COMMENT")) if "COMMENT" in social else None,
            "shares": _count(social.get("SHARE")) if "SHARE" in social else None,
            "avg_view_duration_s": _seconds(values.get("post_video_avg_time_watched")),
            "watch_time_s": _seconds(values.get("post_video_view_time")),
        }
        return {name: value for name, value in numbers.items() if value is not None}

    def _finish(self, graph: GraphClient, page: str, video_id: str, description: str) -> str:
        """`upload_phase=finish&video_state=PUBLISHED` at most once; a lost answer is looked up in the video's
        status, `GET /{video-id}?fields=status` (Reels publishing guide: https://developers.facebook.com/
        documentation/video-api/guides/reels-publishing)."""

        def send() -> str:
            form = {
                "upload_phase": "finish",
                "video_id": video_id,
                "video_state": "PUBLISHED",
                "description": description,
            }
            url = f"{graph.api}/{page}/video_reels"
            answer = common.json_object(
                graph.create("POST", url, doing="finishing the upload and publishing", data=form)
            )
            if answer.get("success") is not True:
                raise base.OutcomeUnknown(f"{graph.where}: Facebook answered the finish call without success: {answer}")
            return video_id

        def lookup() -> str | None:
            # A publishing phase under way (or done, or failed) means Facebook took the finish call; not started
            # cannot tell (the call may still be landing).
            status = graph.get(video_id, doing="reading the video status", fields="status").get("status") or {}
            publishing = str((status.get("publishing_phase") or {}).get("status") or "")
            return video_id if publishing in ("in_progress", "complete", "error") else None

        def save(found: str) -> None:
            self.checkpoint.set("finished", {"id": found, "at": _now()})

        call = base.CreateCall(
            "POST /{page-id}/video_reels upload_phase=finish",
            f"the Facebook Page {page}",
            f"with the reel {video_id}",
        )
        return graph.create_once(self.checkpoint, call, send=send, lookup=lookup, save=save)

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

        def read() -> str | Pending:
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
                done = publishing.get("status") == "complete"
            else:
                done = status.get("video_status") in ("ready", "published")
            return permalink if done else Pending(str(status.get("video_status") or ""))

        return graph.poll(read, doing="processing and publishing the video")
