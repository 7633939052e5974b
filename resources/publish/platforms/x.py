"""X API v2: path-style chunked media upload (initialize, append, finalize), STATUS polling, then one post.

The checkpoint holds the media id and the segments X confirmed, so a re-execution appends only what is missing,
and the post id the moment `POST /2/tweets` answers, so a re-execution after that never posts again.

`metrics` reads a post's numbers back with the Post lookup `GET /2/tweets/{id}` on the same user-context token.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from typing import Any

import httpx

from resources.errors import ConfigurationError, InputRejected, MetricsUnavailable, ProviderError
from resources.http.deadline import Pending
from resources.publish.caption_rules import x_weighted_length
from resources.publish.captions import CAPTION_LIMITS
from resources.publish.platforms import client as base
from resources.publish.platforms.common import dry_run_post, json_object
from resources.publish.publisher import PostRequest
from resources.records import Post

log = logging.getLogger(__name__)

API_BASE = "https://api.x.com"
MIB = 1024 * 1024
# APPEND takes at most 5 MB per segment and segment_index 0–999; 4 MiB stays under 5 MB however MB is counted.
MAX_SEGMENT_BYTES = 4 * MIB
MAX_SEGMENTS = 1000
MAX_VIDEO_BYTES = 512 * MIB
# Metrics (https://docs.x.com/x-api/fundamentals/metrics): non_public_metrics and organic_metrics need a user-context
# token of the post's author and exist only for posts of the last 30 days; public_metrics is always there.
PRIVATE_FIELDS = "public_metrics,non_public_metrics,organic_metrics"
PUBLIC_FIELDS = "public_metrics"
# How X says a post is gone (200 with this problem in `errors`, or a 404) and a field is refused (in `errors`).
NOT_FOUND_PROBLEM = "resource-not-found"
FIELD_REFUSED_PROBLEM = "not-authorized-for-field"


class _MediaGone(ProviderError):
    """An append or finalize for a saved media id was refused (expired, unknown): the upload starts over."""


def segment_size(total_bytes: int, preferred: int) -> int:
    """The APPEND segment size for `total_bytes`: `preferred` within X's per-segment and segment-count limits."""
    if total_bytes <= 0:
        raise InputRejected("x: the video is empty; render it again")
    if total_bytes > MAX_VIDEO_BYTES:
        raise InputRejected(f"x: the video has {total_bytes} bytes; X takes at most {MAX_VIDEO_BYTES}")
    return min(max(preferred, math.ceil(total_bytes / MAX_SEGMENTS)), MAX_SEGMENT_BYTES)


def retry_headers(headers: Mapping[str, str], now: float | None = None) -> dict[str, str]:
    """`headers` plus a Retry-After derived from X's `x-rate-limit-reset` (epoch seconds) when none is given."""
    lowered = {name.lower(): value for name, value in headers.items()}
    reset = lowered.get("x-rate-limit-reset", "")
    if "retry-after" not in lowered and reset.strip().isdigit():
        wait = max(0.0, float(reset) - (time.time() if now is None else now))
        lowered["retry-after"] = f"{math.ceil(wait)}"
    return lowered


class XClient(base.PlatformClient):
    """X API v2: answers inside `data`, problem details on errors, rate limits in `x-rate-limit-reset`."""

    def api(self, method: str, path: str, doing: str, **kwargs: Any) -> dict[str, Any]:
        """One API call; the answer's `data`."""
        response = self.request(
            method, (self.settings.api_base_url or API_BASE).rstrip("/") + path, doing=doing, **kwargs
        )
        data = json_object(response).get("data")
        return dict(data) if isinstance(data, dict) else {}

    def failure(self, response: httpx.Response, doing: str) -> Exception:
        if response.status_code == 401:
            return base.TokenRejected()
        message = _error_message(json_object(response), response)
        if response.status_code == 403 and "duplicate" in message.lower():
            return ProviderError(
                f"{self.where}: {doing}: X says this text was already posted ({self.redact(message)}); "
                "check the account before re-posting"
            )
        return self.http_failure(response.status_code, message, doing, retry_headers(response.headers))


class XEngine(base.ApiEngine):
    """Posts a short to X: chunked media upload with the user's OAuth 2.0 token, then `POST /2/tweets`."""

    name = "x"

    def metrics(self, post: Post) -> dict[str, float]:
        """Impressions, likes, replies, reposts (with quotes) and bookmarks; public counts only when X refuses
        the non-public fields (a post older than 30 days)."""
        where = f"x[{post.partition_key}]"
        try:
            with XClient(self.settings, where) as client:
                answer = self._lookup(client, post.remote_id, PRIVATE_FIELDS)
                if "data" not in answer and _problem(answer, FIELD_REFUSED_PROBLEM):
                    log.info("%s: X refuses the non-public metrics; reading the public ones", where)
                    answer = self._lookup(client, post.remote_id, PUBLIC_FIELDS)
        except ConfigurationError as exc:  # no token, or one refused even after a refresh
            raise MetricsUnavailable("revoked", str(exc)) from None
        tweet = answer.get("data")
        if not isinstance(tweet, dict):
            found = _problem(answer, NOT_FOUND_PROBLEM) or _problem(answer, "")
            detail = str(found.get("detail") or found.get("title") or "no post in the answer") if found else ""
            status = "deleted" if _problem(answer, NOT_FOUND_PROBLEM) else "failed"
            raise MetricsUnavailable(status, f"{where}: X returns no post {post.remote_id}: {detail}")
        return post_metrics(tweet)

    @staticmethod
    def _lookup(client: XClient, tweet_id: str, fields: str) -> dict[str, Any]:
        """`GET /2/tweets/{id}` (https://docs.x.com/x-api/posts/lookup/quickstart): the whole answer, whose
        `errors` may stand in for `data` in a 200; a 404 is a post that is gone."""
        api = (client.settings.api_base_url or API_BASE).rstrip("/")

        def check(response: httpx.Response, doing: str) -> None:
            if response.status_code == 404:
                message = _error_message(json_object(response), response)
                raise MetricsUnavailable("deleted", f"{client.where}: {doing}: X has no post {tweet_id} ({message})")
            client.check(response, doing)

        response = client.request(
            "GET", f"{api}/2/tweets/{tweet_id}", doing="post lookup", params={"tweet.fields": fields}, check=check
        )
        return json_object(response)

    def publish(self, request: PostRequest) -> Post:
        """Upload the video and post the caption with it; a dry run stops before the first upload call."""
        text = request.caption.text
        # X counts weighted characters (URLs 23, emoji and CJK 2): https://docs.x.com/fundamentals/counting-characters
        weighted = x_weighted_length(text)
        if not text.strip() or weighted > CAPTION_LIMITS["x"]:
            raise InputRejected(f"{request.where}: the post text has {weighted} weighted characters; X takes 1–280")
        total = request.video_path.stat().st_size
        segment = segment_size(total, self.settings.chunk_size_bytes)
        with XClient(self.settings, request.where) as client:
            if self.settings.dry_run:
                return dry_run_post(request)
            tweet_id = str(self.checkpoint.get("tweet_id") or "")
            if tweet_id:
                log.info("%s: X already answered post %s; not posting again", request.where, tweet_id)
            else:
                media_id = self._upload(client, request, total, segment)
                self._await_processing(client, media_id)
                tweet_id = self._tweet(client, text, media_id)
        return request.post("published", tweet_id, f"https://x.com/i/web/status/{tweet_id}").model_copy(
            update={"upload_id": str(self.checkpoint.get("media_id") or "")}
        )

    def _upload(self, client: XClient, request: PostRequest, total: int, segment: int) -> str:
        """The finalized media id: the saved upload resumed when possible, else a new one."""
        checkpoint = self.checkpoint
        media_id = str(checkpoint.get("media_id") or "")
        if media_id and checkpoint.get("finalized"):
            return media_id
        fresh = checkpoint.get("expires_at", 0) > time.time() + 60
        if media_id and fresh and checkpoint.get("plan") == [total, segment]:
            try:
                self._append(client, request, media_id, total, segment, int(checkpoint.get("segments_done", 0)))
                return self._finalize(client, media_id)
            except _MediaGone as exc:
                log.warning("%s: the saved media id was refused (%s); starting over", request.where, exc)
        checkpoint.clear()
        body = {"media_type": "video/mp4", "total_bytes": total, "media_category": "amplify_video"}
        data = client.api("POST", "/2/media/upload/initialize", "media initialize", json=body)
        media_id = str(data.get("id") or "")
        if not media_id:
            raise ProviderError(f"{request.where}: X media initialize answered without an id: {sorted(data)}")
        checkpoint.set("plan", [total, segment])
        checkpoint.set("expires_at", time.time() + float(data.get("expires_after_secs") or 86400))
        checkpoint.set("media_key", str(data.get("media_key") or ""))  # how a lookup recognises our post
        checkpoint.set("media_id", media_id)
        self._append(client, request, media_id, total, segment, 0)
        return self._finalize(client, media_id)

    def _append(
        self, client: XClient, request: PostRequest, media_id: str, total: int, segment: int, start: int
    ) -> None:
        """APPEND segments `start`.. in order; each confirmed segment is checkpointed before the next."""
        segments = base.byte_ranges(total, segment)

        def append(chunk: base.Chunk, data: bytes) -> None:
            try:
                client.api(
                    "POST",
                    f"/2/media/upload/{media_id}/append",
                    f"media append {chunk.index + 1}/{len(segments)}",
                    data={"segment_index": str(chunk.index)},
                    files={"media": ("segment", data, "application/octet-stream")},
                )
            except ProviderError as exc:
                raise _MediaGone(str(exc)) from None
            self.checkpoint.set("segments_done", chunk.index + 1)

        base.send_chunks(request.video_path, segments[start:], append)

    def _finalize(self, client: XClient, media_id: str) -> str:
        try:
            data = client.api("POST", f"/2/media/upload/{media_id}/finalize", "media finalize")
        except ProviderError as exc:
            raise _MediaGone(str(exc)) from None  # X will not finalize this media: a resume starts over
        self.checkpoint.set("finalized", True)
        self.checkpoint.set("processing", data.get("processing_info") is not None)
        return media_id

    def _await_processing(self, client: XClient, media_id: str) -> None:
        """Poll STATUS as X asks (check_after_secs, capped by poll_interval_s) until the video is ready."""
        if self.checkpoint.get("processing") is False:
            return  # FINALIZE gave no processing_info: the media is ready

        def read() -> bool | Pending:
            params = {"command": "STATUS", "media_id": media_id}
            info = client.api("GET", "/2/media/upload", "media status", params=params).get("processing_info") or {}
            state = str(info.get("state", "succeeded"))
            if state == "succeeded":
                self.checkpoint.set("processing", False)
                return True
            if state == "failed":
                self.checkpoint.clear()  # X will not take this media: a re-execution uploads again
                message = (info.get("error") or {}).get("message", "no reason given")
                raise ProviderError(f"{client.where}: X could not process the video: {message}")
            return Pending(state, wait_s=float(info.get("check_after_secs") or 0) or None)

        client.poll(read, doing="processing the video")

    def _tweet(self, client: XClient, text: str, media_id: str) -> str:
        """`POST /2/tweets` at most once; a lost answer is looked up on the account's timeline."""
        media_key = str(self.checkpoint.get("media_key") or "")
        api = (self.settings.api_base_url or API_BASE).rstrip("/")

        def send() -> str:
            body = {"text": text, "media": {"media_ids": [media_id]}}
            response = client.create("POST", f"{api}/2/tweets", doing="post", json=body)
            tweet_id = str((json_object(response).get("data") or {}).get("id") or "")
            if not tweet_id:
                raise base.OutcomeUnknown(f"{client.where}: X answered the post without an id")
            return tweet_id

        def lookup() -> str | None:
            # The user's Posts timeline, GET /2/users/{id}/tweets with expansions=attachments.media_keys
            # (https://docs.x.com/x-api/posts/timelines/introduction): our post is the one carrying our media.
            me = str(client.api("GET", "/2/users/me", "reading the account").get("id") or "")
            # No `tweet.fields`: id and text come by default, and X's OpenAPI document (2.167) names it post.fields.
            params = {"max_results": "20", "expansions": "attachments.media_keys"}
            answer = client.request("GET", f"{api}/2/users/{me}/tweets", doing="reading the timeline", params=params)
            for tweet in json_object(answer).get("data") or []:
                keys = (tweet.get("attachments") or {}).get("media_keys") or []
                if (media_key and media_key in keys) or (not media_key and tweet.get("text") == text):
                    return str(tweet.get("id") or "") or None
            return None

        marker = f"with the video of media key {media_key}" if media_key else f"with the text {text[:60]!r}"
        call = base.CreateCall("POST /2/tweets", "the X account the token belongs to (shorts auth x)", marker)
        return client.create_once(
            self.checkpoint,
            call,
            send=send,
            lookup=lookup,
            save=lambda tweet_id: self.checkpoint.set("tweet_id", tweet_id),
        )


def post_metrics(tweet: Mapping[str, Any]) -> dict[str, float]:
    """METRICS from a post object: "Retweets and comments" as X shows them is retweet_count + quote_count
    (https://docs.x.com/x-api/fundamentals/metrics); impressions from the non-public, organic or public counts."""
    public = tweet.get("public_metrics") or {}
    private = tweet.get("non_public_metrics") or {}
    organic = tweet.get("organic_metrics") or {}
    values: dict[str, float] = {}
    counted = [group["impression_count"] for group in (private, organic, public) if "impression_count" in group]
    impressions = next((count for count in counted if count is not None), None)
    if impressions is not None:
        values["impressions"] = float(impressions)
    for field, metric in (("like_count", "likes"), ("reply_count", "comments"), ("bookmark_count", "saves")):
        if public.get(field) is not None:
            values[metric] = float(public[field])
    if public.get("retweet_count") is not None:
        values["shares"] = float(public["retweet_count"]) + float(public.get("quote_count") or 0)
    return values


def _problem(answer: Mapping[str, Any], kind: str) -> dict[str, Any]:
    """The first problem in the answer's `errors` whose `type` ends with `kind` ({} when none)."""
    for problem in answer.get("errors") or []:
        if isinstance(problem, dict) and str(problem.get("type", "")).endswith(kind):
            return problem
    return {}


def _error_message(payload: Mapping[str, Any], response: httpx.Response) -> str:
    """X's problem details (`detail`/`title`) or v1-style `errors[].message`, else the raw text."""
    if payload.get("detail") or payload.get("title"):
        return str(payload.get("detail") or payload.get("title"))
    errors = payload.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return str(errors[0].get("message") or errors[0])
    return response.text[:200]
