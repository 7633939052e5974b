"""A local Meta server for tests: Graph API (`/v27.0/...`) and rupload (`/ig-api-upload/...`, `/video-upload/...`)
on one real HTTP server on 127.0.0.1.

Instagram: `content_publishing_limit`, `POST /{ig-user}/media` (REELS, resumable) → `{id, uri}`, rupload with
`offset`/`file_size`, container `status_code` IN_PROGRESS → FINISHED over polls, `media_publish`, `permalink`.
Facebook: `GET /{page}`, `POST /{page}/video_reels` start/finish, rupload, `GET /{video}?fields=status` whose
phases progress over polls (with `uploading_phase.bytes_transferred`).
Graph calls need `Authorization: Bearer <token>` (or `access_token=`); rupload needs `Authorization: OAuth <token>`.
Faults are scripted per route (`fail`, `drop`, `expire_token_once`, `error_container`); bytes are stored per
object so tests can compare them with the file, and `published` counts posts. `lose_answer_after("publish")` /
`("finish")` lets the call take effect and loses its answer; the lookups read `GET /{container}?fields=status_code`
(PUBLISHED), `GET /{ig-user}/media` (newest first, `media_listing_hides_newest` to lag) and the video's
`status.publishing_phase` (in_progress from the finish call on).

Tokens have kinds, as Meta's do (https://developers.facebook.com/docs/facebook-login/guides/access-tokens/
get-long-lived): `GET|POST /oauth/access_token` turns a code into a short-lived user token and
`grant_type=fb_exchange_token` a valid user token into a long-lived one; any other grant (Meta has no
`refresh_token` grant) is refused in Graph's error envelope. `GET /{page}?fields=access_token` with a user token
gives a Page token (no expiry when derived from a long-lived user token). Instagram routes take user tokens; the
Facebook Reels routes (video_reels, rupload, the video's status) refuse anything but a Page token, as the Reels guide
requires ("A Page access token", https://developers.facebook.com/documentation/video-api/guides/reels-publishing),
with code 190 "This method must be called with a Page Access Token" (the message Graph gives; the envelope is
https://developers.facebook.com/docs/graph-api/guides/error-handling). rupload takes the rest of the file in one
POST: `offset` only resumes where an interrupted POST stopped (the Reels guide calls it "Resumable (non-chunking)").
"""

from __future__ import annotations

import itertools
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from tests.providers.fakes import base
from tests.providers.fakes.base import Exchange, FailAndDrop, FakeServer, Faults, Reply

VERSION = "v27.0"
UPLOAD_KINDS = {"ig-api-upload": "ig", "video-upload": "fb"}  # rupload's first path segment
SHORT_LIVED_S = 2 * 3600  # "short-lived, expiring in hours"
LONG_LIVED_S = 5183944  # the sample answer's expires_in (about 60 days)
USER_KINDS = ("user_short", "user_long")
FB_ROUTES = ("start", "finish", "video_insights")  # plus the fb rupload and the fb video's status
# Instagram Media Insights for REELS as of v22.0+ (https://developers.facebook.com/docs/instagram-platform/reference/
# instagram-media/insights): `plays`, `clips_replays_count`, `ig_reels_aggregated_all_plays_count` and `impressions`
# are deprecated for all versions since 2025-04-21 and refused like any unknown name.
IG_REELS_METRICS = (
    "views", "reach", "likes", "comments", "shares", "saved", "total_interactions", "ig_reels_avg_watch_time",
    "ig_reels_video_view_total_time",
)  # fmt: skip
# Video Insights "Reels Metrics" (https://developers.facebook.com/docs/graph-api/reference/video/video_insights).
FB_REELS_METRICS = (
    "blue_reels_play_count", "post_impressions_unique", "post_video_avg_time_watched",
    "post_video_likes_by_reaction_type", "post_video_social_actions", "post_video_view_time",
)  # fmt: skip


@dataclass
class Token:
    """What the fake knows of a token it issued: its kind and when it ends (None: never)."""

    kind: Literal["user_short", "user_long", "page"]
    expires_at: float | None
    revoked: bool = False

    @property
    def expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= time.time()


class Recorded(base.Recorded):
    @property
    def params(self) -> dict[str, str]:
        """Where Graph reads its parameters: the query, and the fields of a form body."""
        form = self.urlencoded if self.content_type.startswith("application/x-www-form-urlencoded") else {}
        return self.query | form

    @property
    def segments(self) -> list[str]:
        return [segment for segment in self.path.split("/") if segment]

    @property
    def offset(self) -> int:
        return int(self.headers.get("offset", 0) or 0)


@dataclass
class Fault(base.Fault):
    """`times` answers on `route`: an HTTP error or, with `drop`, a connection cut mid-body."""

    min_offset: int = 0  # uploads: only at this offset or later
    after_effect: bool = False  # the request takes effect, then the scripted answer (or none) goes out


@dataclass
class Upload:
    """An IG container or a FB video: the bytes received so far and its processing state."""

    kind: str  # "ig" or "fb"
    owner: str
    caption: str = ""
    file_size: int | None = None
    data: bytearray = field(default_factory=bytearray)
    polls: int = 0
    published_id: str = ""
    fail_with: str = ""  # IG container ERROR status text

    @property
    def complete(self) -> bool:
        return self.file_size is not None and len(self.data) >= self.file_size


def graph_error(message: str, code: int, subcode: int | None = None, kind: str = "OAuthException") -> dict[str, Any]:
    error: dict[str, Any] = {"message": message, "type": kind, "code": code, "fbtrace_id": "AfakeTrace123"}
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": error}


def error(status: int, message: str, code: int, subcode: int | None = None) -> Reply:
    return Reply(status, graph_error(message, code, subcode))


def missing_object(object_id: str) -> Reply:
    """Graph's answer for an object that does not exist (deleted): code 100, subcode 33."""
    message = (
        f"Unsupported get request. Object with ID '{object_id}' does not exist, cannot be loaded due to missing "
        "permissions, or does not support this operation. Please read the Graph API documentation at "
        "https://developers.facebook.com/docs/graph-api"
    )
    return Reply(400, graph_error(message, 100, 33, "GraphMethodException"))


class FakeMeta(FailAndDrop[Fault], FakeServer[Recorded]):
    """Context manager; `.base_url` serves as both `api_base_url` and `upload_base_url`.

    `fail(route, status=, body=, times=, headers=, min_offset=)` and `drop(route, times=, min_offset=)` script
    faults on the routes upload, limit, media, publish, start, finish, page, permalink and status (uploads: only
    at `offset >= min_offset`).
    """

    record_type = Recorded
    fault_type = Fault
    protocol_version = "HTTP/1.1"

    def __init__(
        self,
        *,
        token: str = "meta-test-token",
        page_token: str = "meta-page-token",
        ig_user: str = "17841400000000001",
        page: str = "100000000000001",
        app_id: str = "fake-meta-app",
        app_secret: str = "fake-meta-secret",
    ) -> None:
        super().__init__()
        self.token = token  # a long-lived user token
        self.page_token = page_token  # a Page token of `page` that does not expire
        self.tokens: dict[str, Token] = {token: Token("user_long", time.time() + LONG_LIVED_S)}
        self.tokens[page_token] = Token("page", None)
        self.app_id, self.app_secret = app_id, app_secret  # the app: client_id/secret, and the app token id|secret
        self.page_admin = True  # whether the user behind the user tokens may CREATE_CONTENT on `page`
        self.ig_user = ig_user
        self.page = page
        self.processing_polls = 2  # status polls answered IN_PROGRESS/processing after the bytes are complete
        self.quota_usage = 0
        self.quota_total = 50
        self.uploads: dict[str, Upload] = {}
        self.media: dict[str, str] = {}  # IG media id -> container id
        self.published = 0
        self.media_listing_hides_newest = 0  # the media list lags: the newest media are not listed yet
        self.faults: Faults[Fault] = Faults()
        self._expire_once = False
        self._container_error = ""
        self._ids = itertools.count(900000000000001)
        # What `debug_token` reports of every token's scopes (read with the app token `app_id|app_secret`).
        self.token_scopes = [
            "instagram_basic", "instagram_content_publish", "pages_show_list", "pages_read_engagement",
            "pages_manage_posts", "business_management",
        ]  # fmt: skip
        self.linked_ig_user = ig_user  # the IG professional account linked to `page` ("" = none)
        self.token_scopes += ["instagram_manage_insights", "read_insights"]
        # What the insights edges answer: object id (IG media, FB video) -> metric name -> lifetime value. A metric
        # missing here is left out of the answer, as Meta does for one without data.
        self.insights: dict[str, dict[str, Any]] = {}
        self.deleted: set[str] = set()  # published objects deleted since

    # --- scripting ---------------------------------------------------------------------------------------
    def scripted_error(self, status: int) -> Any:
        return graph_error("An unexpected error has occurred.", 2)

    def lose_answer_after(self, route: str, *, how: str = "timeout", status: int = 503) -> None:
        """The next request to `route` (publish, finish) takes effect, then its answer is lost: held until the
        client's next request (`timeout`), cut (`drop`) or replaced by a 5xx (`status`)."""
        body = graph_error("An unexpected error has occurred. Please retry your request later.", 2)
        self.faults.add(Fault(route, status, body, drop=how == "drop", hold=how == "timeout", after_effect=True))

    def rate_limit(self, route: str, *, times: int = 1) -> None:
        """Graph code 4 (application request limit) on HTTP 400, as Meta sends it."""
        self.fail(route, status=400, body=graph_error("(#4) Application request limit reached", 4), times=times)

    def expire_token_once(self) -> None:
        """The next Graph call answers code 190 (expired token); later ones succeed."""
        self._expire_once = True

    def error_container(self, message: str = "Error: Video format is not supported (2207026)") -> None:
        """Every IG container created from now on ends in status_code ERROR with this status text."""
        self._container_error = message

    def delete(self, object_id: str) -> None:
        """The post is deleted on the platform: reads of it answer Graph's missing-object error."""
        with self.lock:
            self.deleted.add(object_id)

    def revoke(self, token: str) -> None:
        """The person removed the app: this token answers code 190, subcode 458."""
        with self.lock:
            self.tokens[token].revoked = True

    def issue(self, kind: Literal["user_short", "user_long", "page"], expires_in: float | None) -> str:
        """A new token of `kind` the fake accepts (`expires_in` None: it never expires)."""
        token = f"EAA{kind.replace('_', '')}{secrets.token_hex(6)}"
        with self.lock:
            self.tokens[token] = Token(kind, None if expires_in is None else time.time() + expires_in)
        return token

    def token_requests(self) -> list[Recorded]:
        """Every call to `oauth/access_token`, whatever its grant."""
        return self.calls("token")

    # --- views for tests ---------------------------------------------------------------------------------
    def received(self, object_id: str) -> bytes:
        return bytes(self.uploads[object_id].data)

    def routes(self, route: str) -> list[Recorded]:
        return self.calls(route)

    # --- protocol ----------------------------------------------------------------------------------------
    def route_of(self, request: Recorded) -> str:
        """The endpoint's name, for scripting faults: upload, limit, media, publish, start, finish, page,
        permalink, status."""
        segments = request.segments
        if segments and segments[0] in UPLOAD_KINDS:
            return "upload"
        tail = segments[1:]
        if tail == ["oauth", "access_token"]:
            return "token"
        if tail in (["debug_token"], ["me"], ["me", "accounts"]):
            return "_".join(tail)
        if len(tail) == 2:
            edges = {
                "content_publishing_limit": "limit",
                "media": "media",
                "media_publish": "publish",
                "insights": "insights",
                "video_insights": "video_insights",
            }
            return edges.get(tail[1]) or request.params.get("upload_phase", "unknown")
        if len(tail) == 1:
            if tail[0] in (self.page, self.ig_user):
                return "page"
            return "permalink" if tail[0] in self.media else "status"
        return "unknown"

    def handle(self, exchange: Exchange) -> None:
        """Faults on uploads act before the body is read: a drop keeps the half it got and logs nothing."""
        request = self.request_of(exchange)
        fault = None
        if request.route == "upload":
            fault = self.faults.take("upload", where=lambda f: request.offset >= f.min_offset)
            if fault is not None and fault.drop:
                exchange.cut(exchange.content_length // 2, lambda half: self._keep(request, half))
                return
        request.body = exchange.read_body()
        request.route = self.route_of(request)  # a form body may name the upload phase
        if request.route != "upload":
            fault = self.faults.take(request.route, where=lambda f: request.offset >= f.min_offset)
        self.log(request)
        exchange.send(self.answer(request, fault))

    def _keep(self, request: Recorded, half: bytes) -> None:
        """Store the part of a cut body that arrived (the server got it) where it belongs."""
        upload = self.uploads.get(request.segments[-1])
        if upload is not None and request.offset <= len(upload.data):
            with self.lock:
                upload.data[request.offset : request.offset + len(half)] = half

    def answer(self, request: Recorded, fault: Fault | None = None) -> Reply | None:
        segments, route = request.segments, request.route
        version = segments[1] if route == "upload" and len(segments) > 1 else (segments[0] if segments else "")
        if version != VERSION:
            return error(400, f"Unknown API version {version!r}", 2500)
        if route == "token":
            with self.lock:
                return self._token(request.params)
        refused = self._refused(request)
        if refused is not None:
            return refused
        if route != "upload" and self._expire_once:
            self._expire_once = False
            return error(401, "Error validating access token: Session has expired", 190, 463)
        if fault is not None and not fault.after_effect:
            return fault.reply()
        with self.lock:
            answer = self._upload(request) if route == "upload" else self._graph(request)
        if fault is not None and fault.hold:
            self.hold_until_next_request(request)  # the client times out before this answer goes out
            return answer
        return fault.reply() if fault is not None else answer

    def _presented(self, request: Recorded) -> str:
        """The token a request carries: `OAuth <t>` on rupload, `Bearer <t>` or `access_token=` on Graph."""
        if request.route == "upload":
            header = request.headers.get("authorization", "")
            return header.removeprefix("OAuth ") if header.startswith("OAuth ") else ""
        return request.bearer or request.params.get("access_token", "")

    def _object_kind(self, request: Recorded) -> str:
        """Which object a route acts on: fb (video_reels, the fb rupload, an fb video's status), ig, or none."""
        segments, route = request.segments, request.route
        if route == "upload":
            return UPLOAD_KINDS.get(segments[0], "")
        if route == "status" and len(segments) > 1 and segments[1] in self.uploads:
            return self.uploads[segments[1]].kind
        if route in FB_ROUTES:
            return "fb"
        return "ig" if route in ("limit", "media", "publish", "permalink", "insights") else ""

    def _refused(self, request: Recorded) -> Reply | None:
        """Meta's answer to a missing, unknown, expired or revoked token or to the wrong kind; None when fine."""
        presented = self._presented(request)
        if request.route == "debug_token" and presented == f"{self.app_id}|{self.app_secret}":
            return None  # the documented caller of debug_token is the app token
        with self.lock:
            info = self.tokens.get(presented)
        if info is None:
            return error(401, "Invalid OAuth access token - Cannot parse access token", 190)
        if info.revoked:
            return error(401, "Error validating access token: The user has not authorized application.", 190, 458)
        if info.expired:
            return error(401, "Error validating access token: Session has expired.", 190, 463)
        kind = self._object_kind(request)
        if kind == "fb" and info.kind != "page":
            return error(400, "(#190) This method must be called with a Page Access Token", 190)
        if kind == "ig" and info.kind == "page":
            return error(400, "(#200) Instagram publishing needs a User access token", 200)
        return None

    def _token(self, params: dict[str, str]) -> Reply:
        """`oauth/access_token`: a code gives a short-lived user token, fb_exchange_token a long-lived one, any
        other grant (`refresh_token` included: Meta has none) an error."""
        if (params.get("client_id"), params.get("client_secret")) != (self.app_id, self.app_secret):
            return error(400, "Error validating client secret.", 1)
        grant = params.get("grant_type", "")
        if grant == "fb_exchange_token":
            info = self.tokens.get(params.get("fb_exchange_token", ""))
            if info is None or info.kind not in USER_KINDS:
                return error(400, "Invalid OAuth access token - Cannot parse access token", 190)
            if info.revoked:
                return error(400, "Error validating access token: The user has not authorized application.", 190, 458)
            if info.expired:  # "You can not use an expired token to request a long-lived token"
                return error(400, "Error validating access token: Session has expired.", 190, 463)
            token = self.issue("user_long", LONG_LIVED_S)
            return Reply(200, {"access_token": token, "token_type": "bearer", "expires_in": LONG_LIVED_S})
        if grant in ("", "authorization_code") and params.get("code"):
            token = self.issue("user_short", SHORT_LIVED_S)
            return Reply(200, {"access_token": token, "token_type": "bearer", "expires_in": SHORT_LIVED_S})
        return error(400, f"Unsupported grant_type: {grant or '(none)'}", 100)

    def _page_token(self, request: Recorded) -> Reply:
        """`GET /{page}?fields=access_token`: a Page token for a user who may create content on the Page."""
        presented = self._presented(request)
        info = self.tokens[presented]
        if info.kind == "page":
            return Reply(200, {"id": self.page, "access_token": presented})
        if not self.page_admin:
            return Reply(200, {"id": self.page})  # no task on the Page: Meta leaves the field out
        expires_in = None if info.kind == "user_long" else max(0.0, (info.expires_at or 0) - time.time())
        return Reply(200, {"id": self.page, "access_token": self.issue("page", expires_in)})

    def _graph(self, request: Recorded) -> Reply:
        method, route, params = request.method, request.route, request.params
        segments = request.segments
        account = segments[1] if len(segments) > 1 else ""
        if route == "limit" and account == self.ig_user:
            config = {"quota_total": self.quota_total, "quota_duration": 86400}
            return Reply(200, {"data": [{"quota_usage": self.quota_usage, "config": config}]})
        if route == "media" and method == "POST" and account == self.ig_user:
            if params.get("media_type") != "REELS" or params.get("upload_type") != "resumable":
                return error(400, "Only REELS with upload_type=resumable are supported here", 100)
            container = str(next(self._ids))
            self.uploads[container] = Upload("ig", account, params.get("caption", ""), fail_with=self._container_error)
            return Reply(200, {"id": container, "uri": f"{self.base_url}/ig-api-upload/{VERSION}/{container}"})
        if route == "media" and method == "GET" and account == self.ig_user:
            return self._media_list(params)
        if route == "publish" and method == "POST" and account == self.ig_user:
            upload = self.uploads.get(params.get("creation_id", ""))
            if upload is None or upload.kind != "ig":
                return error(400, "Invalid creation_id", 100)
            if upload.published_id:
                return error(400, "The media has already been published", 9007, 2207008)
            if not upload.complete or upload.polls < self.processing_polls or upload.fail_with:
                return error(400, "Media ID is not available", 9007, 2207027)
            if self.quota_usage >= self.quota_total:
                return error(400, "Application request limit reached", 9, 2207042)
            upload.published_id = str(next(self._ids))
            self.media[upload.published_id] = params["creation_id"]
            self.quota_usage += 1
            self.published += 1
            return Reply(200, {"id": upload.published_id})
        if route == "start" and method == "POST" and account == self.page:
            video_id = str(next(self._ids))
            self.uploads[video_id] = Upload("fb", account)
            return Reply(
                200, {"video_id": video_id, "upload_url": f"{self.base_url}/video-upload/{VERSION}/{video_id}"}
            )
        if route == "finish" and method == "POST" and account == self.page:
            upload = self.uploads.get(params.get("video_id", ""))
            if upload is None or upload.kind != "fb":
                return error(400, "Invalid video_id", 100)
            if not upload.complete:
                return error(400, "The video upload is not complete", 6000)
            if params.get("video_state") != "PUBLISHED":
                return error(400, "video_state must be PUBLISHED here", 100)
            if not upload.published_id:
                upload.published_id = params["video_id"]
                upload.caption = params.get("description", "")
                upload.polls = 0
                self.published += 1
            return Reply(200, {"success": True})
        if route == "insights" and method == "GET":
            return self._insights(account, params, "ig")
        if route == "video_insights" and method == "GET":
            return self._insights(account, params, "fb")
        if route == "page" and account == self.page and "access_token" in params.get("fields", "").split(","):
            return self._page_token(request)
        if route == "page":
            return Reply(200, {"id": account, "name": "Fake Page", "username": "fake.ig"})
        if route in ("debug_token", "me", "me_accounts") and method == "GET":
            return self._account_read(route, params, request.bearer or params.get("access_token", ""))
        if route == "permalink":
            return Reply(200, {"id": account, "permalink": f"https://www.instagram.com/reel/C{account[-6:]}/"})
        if route == "status" and account in self.uploads:
            upload = self.uploads[account]
            return Reply(200, self._ig_status(upload) if upload.kind == "ig" else self._fb_status(account, upload))
        return error(404, f"Unsupported {method} request to {'/'.join(segments)}", 100, 33)

    def _insights(self, object_id: str, params: dict[str, str], kind: str) -> Reply:
        """`GET /{ig-media-id}/insights` or `GET /{video-id}/video_insights` (`metric=` comma-separated; lifetime).

        The permission checks come first, as Graph's do: IG insights need instagram_manage_insights ((#10)),
        Video Insights read_insights ((#200) "Permissions error", the reference's error table).
        """
        if kind == "ig" and "instagram_manage_insights" not in self.token_scopes:
            return error(403, "(#10) Application does not have permission for this action", 10)
        if kind == "fb" and not {"read_insights", "pages_read_engagement"} <= set(self.token_scopes):
            return error(403, "(#200) Permissions error", 200)
        published = (
            object_id in self.media
            if kind == "ig"
            else object_id in self.uploads
            and self.uploads[object_id].kind == "fb"
            and self.uploads[object_id].published_id
        )
        if not published or object_id in self.deleted:
            return missing_object(object_id)
        known = IG_REELS_METRICS if kind == "ig" else FB_REELS_METRICS
        asked = [name for name in params.get("metric", "").split(",") if name]
        if not asked:
            return error(400, "(#100) The parameter metric is required", 100)
        for index, name in enumerate(asked):
            if name not in known:
                return error(
                    400, f"(#100) metric[{index}] must be one of the following values: {', '.join(known)}", 100
                )
        values = self.insights.get(object_id, {})
        edge = "insights" if kind == "ig" else "video_insights"
        data = [
            {"name": name, "period": "lifetime", "values": [{"value": values[name]}], "title": name,
             "description": "", "id": f"{object_id}/{edge}/{name}/lifetime"}
            for name in asked
            if name in values
        ]  # fmt: skip
        return Reply(200, {"data": data})

    def _media_list(self, params: dict[str, str]) -> Reply:
        """`GET /{ig-user}/media`: the account's media, newest first, with the `fields` asked for (id always)."""
        fields = set(params.get("fields", "id").split(",")) | {"id"}
        limit = int(params.get("limit", "25"))
        media = list(self.media.items())[: len(self.media) - self.media_listing_hides_newest]
        items = []
        for media_id, container in reversed(media[-limit:]):
            upload = self.uploads[container]
            known = {
                "id": media_id,
                "caption": upload.caption,
                "media_type": "VIDEO",
                "timestamp": "2026-12-01T09:00:00+0000",
            }
            items.append({name: value for name, value in known.items() if name in fields})
        return Reply(200, {"data": items, "paging": {"cursors": {"before": "b", "after": "a"}}})

    def _account_read(self, route: str, params: dict[str, str], caller: str) -> Reply:
        """The read-only account routes: `debug_token?input_token=`, `me` (a Page token's Page), `me/accounts`."""
        linked = {"instagram_business_account": {"id": self.linked_ig_user}} if self.linked_ig_user else {}
        page = {"id": self.page, "name": "Fake Page", "tasks": ["CREATE_CONTENT", "MANAGE"], **linked}
        if route == "debug_token":
            if not params.get("input_token"):
                return error(400, "(#100) The parameter input_token is required", 100)
            token = self.tokens.get(params["input_token"])
            if token is None or token.revoked or token.expired:
                data = {"is_valid": False, "error": {"code": 190, "message": "Invalid OAuth access token."}}
                return Reply(200, {"data": data})
            kind = "PAGE" if token.kind == "page" else "USER"
            data = {"app_id": self.app_id, "type": kind, "application": "Fake app", "is_valid": True,
                    "expires_at": int(token.expires_at or 0), "scopes": self.token_scopes,
                    "user_id": "10000000000000042"}  # fmt: skip
            if kind == "PAGE":
                data["profile_id"] = self.page
            return Reply(200, {"data": data})
        caller_kind = self.tokens[caller].kind if caller in self.tokens else ""
        if route == "me":
            return Reply(200, page if caller_kind == "page" else {"id": "10000000000000042", "name": "Fake User"})
        if caller_kind == "page":  # /me/accounts lists a user's Pages; a Page has none
            return error(400, "(#100) Tried accessing nonexisting field (accounts) on node type (Page)", 100)
        return Reply(200, {"data": [page], "paging": {"cursors": {"before": "b", "after": "a"}}})

    def _upload(self, request: Recorded) -> Reply:
        upload, body = self.uploads.get(request.segments[-1]), request.body
        if upload is None or upload.kind != UPLOAD_KINDS[request.segments[0]]:
            return error(400, "Unknown upload session", 100)
        try:
            offset, size = int(request.headers["offset"]), int(request.headers["file_size"])
        except (KeyError, ValueError):
            return error(400, "The offset and file_size headers are required", 100)
        if upload.file_size not in (None, size):
            return error(400, "file_size differs from the first request", 100)
        if offset > len(upload.data) or offset + len(body) > size:
            return error(400, f"Bad offset {offset}: {len(upload.data)} bytes received", 100)
        if offset + len(body) != size:  # one POST with the rest of the file: no slices (the guide is non-chunking)
            return error(400, f"The body must hold bytes {offset}..{size - 1}, got {len(body)} bytes", 100)
        upload.file_size = size
        upload.data[offset : offset + len(body)] = body
        return Reply(200, {"success": True, "message": "Upload successful."})

    def _ig_status(self, upload: Upload) -> dict[str, Any]:
        if upload.published_id:
            return {"status_code": "PUBLISHED", "status": "Published"}
        if not upload.complete:
            return {"status_code": "IN_PROGRESS", "status": "In Progress"}
        upload.polls += 1
        if upload.polls <= self.processing_polls:
            return {"status_code": "IN_PROGRESS", "status": "In Progress"}
        if upload.fail_with:
            return {"status_code": "ERROR", "status": upload.fail_with}
        return {"status_code": "FINISHED", "status": "Finished: Media has been uploaded and it is ready"}

    def _fb_status(self, video_id: str, upload: Upload) -> dict[str, Any]:
        uploading = {
            "status": "complete" if upload.complete else "in_progress",
            "bytes_transferred": len(upload.data),
        }
        not_started = {"status": "not_started"}
        if not upload.published_id:
            status = {
                "video_status": "upload_complete" if upload.complete else "uploading",
                "uploading_phase": uploading,
                "processing_phase": not_started,
                "publishing_phase": not_started,
            }
            return {"id": video_id, "status": status}
        upload.polls += 1
        done = upload.polls > self.processing_polls
        status = {
            "video_status": "ready" if done else "processing",
            "uploading_phase": uploading,
            "processing_phase": {"status": "complete" if done else "in_progress"},
            # The finish call started publishing: it completes once processing has.
            "publishing_phase": {"status": "complete", "publish_status": "published"}
            if done
            else {"status": "in_progress"},
        }
        return {"id": video_id, "status": status, "permalink_url": f"/reel/{video_id}/"}
