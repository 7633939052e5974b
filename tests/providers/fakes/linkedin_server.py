"""A local LinkedIn server for tests: the Videos and Posts APIs plus the part-upload URLs, on one real HTTP server
on 127.0.0.1.

`POST /rest/videos?action=initializeUpload` answers several `uploadInstructions` (each with its own URL pointing
back here), every part `PUT` answers its own `ETag`, `finalizeUpload` checks the ETags in part order, the video
status goes WAITING_UPLOAD → PROCESSING → AVAILABLE over polls, and `POST /rest/posts` answers 201 with the post
URN in `x-restli-id`. Every `/rest` call must carry `Authorization: Bearer`, `LinkedIn-Version` and
`X-Restli-Protocol-Version: 2.0.0`. Faults are scripted per route (`fail`, `drop`, `fail_processing`).

A post's numbers (`statistics[urn]`, by Member Post Statistics query type) are read by the member who wrote it
(`memberCreatorPostAnalytics?q=entity`, r_member_postAnalytics) or, for an organization's post, by an ADMINISTRATOR of
it (`organizationalEntityShareStatistics?q=organizationalEntity`, rw_organization_admin).
"""

from __future__ import annotations

import hashlib
import itertools
import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from tests.providers.fakes import base
from tests.providers.fakes.base import Exchange, FailAndDrop, FakeServer, Faults, Recorded, Reply, route


@dataclass
class Fault(base.Fault):
    part: int | None = None  # uploads: only this part's PUT
    after_effect: bool = False  # the request takes effect, then the scripted answer (or none) goes out


@dataclass
class Video:
    urn: str
    owner: str
    size: int
    upload_token: str
    ranges: list[tuple[int, int]]
    parts: dict[int, bytes] = field(default_factory=dict)
    etags: dict[int, str] = field(default_factory=dict)
    status: str = "WAITING_UPLOAD"
    polls: int = 0
    fail_reason: str = ""

    def data(self) -> bytes:
        return b"".join(self.parts[i] for i in range(len(self.ranges)) if i in self.parts)


# Member Post Statistics query types (https://learn.microsoft.com/en-us/linkedin/marketing/community-management/
# members/post-statistics) and the Organization Share Statistics field of each (https://learn.microsoft.com/en-us/
# linkedin/marketing/community-management/organizations/share-statistics).
SHARE_FIELDS = {
    "IMPRESSION": "impressionCount",
    "MEMBERS_REACHED": "uniqueImpressionsCount",
    "RESHARE": "shareCount",
    "REACTION": "likeCount",
    "COMMENT": "commentCount",
}
_ENTITY = re.compile(r"^\((share|ugcPost):(urn:li:(share|ugcPost):[^\s:()]+)\)$")  # Rest.li union, decoded
_LIST = re.compile(r"^List\(([^()]*)\)$")


def _error(status: int, message: str, code: str = "") -> dict[str, Any]:
    return {"status": status, "code": code or "ERROR", "message": message}


def error(status: int, message: str, code: str = "") -> Reply:
    return Reply(status, _error(status, message, code))


class FakeLinkedIn(FailAndDrop[Fault], FakeServer[Recorded]):
    """Context manager running the fake on a free port; `.base_url` is the `api_base_url`.

    `fail(route, status=, body=, times=, headers=, part=)` and `drop(route, times=, part=)` script faults on the
    routes initialize, upload, finalize, video and posts (`part`: only that part's PUT).
    """

    record_type = Recorded
    fault_type = Fault
    protocol_version = "HTTP/1.1"

    def __init__(self, *, token: str = "li-test-token", version: str = "202605", part_size: int = 256 * 1024) -> None:
        super().__init__()
        self.token = token
        self.version = version
        self.part_size = part_size
        self.processing_polls = 2
        self.videos: dict[str, Video] = {}
        self.posts: dict[str, dict[str, Any]] = {}
        self.faults: Faults[Fault] = Faults()
        self._fail_reason = ""
        self._ids = itertools.count(7100000000000000001)
        self.can_read_posts = True  # the token holds r_member_social / r_organization_social
        self.listing_hides_newest = 0  # Find Posts by Authors lags: the newest posts are not listed yet
        # The read-only account routes (the preflight): who the token is, its scopes, the member's page roles.
        self.member = "urn:li:person:fakeMember01"
        self.token_scopes = ["w_member_social", "openid", "profile"]
        self.client_id, self.client_secret = "li-client", "li-secret"
        self.org_roles: dict[str, str] = {}  # organization URN -> the member's role on it (ADMINISTRATOR, …)
        self.statistics: dict[str, dict[str, int]] = {}  # post URN -> query type (IMPRESSION, …) -> lifetime count

    def scripted_error(self, status: int) -> Any:
        return _error(status, "Internal Server Error")

    def fail_processing(self, reason: str = "Video is too short: minimum duration is 3 seconds") -> None:
        """Videos finalized from now on end PROCESSING_FAILED with this reason."""
        self._fail_reason = reason

    def routes(self, route: str) -> list[Recorded]:
        return self.calls(route)

    def _organization_refusal(self, author: str, resource: str) -> Reply | None:
        """LinkedIn's 403 for an organization author without w_organization_social or a posting role on it.

        Posting "on behalf of an organization" needs w_organization_social and an ADMINISTRATOR (or content
        admin / DSC poster) role (Videos API, Permissions: https://learn.microsoft.com/en-us/linkedin/marketing/
        community-management/shares/videos-api); the body is the documented error shape {status,
        serviceErrorCode, code, message} with "Not enough permissions to access: <resource>.<version>"
        (https://learn.microsoft.com/en-us/linkedin/shared/api-guide/concepts/error-handling, 403).
        """
        if not author.startswith("urn:li:organization:"):
            return None
        posting_roles = ("ADMINISTRATOR", "CONTENT_ADMINISTRATOR", "DIRECT_SPONSORED_CONTENT_POSTER")
        if "w_organization_social" in self.token_scopes and self.org_roles.get(author) in posting_roles:
            return None
        body = {"status": 403, "serviceErrorCode": 100, "code": "ACCESS_DENIED"}
        return Reply(403, body | {"message": f"Not enough permissions to access: {resource}.{self.version}01"})

    # --- protocol --------------------------------------------------------------------------------------------
    def handle(self, exchange: Exchange) -> None:
        """A scripted drop cuts the body midway, before anything is logged; a /rest body must be JSON."""
        request = self.request_of(exchange)
        part = int(request.args["part"]) if request.route == "upload" else None
        fault = self.faults.take(request.route, where=lambda f: f.part in (None, part))
        if fault is not None and fault.drop and not fault.after_effect:
            exchange.cut(exchange.content_length // 2)
            return
        request.body = exchange.read_body()
        if request.route not in ("upload", "introspect") and request.body and request.json is None:
            exchange.send(error(400, "Body is not JSON"))
            return
        self.log(request)
        exchange.send(self.answer(request, fault))

    def answer(self, request: Recorded, fault: Fault | None = None) -> Reply | None:
        if request.route == "introspect":  # authenticated by the app's credentials in the form, no token
            return self._introspect(request)
        if not request.bearer_is(self.token):
            return error(401, "Invalid access token", "REVOKED_ACCESS_TOKEN")
        if request.route == "userinfo":  # OpenID Connect: not a versioned /rest call
            return self._userinfo(request)
        if request.route != "upload":
            if request.headers.get("linkedin-version") != self.version:
                return error(426, f"Requested version {request.headers.get('linkedin-version')} is not active")
            if request.headers.get("x-restli-protocol-version") != "2.0.0":
                return error(400, "X-Restli-Protocol-Version 2.0.0 is required")
        if fault is not None and not fault.after_effect:
            return fault.reply()
        if not request.route:
            return error(404, "No resource here")
        with self.lock:
            answer = self.dispatch(request)
        if fault is not None and fault.hold:
            self.hold_until_next_request(request)  # the client times out before this answer goes out
            return answer
        return fault.reply() if fault is not None else answer

    def lose_answer_after(self, route: str, *, how: str = "timeout", status: int = 503) -> None:
        """The next request to `route` takes effect, then its answer is lost: held past the client's timeout
        (`timeout`), cut (`drop`) or replaced by a 5xx (`status`)."""
        body = _error(status, "Internal Server Error")
        fault = Fault(route, status, body, drop=how == "drop", hold=how == "timeout", after_effect=True)
        self.faults.add(fault)

    def _body(self, request: Recorded, name: str) -> dict[str, Any]:
        body = request.json if isinstance(request.json, dict) else {}
        return body.get(name) or {}

    @route("initialize", "POST", "/rest/videos", action="initializeUpload")
    def _initialize(self, request: Recorded) -> Reply:
        asked = self._body(request, "initializeUploadRequest")
        size = asked.get("fileSizeBytes")
        if not isinstance(size, int) or size <= 0 or not str(asked.get("owner", "")).startswith("urn:li:"):
            return error(400, "owner and fileSizeBytes are required")
        if asked.get("uploadCaptions") is not False or asked.get("uploadThumbnail") is not False:
            return error(400, "uploadCaptions/uploadThumbnail must be false here")
        refused = self._organization_refusal(str(asked["owner"]), "videos.ACTION")
        if refused is not None:
            return refused
        serial = next(self._ids)
        urn = f"urn:li:video:D4E10AQ{serial}"
        ranges = [(first, min(first + self.part_size, size) - 1) for first in range(0, size, self.part_size)]
        new = Video(urn, asked["owner"], size, f"token-{serial}", ranges, fail_reason=self._fail_reason)
        self.videos[urn] = new
        instructions = [
            {
                "uploadUrl": f"{self.base_url}/dms-uploads/{serial}/{i}?ca=vector_feedshare&sig=s{i}",
                "firstByte": first,
                "lastByte": last,
            }
            for i, (first, last) in enumerate(ranges)
        ]
        expires = int((time.time() + 3600) * 1000)
        value = {
            "video": urn,
            "uploadToken": new.upload_token,
            "uploadUrlsExpireAt": expires,
            "uploadInstructions": instructions,
        }
        return Reply(200, {"value": value})

    @route("upload", "PUT", r"/dms-uploads/(?P<serial>[^/]+)/(?P<part>\d+)")
    def _upload(self, request: Recorded) -> Reply:
        part, raw = int(request.args["part"]), request.body
        video = self.videos.get(f"urn:li:video:D4E10AQ{request.args['serial']}")
        if video is None or part >= len(video.ranges):
            return error(404, "Unknown upload URL")
        first, last = video.ranges[part]
        if len(raw) != last - first + 1:
            return error(400, f"Part {part} must be {last - first + 1} bytes, got {len(raw)}")
        video.parts[part] = raw
        etag = "/ambry-video/signedId/" + hashlib.sha1(raw + str(time.time_ns()).encode()).hexdigest()
        video.etags[part] = etag
        return Reply(200, None, {"ETag": etag})

    @route("finalize", "POST", "/rest/videos", action="finalizeUpload")
    def _finalize(self, request: Recorded) -> Reply:
        asked = self._body(request, "finalizeUploadRequest")
        video = self.videos.get(asked.get("video", ""))
        if video is None or asked.get("uploadToken") != video.upload_token:
            return error(400, "Unknown video or upload token")
        expected = [video.etags.get(i) for i in range(len(video.ranges))]
        if asked.get("uploadedPartIds") != expected:
            return error(400, "uploadedPartIds do not match the uploaded parts in order")
        video.status = "PROCESSING"
        return Reply(200, {})

    @route("video", "GET", r"/rest/videos/(?P<urn>[^/]+)")
    def _video(self, request: Recorded) -> Reply:
        video = self.videos.get(unquote(request.args["urn"]))
        if video is None:
            return error(404, "Not found")
        if video.status == "PROCESSING":
            video.polls += 1
            if video.polls > self.processing_polls:
                video.status = "PROCESSING_FAILED" if video.fail_reason else "AVAILABLE"
        answer = {"id": video.urn, "owner": video.owner, "status": video.status}
        if video.status == "PROCESSING_FAILED":
            answer["processingFailureReason"] = video.fail_reason
        return Reply(200, answer)

    @route("userinfo", "GET", "/v2/userinfo")
    def _userinfo(self, request: Recorded) -> Reply:
        """OpenID userinfo: needs the openid and profile scopes; `sub` is the member id."""
        if not {"openid", "profile"} <= set(self.token_scopes):
            return error(403, "Not enough permissions to access: userinfo.GET.NO_VERSION", "ACCESS_DENIED")
        sub = self.member.rsplit(":", 1)[1]
        return Reply(200, {"sub": sub, "name": "Fake Member", "given_name": "Fake", "family_name": "Member",
                           "locale": {"country": "US", "language": "en"}})  # fmt: skip

    @route("introspect", "POST", "/oauth/v2/introspectToken")
    def _introspect(self, request: Recorded) -> Reply:
        """Token introspection: form client_id, client_secret, token; `scope` is comma-separated."""
        form = request.urlencoded
        if (form.get("client_id"), form.get("client_secret")) != (self.client_id, self.client_secret):
            return Reply(401, {"error": "invalid_client", "error_description": "Client authentication failed"})
        if form.get("token") != self.token:
            return Reply(200, {"active": False, "status": "revoked"})
        return Reply(200, {"active": True, "client_id": self.client_id, "authorized_at": 1767225600,
                           "created_at": 1767225600, "status": "active", "expires_at": 1772409600,
                           "scope": ",".join(self.token_scopes), "auth_type": "3L"})  # fmt: skip

    @route("organization_acls", "GET", "/rest/organizationAcls")
    def _organization_acls(self, request: Recorded) -> Reply:
        """The member's roles on organizations (`q=roleAssignee`); needs an organization-admin scope."""
        if request.query.get("q") != "roleAssignee":
            return error(400, "q=roleAssignee is required here")
        if not {"rw_organization_admin", "r_organization_admin"} & set(self.token_scopes):
            return error(403, "Not enough permissions to access: organizationAcls.FINDER-roleAssignee", "ACCESS_DENIED")
        elements = [{"roleAssignee": self.member, "organization": urn, "role": role, "state": "APPROVED"}
                    for urn, role in self.org_roles.items()]  # fmt: skip
        return Reply(200, {"elements": elements, "paging": {"count": 10, "start": 0, "links": []}})

    @route("find_posts", "GET", "/rest/posts", q="author")
    def _find_posts(self, request: Recorded) -> Reply:
        """Find Posts by Authors: the author's posts, newest first; needs r_member_social / r_organization_social."""
        author = request.query.get("author", "")
        if not author.startswith("urn:li:"):
            return error(400, "author is required with q=author")
        if not self.can_read_posts:
            return error(403, "Not enough permissions to access: posts.FINDER-author.20260501", "ACCESS_DENIED")
        count = int(request.query.get("count", "10"))
        mine = [(urn, body) for urn, body in self.posts.items() if body.get("author") == author]
        mine = mine[: len(mine) - self.listing_hides_newest]
        elements = [{"id": urn, **body} for urn, body in reversed(mine)][:count]
        return Reply(200, {"paging": {"start": 0, "count": count, "links": []}, "elements": elements})

    def _denied(self, resource: str) -> Reply:
        body = {"status": 403, "serviceErrorCode": 100, "code": "ACCESS_DENIED"}
        return Reply(403, body | {"message": f"Not enough permissions to access: {resource}.{self.version}01"})

    @route("member_post_analytics", "GET", "/rest/memberCreatorPostAnalytics", q="entity")
    def _member_post_analytics(self, request: Recorded) -> Reply:
        """Single post statistics of the authenticated member's own post: `entity=(share:<urn>)` or
        `(ugcPost:<urn>)`, one `queryType`, `aggregation` TOTAL (one element) or DAILY."""
        if "r_member_postAnalytics" not in self.token_scopes:
            return self._denied("memberCreatorPostAnalytics.FINDER-entity")
        entity = _ENTITY.match(request.query.get("entity", ""))
        query_type, aggregation = request.query.get("queryType", ""), request.query.get("aggregation", "")
        if entity is None or entity.group(1) != entity.group(3):
            return error(400, "entity must be (share:urn:li:share:…) or (ugcPost:urn:li:ugcPost:…)", "BAD_REQUEST")
        if query_type not in SHARE_FIELDS or aggregation not in ("TOTAL", "DAILY"):
            return error(400, f"Invalid queryType {query_type!r} or aggregation {aggregation!r}", "BAD_REQUEST")
        urn = entity.group(2)
        if urn not in self.posts:
            return error(404, f"Entity {urn} not found", "NOT_FOUND")
        if self.posts[urn].get("author") != self.member:
            return self._denied("memberCreatorPostAnalytics.FINDER-entity")
        metric = {"com.linkedin.adsexternalapi.memberanalytics.v1.CreatorPostAnalyticsMetricTypeV1": query_type}
        count = self.statistics.get(urn, {}).get(query_type, 0)
        element = {"count": count, "metricType": metric, "targetEntity": {entity.group(1): urn}}
        return Reply(200, {"paging": {"start": 0, "count": 10, "links": []}, "elements": [element]})

    @route("share_statistics", "GET", "/rest/organizationalEntityShareStatistics", q="organizationalEntity")
    def _share_statistics(self, request: Recorded) -> Reply:
        """Lifetime statistics of an organization's posts listed in `shares=List(…)` / `ugcPosts=List(…)`; only an
        ADMINISTRATOR with rw_organization_admin may read them. Posts that are not the organization's (or are
        gone) are simply not in `elements`."""
        organization = request.query.get("organizationalEntity", "")
        if not organization.startswith("urn:li:organization:"):
            return error(400, "organizationalEntity is required", "BAD_REQUEST")
        if "rw_organization_admin" not in self.token_scopes or self.org_roles.get(organization) != "ADMINISTRATOR":
            return self._denied("organizationalEntityShareStatistics.FINDER-organizationalEntity")
        elements = []
        for key, kind in (("shares", "share"), ("ugcPosts", "ugcPost")):
            listed = _LIST.match(request.query.get(key, "List()"))
            if listed is None:
                return error(400, f"{key} must be List(…)", "BAD_REQUEST")
            for urn in filter(None, listed.group(1).split(",")):
                if not urn.startswith(f"urn:li:{kind}:"):
                    return error(400, f"{urn} is not a {kind} URN", "BAD_REQUEST")
                if self.posts.get(urn, {}).get("author") != organization:
                    continue
                counts = self.statistics.get(urn, {})
                totals = {field: counts.get(query_type, 0) for query_type, field in SHARE_FIELDS.items()}
                engaged = totals["likeCount"] + totals["commentCount"] + totals["shareCount"]
                totals |= {"clickCount": 0, "engagement": engaged / max(1, totals["impressionCount"])}
                elements.append({"organizationalEntity": organization, kind: urn, "totalShareStatistics": totals})
        return Reply(200, {"paging": {"start": 0, "count": 10, "links": []}, "elements": elements})

    @route("posts", "POST", "/rest/posts")
    def _post(self, request: Recorded) -> Reply:
        body = request.json if isinstance(request.json, dict) else {}
        media = (body.get("content") or {}).get("media") or {}
        video = self.videos.get(media.get("id", ""))
        distribution = {"feedDistribution": "MAIN_FEED", "targetEntities": [], "thirdPartyDistributionChannels": []}
        if (
            body.get("visibility") != "PUBLIC"
            or body.get("lifecycleState") != "PUBLISHED"
            or body.get("distribution") != distribution
            or body.get("isReshareDisabledByAuthor") is not False
            or not isinstance(body.get("commentary"), str)
        ):
            return error(422, "Invalid post body")
        refused = self._organization_refusal(str(body.get("author", "")), "partnerApiPostsExternal.CREATE")
        if refused is not None:
            return refused
        if video is None or video.owner != body.get("author"):
            return error(403, "Accessing this video resource is forbidden")
        if video.status != "AVAILABLE":
            return error(400, f"Video {video.urn} is not AVAILABLE ({video.status})")
        urn = f"urn:li:share:{next(self._ids)}"
        self.posts[urn] = body
        return Reply(201, None, {"x-restli-id": urn})
