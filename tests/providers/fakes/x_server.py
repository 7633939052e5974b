"""A local X API v2 for tests: real HTTP on 127.0.0.1 speaking the path-style chunked media upload and posts.

Routes: `POST /2/media/upload/initialize` (JSON), `POST /2/media/upload/{id}/append` (multipart `segment_index`,
`media`), `POST /2/media/upload/{id}/finalize`, `GET /2/media/upload?command=STATUS&media_id=`, `POST /2/tweets`,
all behind `Authorization: Bearer`. Errors are X's problem details (`title`, `detail`, `type`, `status`).
Appends must arrive in order and within the segment limit; FINALIZE checks the byte total; STATUS goes
pending → in_progress → succeeded (or failed) over polls. Faults are scripted per route; `fail_after_next`
answers an error although the request took effect (the post exists, the client never learns its id), and
`lose_answer_after_next` loses the answer of a request that took effect (held past the client's timeout, or cut).
`GET /2/users/me` and the user's Posts timeline `GET /2/users/{id}/tweets` are what a lookup reads.
The Post lookup `GET /2/tweets/{id}?tweet.fields=` answers the metrics (https://docs.x.com/x-api/fundamentals/
metrics): public_metrics always; non_public_metrics and organic_metrics only for the user's own posts of the
last 30 days (`age_post` makes one older), else a 200 whose `errors` hold X's not-authorized-for-field problem and
no `data`. A deleted post is a 200 with the resource-not-found problem ("Not Found Error"), as X answers.
Every authorized request is checked against X's OpenAPI document (`tests/data/specs/x.json`, see `openapi_check`):
a violation is answered with X's 400 problem and fails the test when the fake stops.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

from resources.publish.caption_rules import x_weighted_length
from tests.providers.fakes import base
from tests.providers.fakes.base import FakeServer, Faults, Reply, route
from tests.providers.fakes.openapi_check import SpecChecked

MIB = 1024 * 1024


class Recorded(base.Recorded):
    @property
    def form(self) -> dict[str, bytes]:
        """The multipart fields (`segment_index`, `media`): name -> bytes."""
        return {part.name: part.data for part in self.parts if part.name}


@dataclass
class Fault(base.Fault):
    """A scripted error or dropped connection; `after_effect`: the request takes effect, then the error."""

    after_effect: bool = False


@dataclass
class Media:
    media_id: str
    total_bytes: int
    media_category: str
    segments: dict[int, bytes] = field(default_factory=dict)
    finalized: bool = False
    status_polls: int = 0
    error: str = ""

    @property
    def received(self) -> bytes:
        return b"".join(self.segments[index] for index in sorted(self.segments))


def problem(status: int, title: str, detail: str) -> dict[str, Any]:
    return {"title": title, "detail": detail, "type": "about:blank", "status": status}


def error(status: int, title: str, detail: str) -> Reply:
    return Reply(status, problem(status, title, detail))


def json_object(request: Recorded) -> dict[str, Any]:
    """The JSON object body; {} when the body is not one or is not sent as application/json."""
    sent_as_json = request.content_type.startswith("application/json")
    return request.json if sent_as_json and isinstance(request.json, dict) else {}


PRIVATE_FIELDS = ("non_public_metrics", "organic_metrics", "promoted_metrics")


class FakeX(SpecChecked, FakeServer[Recorded]):
    """Context manager running the fake on a free port; `.base_url` replaces https://api.x.com."""

    record_type = Recorded
    json_type = "application/json; charset=utf-8"
    spec_name = "x.json"
    # X's OpenAPI document 2.167 names the Post fields parameter `post.fields`; the API reference and the metrics
    # page request them as `tweet.fields` (https://docs.x.com/x-api/fundamentals/metrics,
    # https://docs.x.com/x-api/posts/lookup/quickstart), which is what the client sends.
    spec_amendments: ClassVar[dict[str, Any]] = {"/components/parameters/PostFieldsParameter/name": "tweet.fields"}

    def __init__(self, access_token: str = "x-user-token") -> None:
        super().__init__()
        self.access_token = access_token
        self.max_segment_bytes = 5 * MIB
        self.processing_polls = 2  # STATUS answers before `succeeded`
        self.check_after_secs = 1
        self.media: dict[str, Media] = {}
        self.tweets: list[dict[str, Any]] = []
        self.user_id = "1500000000000000001"
        self.timeline_hides_newest = 0  # the timeline lags: the newest posts are not listed yet
        self.faults: Faults[Fault] = Faults()
        self._next_processing_error = ""
        self.metrics: dict[str, dict[str, dict[str, int]]] = {}  # post id -> public/non_public/organic counts
        self.aged: set[str] = set()  # posts older than 30 days: their non-public metrics are refused

    # --- scripting -------------------------------------------------------------------------------------------
    def fail_next(
        self,
        route: str,
        status: int = 500,
        detail: str = "Internal error",
        *,
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """The next `times` requests to `route` (initialize, append, append:<index>, finalize, status, tweets)
        get this error."""
        self.faults.add(Fault(route, status, problem(status, "Error", detail), headers or {}, times=times))

    def drop_next(self, route: str, *, times: int = 1) -> None:
        """The next `times` requests to `route` are read, then the connection is closed without an answer."""
        self.faults.add(Fault(route, drop=True, times=times))

    def fail_after_next(self, route: str, status: int = 503, detail: str = "Service Unavailable") -> None:
        """The next request to `route` takes effect, then is answered with this error."""
        self.faults.add(Fault(route, status, problem(status, "Error", detail), after_effect=True))

    def lose_answer_after_next(self, route: str, *, how: str = "timeout") -> None:
        """The next request to `route` takes effect, then its answer is lost: held until the client's next
        request (`timeout`: the client gives up first) or the connection closed unanswered (`drop`)."""
        self.faults.add(Fault(route, status=None, drop=how == "drop", hold=how == "timeout", after_effect=True))

    def seed_post(
        self,
        tweet_id: str,
        *,
        impressions: int = 0,
        likes: int = 0,
        replies: int = 0,
        retweets: int = 0,
        quotes: int = 0,
        bookmarks: int = 0,
    ) -> None:
        """A post of the user with these counts (impressions in all three groups, as X reports them)."""
        self.tweets.append({"id": tweet_id, "text": f"post {tweet_id}", "media_ids": []})
        public = {"retweet_count": retweets, "reply_count": replies, "like_count": likes, "quote_count": quotes}
        public |= {"bookmark_count": bookmarks, "impression_count": impressions}
        private = {"impression_count": impressions, "url_link_clicks": 0, "user_profile_clicks": 0}
        organic = private | {"retweet_count": retweets, "reply_count": replies, "like_count": likes}
        self.metrics[tweet_id] = {"public_metrics": public, "non_public_metrics": private, "organic_metrics": organic}

    def age_post(self, tweet_id: str) -> None:
        """The post is now older than 30 days: X no longer gives its non-public metrics."""
        self.aged.add(tweet_id)

    def delete_post(self, tweet_id: str) -> None:
        self.tweets = [tweet for tweet in self.tweets if tweet["id"] != tweet_id]
        self.metrics.pop(tweet_id, None)

    def fail_next_processing(self, message: str) -> None:
        """The next media's processing ends in `failed` with this message."""
        self._next_processing_error = message

    # --- protocol --------------------------------------------------------------------------------------------
    def answer(self, request: Recorded) -> Reply | None:
        """The reply to one request; None drops the connection."""
        if not request.route:
            return error(404, "Not Found Error", f"{request.method} {request.path} does not exist")
        if not request.bearer_is(self.access_token):
            return error(401, "Unauthorized", "Unauthorized")
        problems = self.spec_problems(request)
        if problems:
            return error(400, "Invalid Request", "; ".join(problems))
        segment = request.form.get("segment_index", b"") if request.route == "append" else b""
        fault = self.faults.take(*([f"append:{int(segment)}"] if segment.isdigit() else []), request.route)
        if fault is not None and not fault.after_effect:
            return fault.reply()
        answer = self.dispatch(request)
        if fault is not None and fault.hold:
            self.hold_until_next_request(request)  # the client times out before this answer goes out
            return answer
        return fault.reply() if fault is not None else answer

    def _media(self, media_id: str) -> Media | Reply:
        """The media `media_id` names, or X's answer for an unknown one."""
        return self.media.get(media_id) or error(400, "Invalid Request", f"media_id {media_id} is unknown or expired")

    @route("initialize", "POST", "/2/media/upload/initialize")
    def _initialize(self, request: Recorded) -> Reply:
        body = json_object(request)
        total = body.get("total_bytes")
        if body.get("media_type") != "video/mp4" or not isinstance(total, int) or not 0 < total <= 512 * MIB:
            return error(400, "Invalid Request", "media_type video/mp4 and total_bytes 1–512 MiB needed")
        if body.get("media_category") not in ("amplify_video", "tweet_video"):
            return error(400, "Invalid Request", "media_category must be a video category")
        media_id = str(1_880_000_000_000_000_000 + len(self.media) + 1)
        self.media[media_id] = Media(media_id, total, body["media_category"], error=self._next_processing_error)
        self._next_processing_error = ""
        data = {"id": media_id, "media_key": f"7_{media_id}", "expires_after_secs": 86400}
        return Reply(200, {"data": data})

    @route("append", "POST", r"/2/media/upload/(?P<media_id>\d+)/append")
    def _append(self, request: Recorded) -> Reply:
        media = self._media(request.args["media_id"])
        if isinstance(media, Reply):
            return media
        form = request.form
        index_text, chunk = form.get("segment_index", b""), form.get("media")
        if media.finalized or not index_text.isdigit() or chunk is None:
            return error(400, "Invalid Request", "multipart segment_index and media are required")
        index = int(index_text)
        # In order, no gaps; re-sending a segment replaces it (what a retry after a lost answer does).
        if index > len(media.segments) or index > 999 or not 0 < len(chunk) <= self.max_segment_bytes:
            return error(400, "Invalid Request", f"segment {index} is out of order or of a bad size")
        media.segments[index] = chunk
        return Reply(200, {"data": {"expires_at": int(time.time()) + 86400}})

    @route("finalize", "POST", r"/2/media/upload/(?P<media_id>\d+)/finalize")
    def _finalize(self, request: Recorded) -> Reply:
        media = self._media(request.args["media_id"])
        if isinstance(media, Reply):
            return media
        if len(media.received) != media.total_bytes:
            detail = f"received {len(media.received)} of {media.total_bytes} bytes"
            return error(400, "Invalid Request", detail)
        media.finalized = True
        info = {"state": "pending", "check_after_secs": self.check_after_secs}
        data = {"id": media.media_id, "media_key": f"7_{media.media_id}", "size": media.total_bytes}
        return Reply(200, {"data": data | {"expires_after_secs": 86400, "processing_info": info}})

    @route("status", "GET", "/2/media/upload")
    def _status(self, request: Recorded) -> Reply:
        media = self._media(request.query.get("media_id", ""))
        if isinstance(media, Reply):
            return media
        if request.query.get("command") != "STATUS" or not media.finalized:
            return error(400, "Invalid Request", "STATUS needs a finalized media_id")
        media.status_polls += 1
        info: dict[str, Any] = {"state": "in_progress", "check_after_secs": self.check_after_secs}
        info["progress_percent"] = min(99, 100 * media.status_polls // (self.processing_polls + 1))
        if media.status_polls > self.processing_polls:
            info = {"state": "failed", "error": {"code": 1, "name": "InvalidMedia", "message": media.error}}
            if not media.error:
                info = {"state": "succeeded", "progress_percent": 100}
        return Reply(200, {"data": {"id": media.media_id, "media_key": f"7_{media.media_id}", "processing_info": info}})

    @route("me", "GET", "/2/users/me")
    def _me(self, request: Recorded) -> Reply:
        return Reply(200, {"data": {"id": self.user_id, "name": "Shorts Lab", "username": "shortslab"}})

    @route("timeline", "GET", r"/2/users/(?P<user_id>\d+)/tweets")
    def _timeline(self, request: Recorded) -> Reply:
        """The user's Posts, newest first; `attachments` only with expansions=attachments.media_keys."""
        if request.args["user_id"] != self.user_id:
            return error(404, "Not Found Error", f"Could not find user with id: [{request.args['user_id']}].")
        count = request.query.get("max_results", "10")
        if not count.isdigit() or not 5 <= int(count) <= 100:
            return error(400, "Invalid Request", "max_results must be between 5 and 100")
        expanded = "attachments.media_keys" in request.query.get("expansions", "").split(",")
        tweets = []
        listed = self.tweets[: len(self.tweets) - self.timeline_hides_newest]
        for tweet in reversed(listed[-int(count) :]):
            shown = {"id": tweet["id"], "text": tweet["text"], "edit_history_tweet_ids": [tweet["id"]]}
            if expanded:
                shown["attachments"] = {"media_keys": [f"7_{media_id}" for media_id in tweet["media_ids"]]}
            tweets.append(shown)
        meta = {"result_count": len(tweets)} | ({"newest_id": tweets[0]["id"]} if tweets else {})
        return Reply(200, ({"data": tweets} if tweets else {}) | {"meta": meta})

    @route("tweets", "POST", "/2/tweets")
    def _tweet(self, request: Recorded) -> Reply:
        body = json_object(request)
        text = body.get("text")
        media_ids = (body.get("media") or {}).get("media_ids")
        # X's own rule: 280 weighted characters (https://docs.x.com/fundamentals/counting-characters).
        if not isinstance(text, str) or not text or x_weighted_length(text) > 280:
            return error(400, "Invalid Request", "text must be 1–280 weighted characters")
        if not isinstance(media_ids, list) or len(media_ids) != 1:
            return error(400, "Invalid Request", "one video per post: media.media_ids needs one id")
        media = self.media.get(str(media_ids[0]))
        if media is None or media.status_polls <= self.processing_polls or media.error:
            return error(400, "Invalid Request", "the media is not processed yet")
        if any(tweet["text"] == text for tweet in self.tweets):
            detail = "You are not allowed to create a Tweet with duplicate content."
            return error(403, "Forbidden", detail)
        tweet = {"id": str(1_890_000_000_000_000_000 + len(self.tweets) + 1), "text": text, "media_ids": media_ids}
        self.tweets.append(tweet)
        return Reply(201, {"data": {"id": tweet["id"], "text": text}})

    @route("lookup", "GET", r"/2/tweets/(?P<tweet_id>[^/]+)")
    def _lookup(self, request: Recorded) -> Reply:
        """One post with the `tweet.fields` asked for; problems in a 200, as X answers a lookup."""
        tweet_id = request.args["tweet_id"]
        tweet = next((t for t in self.tweets if t["id"] == tweet_id), None)
        if tweet is None:
            detail = f"Could not find tweet with id: [{tweet_id}]."
            found = {"value": tweet_id, "detail": detail, "title": "Not Found Error", "resource_type": "tweet"}
            found |= {
                "parameter": "id",
                "resource_id": tweet_id,
                "type": "https://api.x.com/2/problems/resource-not-found",
            }
            return Reply(200, {"errors": [found]})
        fields = [name for name in request.query.get("tweet.fields", "").split(",") if name]
        refused = [name for name in fields if name in PRIVATE_FIELDS and tweet_id in self.aged]
        if refused:
            problems = [
                {
                    "resource_type": "tweet",
                    "field": name,
                    "parameter": "tweet.fields",
                    "resource_id": tweet_id,
                    "title": "Field Authorization Error",
                    "section": "data",
                    "detail": f"Sorry, you are not authorized to access '{name}' on the Tweet with id: [{tweet_id}].",
                    "value": tweet_id,
                    "type": "https://api.x.com/2/problems/not-authorized-for-field",
                }
                for name in refused
            ]
            return Reply(200, {"errors": problems})
        shown: dict[str, Any] = {"id": tweet_id, "text": tweet["text"], "edit_history_tweet_ids": [tweet_id]}
        counts = self.metrics.get(tweet_id, {})
        for name in fields:
            if name in counts:
                shown[name] = counts[name]
        return Reply(200, {"data": shown})
