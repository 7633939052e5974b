"""Reading a published post's numbers back: Instagram and Facebook Reels insights, LinkedIn post statistics.

Each test publishes through the real engine against its fake, then calls `Publisher.fetch_metrics`, which turns
what the platform answers into a MetricsReading (numbers, or the reason there are none). A FakeClock proves that no
refusal waits: a rate-limited read is recorded at once and tried again at the next refresh.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from resources.http.deadline import FakeClock
from resources.publish import Publisher
from resources.publish.captions import Caption
from resources.publish.platforms import linkedin
from resources.records import Post
from tests.providers import publishing
from tests.providers.fakes.linkedin_server import FakeLinkedIn
from tests.providers.fakes.meta_server import FakeMeta

TOKEN = "meta-test-token"  # Instagram's long-lived user token
PAGE_TOKEN = "meta-page-token"  # the Facebook Page's own token
LI_TOKEN = "li-test-token"
ORG = "urn:li:organization:2414183"
CAPTION = Caption(title="Herb cubes", text="Freeze herbs in oil #kitchen", hashtags=["kitchen"])


@pytest.fixture
def meta(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeMeta]:
    publishing.use_token(monkeypatch, tmp_path, "instagram", TOKEN)
    publishing.use_token(monkeypatch, tmp_path, "facebook", PAGE_TOKEN)
    with FakeMeta(token=TOKEN, page_token=PAGE_TOKEN) as server:
        yield server


@pytest.fixture
def li(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeLinkedIn]:
    publishing.use_token(monkeypatch, tmp_path, "linkedin", LI_TOKEN)
    with FakeLinkedIn(token=LI_TOKEN, version=linkedin.LINKEDIN_VERSION) as server:
        server.token_scopes.append("r_member_postAnalytics")
        yield server


def _meta_publisher(tmp_path: Path, fake: FakeMeta, platform: str) -> Publisher:
    account = fake.ig_user if platform == "instagram" else fake.page
    hosts = {"api_base_url": fake.base_url, "upload_base_url": fake.base_url}
    return publishing.api_publisher(platform, tmp_path, account_id=account, **hosts)


def _published(publisher: Publisher, platform: str, video: Path) -> Post:
    post = publisher.publish(publishing.post_request(platform, video, CAPTION, "file-abc")).post
    assert post.status == "published"
    return post


# --- Instagram -----------------------------------------------------------------------------------------------


def test_instagram_reads_the_reels_insights_with_the_current_metric_names(
    tmp_path: Path, meta: FakeMeta, video: Path
) -> None:
    publisher = _meta_publisher(tmp_path, meta, "instagram")
    post = _published(publisher, "instagram", video)
    meta.insights[post.remote_id] = {
        "views": 1520, "reach": 990, "likes": 81, "comments": 7, "shares": 12, "saved": 30,
        "ig_reels_avg_watch_time": 4250, "ig_reels_video_view_total_time": 6460000,
    }  # fmt: skip

    reading = publisher.fetch_metrics(post)

    assert reading.status == "ok", reading.detail
    assert reading.values == {
        "views": 1520, "reach": 990, "likes": 81, "comments": 7, "shares": 12, "saves": 30,
        "avg_view_duration_s": 4.25, "watch_time_s": 6460.0,
    }  # fmt: skip
    (read,) = meta.routes("insights")
    assert read.method == "GET" and read.path == f"/v27.0/{post.remote_id}/insights"
    assert read.headers["authorization"] == f"Bearer {TOKEN}"
    # `views` replaced plays / ig_reels_aggregated_all_plays_count (deprecated for all versions since v22.0).
    assert {"plays", "ig_reels_aggregated_all_plays_count", "impressions"}.isdisjoint(read.params["metric"].split(","))


def test_instagram_leaves_out_a_metric_meta_has_no_data_for(tmp_path: Path, meta: FakeMeta, video: Path) -> None:
    publisher = _meta_publisher(tmp_path, meta, "instagram")
    post = _published(publisher, "instagram", video)
    meta.insights[post.remote_id] = {"views": 3}  # the others not computed yet (up to 48 hours late)

    assert publisher.fetch_metrics(post).values == {"views": 3}


def test_instagram_reports_a_deleted_reel(tmp_path: Path, meta: FakeMeta, video: Path) -> None:
    publisher = _meta_publisher(tmp_path, meta, "instagram")
    post = _published(publisher, "instagram", video)
    meta.delete(post.remote_id)

    reading = publisher.fetch_metrics(post)

    assert reading.status == "deleted" and "does not exist" in reading.detail and not reading.values


def test_instagram_without_instagram_manage_insights_is_missing_scope(
    tmp_path: Path, meta: FakeMeta, video: Path
) -> None:
    publisher = _meta_publisher(tmp_path, meta, "instagram")
    post = _published(publisher, "instagram", video)
    meta.token_scopes.remove("instagram_manage_insights")

    reading = publisher.fetch_metrics(post)

    assert reading.status == "missing_scope"
    assert "instagram_manage_insights" in reading.detail and "shorts auth instagram" in reading.detail


def test_instagram_with_a_revoked_token_is_revoked_and_names_the_auth_command(
    tmp_path: Path, meta: FakeMeta, video: Path
) -> None:
    publisher = _meta_publisher(tmp_path, meta, "instagram")
    post = _published(publisher, "instagram", video)
    meta.revoke(TOKEN)

    reading = publisher.fetch_metrics(post)

    assert reading.status == "revoked" and "shorts auth instagram" in reading.detail
    assert TOKEN not in reading.detail


def test_instagram_rate_limit_is_recorded_at_once_without_waiting(tmp_path: Path, meta: FakeMeta, video: Path) -> None:
    publisher = _meta_publisher(tmp_path, meta, "instagram")
    post = _published(publisher, "instagram", video)
    meta.rate_limit("insights", times=5)
    clock = FakeClock()

    reading = publisher.fetch_metrics(post, clock=clock)

    assert reading.status == "rate_limited" and "code 4" in reading.detail
    assert clock.sleeps == [] and len(meta.routes("insights")) == 1  # the next refresh tries again


# --- Facebook ------------------------------------------------------------------------------------------------


def test_facebook_reads_the_reel_insights_with_the_page_token(tmp_path: Path, meta: FakeMeta, video: Path) -> None:
    publisher = _meta_publisher(tmp_path, meta, "facebook")
    post = _published(publisher, "facebook", video)
    meta.insights[post.remote_id] = {
        "blue_reels_play_count": 2300, "post_impressions_unique": 1800, "post_video_avg_time_watched": 5100,
        "post_video_view_time": 11730000,
        "post_video_likes_by_reaction_type": {"REACTION_LIKE": 40, "REACTION_LOVE": 6},
        "post_video_social_actions": {"COMMENT": 9, "SHARE": 14},
    }  # fmt: skip

    reading = publisher.fetch_metrics(post)

    assert reading.status == "ok", reading.detail
    assert reading.values == {
        "views": 2300, "reach": 1800, "likes": 46, "comments": 9, "shares": 14, "avg_view_duration_s": 5.1,
        "watch_time_s": 11730.0,
    }  # fmt: skip
    (read,) = meta.routes("video_insights")
    assert read.path == f"/v27.0/{post.remote_id}/video_insights"
    assert read.headers["authorization"] == f"Bearer {PAGE_TOKEN}"


def test_facebook_refuses_a_user_token_for_video_insights(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, meta: FakeMeta, video: Path
) -> None:
    publisher = _meta_publisher(tmp_path, meta, "facebook")
    post = _published(publisher, "facebook", video)
    monkeypatch.setenv("FACEBOOK_ACCESS_TOKEN", TOKEN)  # a user token where the Page's own is required

    reading = publisher.fetch_metrics(post)

    assert reading.status == "revoked" and "shorts auth facebook" in reading.detail
    assert not meta.insights and meta.routes("video_insights")


def test_facebook_without_read_insights_is_missing_scope(tmp_path: Path, meta: FakeMeta, video: Path) -> None:
    publisher = _meta_publisher(tmp_path, meta, "facebook")
    post = _published(publisher, "facebook", video)
    meta.token_scopes.remove("read_insights")

    reading = publisher.fetch_metrics(post)

    assert reading.status == "missing_scope" and "read_insights" in reading.detail


def test_facebook_reports_a_deleted_reel(tmp_path: Path, meta: FakeMeta, video: Path) -> None:
    publisher = _meta_publisher(tmp_path, meta, "facebook")
    post = _published(publisher, "facebook", video)
    meta.delete(post.remote_id)

    assert publisher.fetch_metrics(post).status == "deleted"


def test_facebook_rate_limit_is_recorded_at_once(tmp_path: Path, meta: FakeMeta, video: Path) -> None:
    publisher = _meta_publisher(tmp_path, meta, "facebook")
    post = _published(publisher, "facebook", video)
    meta.rate_limit("video_insights", times=5)
    clock = FakeClock()

    reading = publisher.fetch_metrics(post, clock=clock)

    assert reading.status == "rate_limited" and clock.sleeps == []


# --- LinkedIn ------------------------------------------------------------------------------------------------


def _li_publisher(tmp_path: Path, fake: FakeLinkedIn, author: str) -> Publisher:
    return publishing.api_publisher("linkedin", tmp_path, api_base_url=fake.base_url, account_id=author)


STATS = {"IMPRESSION": 640, "MEMBERS_REACHED": 410, "RESHARE": 3, "REACTION": 25, "COMMENT": 4}
VALUES = {"impressions": 640, "reach": 410, "shares": 3, "likes": 25, "comments": 4}


def test_linkedin_member_reads_member_post_statistics_one_query_type_at_a_time(
    tmp_path: Path, li: FakeLinkedIn, video: Path
) -> None:
    publisher = _li_publisher(tmp_path, li, li.member)
    post = _published(publisher, "linkedin", video)
    li.statistics[post.remote_id] = STATS

    reading = publisher.fetch_metrics(post)

    assert reading.status == "ok", reading.detail
    assert reading.values == VALUES
    reads = li.routes("member_post_analytics")
    assert sorted(read.query["queryType"] for read in reads) == sorted(STATS)
    for read in reads:
        assert read.query["entity"] == f"(share:{post.remote_id})" and read.query["aggregation"] == "TOTAL"
        assert read.headers["linkedin-version"] == linkedin.LINKEDIN_VERSION
        assert read.headers["x-restli-protocol-version"] == "2.0.0"


def test_linkedin_member_without_r_member_post_analytics_is_missing_scope(
    tmp_path: Path, li: FakeLinkedIn, video: Path
) -> None:
    publisher = _li_publisher(tmp_path, li, li.member)
    post = _published(publisher, "linkedin", video)
    li.token_scopes.remove("r_member_postAnalytics")

    reading = publisher.fetch_metrics(post)

    assert reading.status == "missing_scope"
    assert "r_member_postAnalytics" in reading.detail and "shorts auth linkedin" in reading.detail


def test_linkedin_reports_a_deleted_post(tmp_path: Path, li: FakeLinkedIn, video: Path) -> None:
    publisher = _li_publisher(tmp_path, li, li.member)
    post = _published(publisher, "linkedin", video)
    del li.posts[post.remote_id]

    assert publisher.fetch_metrics(post).status == "deleted"


def test_linkedin_with_a_revoked_token_is_revoked(tmp_path: Path, li: FakeLinkedIn, video: Path) -> None:
    publisher = _li_publisher(tmp_path, li, li.member)
    post = _published(publisher, "linkedin", video)
    li.token = "another-token"  # the member revoked the app: ours answers 401

    reading = publisher.fetch_metrics(post)

    assert reading.status == "revoked" and "shorts auth linkedin" in reading.detail


def test_linkedin_429_is_rate_limited_at_once(tmp_path: Path, li: FakeLinkedIn, video: Path) -> None:
    publisher = _li_publisher(tmp_path, li, li.member)
    post = _published(publisher, "linkedin", video)
    li.fail("member_post_analytics", status=429, times=5)
    clock = FakeClock()

    reading = publisher.fetch_metrics(post, clock=clock)

    assert reading.status == "rate_limited" and clock.sleeps == []
    assert len(li.routes("member_post_analytics")) == 1


def test_linkedin_organization_reads_share_statistics_as_an_administrator(
    tmp_path: Path, li: FakeLinkedIn, video: Path
) -> None:
    li.token_scopes += ["w_organization_social", "rw_organization_admin"]
    li.org_roles[ORG] = "ADMINISTRATOR"
    publisher = _li_publisher(tmp_path, li, ORG)
    post = _published(publisher, "linkedin", video)
    li.statistics[post.remote_id] = STATS

    reading = publisher.fetch_metrics(post)

    assert reading.status == "ok", reading.detail
    assert reading.values == VALUES
    (read,) = li.routes("share_statistics")
    assert read.query["organizationalEntity"] == ORG and read.query["shares"] == f"List({post.remote_id})"
    assert not li.routes("member_post_analytics")  # a member's statistics finder is not for organization posts


def test_linkedin_organization_without_rw_organization_admin_is_missing_scope(
    tmp_path: Path, li: FakeLinkedIn, video: Path
) -> None:
    li.token_scopes.append("w_organization_social")
    li.org_roles[ORG] = "ADMINISTRATOR"
    publisher = _li_publisher(tmp_path, li, ORG)
    post = _published(publisher, "linkedin", video)

    reading = publisher.fetch_metrics(post)

    assert reading.status == "missing_scope" and "rw_organization_admin" in reading.detail
