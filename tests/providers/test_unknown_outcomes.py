"""Posts whose outcome is unknown are never posted twice: the create call is sent once, a lost answer is looked
up, what the lookup cannot find is held `unconfirmed` until `shorts posts resolve`, and two publishes of one
partition at once post once (SQLite and PostgreSQL ledgers).

A "timeout" here is deterministic: the fake creates the post, then holds its answer until the client's next
request, so the client can only go on by giving up on it (its create timeout is shortened to 0.3 s).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cli.__main__ import main as shorts
from resources.database.engine import open_database
from resources.errors import RetryableError
from resources.http.deadline import SYSTEM_CLOCK, Clock, FakeClock
from resources.publish import Publisher
from resources.publish.ledger import PublishInProgress, PublishLedger, UnconfirmedPost
from resources.publish.platforms import client as platform_client
from resources.publish.platforms import linkedin, tiktok
from resources.publish.publisher import PublishOutcome
from tests.providers import publishing
from tests.providers.fakes.linkedin_server import FakeLinkedIn
from tests.providers.fakes.meta_server import FakeMeta
from tests.providers.fakes.tiktok_server import FakeTikTok
from tests.providers.fakes.x_server import FakeX
from tests.providers.fakes.youtube_server import FakeYouTube
from tests.providers.publishing import KEY, KIB, MIB

X_TOKEN = "x-unknown-outcome-token"


@pytest.fixture(autouse=True)
def short_create_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(platform_client, "CREATE_TIMEOUT", httpx.Timeout(0.3, connect=5.0))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger_location(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The ledger on a SQLite file, and on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield str(tmp_path / "ledger.sqlite3")
        return
    name = request.getfixturevalue("postgres_db")
    yield f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
    open_database.cache_clear()


def resolve(ledger: str, platform: str, *outcome: str) -> int:
    return shorts(["posts", "resolve", KEY, platform, *outcome, "--ledger", ledger])


# -- X ----------------------------------------------------------------------------------------------------------


@pytest.fixture
def x_fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeX]:
    publishing.use_token(monkeypatch, tmp_path, "x", X_TOKEN)
    with FakeX(access_token=X_TOKEN) as server:
        yield server


def x_publish(fake: FakeX, ledger: str, video: Path) -> Callable[..., PublishOutcome]:
    def publish(**fields: object) -> PublishOutcome:
        settings: dict[str, Any] = {
            "platform": "x",
            "provider": "api",
            "ledger_path": ledger,
            "poll_interval_s": 0.01,
            "api_base_url": fake.base_url,
            "chunk_size_bytes": 512 * 1024,
            **publishing.FAST_RETRIES,
        }
        return Publisher(**(settings | fields)).publish(publishing.post_request("x", video))

    return publish


@pytest.mark.parametrize("how", ["timeout", "drop"])
def test_x_a_tweet_whose_answer_was_lost_is_looked_up_not_posted_again(
    x_fake: FakeX, tmp_path: Path, video: Path, how: str
) -> None:
    x_fake.lose_answer_after_next("tweets", how=how)

    outcome = x_publish(x_fake, str(tmp_path / "ledger.sqlite3"), video)()

    assert len(x_fake.calls("tweets")) == 1 and len(x_fake.tweets) == 1
    (lookup,) = x_fake.calls("timeline")
    assert "attachments.media_keys" in lookup.query["expansions"] and lookup.bearer_is(X_TOKEN)
    assert outcome.post.remote_id == x_fake.tweets[0]["id"] and outcome.post.status == "published"
    assert outcome.post.upload_id == next(iter(x_fake.media))  # the media id, kept apart from the post id


def test_x_a_5xx_after_the_tweet_was_created_is_looked_up(x_fake: FakeX, tmp_path: Path, video: Path) -> None:
    x_fake.fail_after_next("tweets", 503)
    outcome = x_publish(x_fake, str(tmp_path / "ledger.sqlite3"), video)()
    assert len(x_fake.calls("tweets")) == 1 and outcome.post.remote_id == x_fake.tweets[0]["id"]


def test_x_a_lost_tweet_the_timeline_does_not_show_is_unconfirmed_and_never_reposted(
    x_fake: FakeX, ledger_location: str, video: Path
) -> None:
    publish = x_publish(x_fake, ledger_location, video)
    x_fake.lose_answer_after_next("tweets")
    x_fake.timeline_hides_newest = 1  # X's timeline has not caught up with the new post

    with pytest.raises(UnconfirmedPost) as unknown:
        publish()
    message = str(unknown.value)
    assert "POST /2/tweets" in message and "media key 7_" in message and "X account" in message
    assert f"shorts posts resolve {KEY} x --posted <post-id> | --not-posted" in message
    with pytest.raises(UnconfirmedPost):
        publish()  # a retry of the asset does not post
    assert len(x_fake.calls("tweets")) == 1 and len(x_fake.tweets) == 1
    assert PublishLedger(ledger_location).get(KEY, "x") is None

    assert resolve(ledger_location, "x", "--posted", x_fake.tweets[0]["id"]) == 0
    again = publish()

    assert again.already_published and again.post.remote_id == x_fake.tweets[0]["id"]
    assert again.post.url == "" and len(x_fake.calls("tweets")) == 1


def test_x_resolved_as_not_posted_posts_on_the_next_run(x_fake: FakeX, ledger_location: str, video: Path) -> None:
    publish = x_publish(x_fake, ledger_location, video)
    x_fake.drop_next("tweets")  # the connection breaks before X acts: nothing was posted, nobody can tell
    with pytest.raises(UnconfirmedPost):
        publish()
    assert x_fake.tweets == []

    assert resolve(ledger_location, "x", "--not-posted") == 0
    outcome = publish()

    assert len(x_fake.tweets) == 1 and outcome.post.remote_id == x_fake.tweets[0]["id"]
    assert resolve(ledger_location, "x", "--not-posted") == 1  # nothing left to resolve


def test_x_a_tweet_refused_for_sure_is_not_held(x_fake: FakeX, tmp_path: Path, video: Path) -> None:
    ledger = str(tmp_path / "ledger.sqlite3")
    x_fake.fail_next("tweets", 400, "Invalid Request")
    with pytest.raises(Exception, match="Invalid Request"):
        x_publish(x_fake, ledger, video)()
    assert PublishLedger(ledger).unconfirmed(KEY, "x") is None
    assert x_publish(x_fake, ledger, video)().post.remote_id == x_fake.tweets[0]["id"]


def test_x_a_second_publish_while_the_first_holds_the_reservation_stops(
    x_fake: FakeX, ledger_location: str, video: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish = x_publish(x_fake, ledger_location, video)
    inside, release = threading.Event(), threading.Event()
    initialize = FakeX._initialize

    def slow_initialize(self: FakeX, request: Any) -> Any:
        inside.set()
        release.wait(30)
        return initialize(self, request)

    monkeypatch.setattr(FakeX, "_initialize", slow_initialize)
    outcomes: list[PublishOutcome] = []
    first = threading.Thread(target=lambda: outcomes.append(publish()))
    first.start()
    assert inside.wait(30)

    with pytest.raises(PublishInProgress, match="another run is publishing this partition to x right now"):
        publish()
    release.set()
    first.join(30)

    assert len(x_fake.tweets) == 1 and outcomes[0].post.remote_id == x_fake.tweets[0]["id"]
    assert publish().already_published


def test_x_two_publishes_started_together_post_once(x_fake: FakeX, ledger_location: str, video: Path) -> None:
    publish = x_publish(x_fake, ledger_location, video)
    start = threading.Barrier(2)
    results: list[object] = []

    def run() -> None:
        start.wait()
        try:
            results.append(publish())
        except PublishInProgress as exc:
            results.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert len(x_fake.tweets) == 1 and len(x_fake.calls("tweets")) == 1
    posted = [r for r in results if isinstance(r, PublishOutcome) and not r.already_published]
    assert len(posted) == 1 and len(results) == 2


def test_a_publish_that_died_mid_create_is_taken_over_and_looked_up(x_fake: FakeX, tmp_path: Path, video: Path) -> None:
    """The holder's lease ran out with POST /2/tweets in flight: the next publish looks it up, never resends."""
    ledger = str(tmp_path / "ledger.sqlite3")
    publish = x_publish(x_fake, ledger, video)
    x_fake.lose_answer_after_next("tweets")
    x_fake.timeline_hides_newest = 1

    def die_in_the_lookup(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt  # the worker is killed while it looks the post up

    original = platform_client.PlatformClient.create_once
    lookups: list[int] = []

    def create_once(self: platform_client.PlatformClient, *args: Any, **kwargs: Any) -> str:
        if not lookups:
            lookups.append(1)
            kwargs["lookup"] = die_in_the_lookup
        return original(self, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(platform_client.PlatformClient, "create_once", create_once)
        with pytest.raises(KeyboardInterrupt):
            publish()
    x_fake.timeline_hides_newest = 0

    outcome = publish()

    assert len(x_fake.calls("tweets")) == 1 and outcome.post.remote_id == x_fake.tweets[0]["id"]


# -- LinkedIn ---------------------------------------------------------------------------------------------------

LI_TOKEN = "li-unknown-outcome-token"
LI_AUTHOR = "urn:li:person:abc123"


@pytest.fixture
def li_fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeLinkedIn]:
    publishing.use_token(monkeypatch, tmp_path, "linkedin", LI_TOKEN)
    with FakeLinkedIn(token=LI_TOKEN, version=linkedin.LINKEDIN_VERSION, part_size=512 * 1024) as server:
        yield server


def li_publish(fake: FakeLinkedIn, ledger: str, video: Path) -> Callable[[], PublishOutcome]:
    def publish() -> PublishOutcome:
        settings: dict[str, Any] = {"api_base_url": fake.base_url, "account_id": LI_AUTHOR, "ledger_path": ledger}
        publisher = publishing.api_publisher("linkedin", Path(ledger).parent, **settings)
        return publisher.publish(publishing.post_request("linkedin", video))

    return publish


@pytest.mark.parametrize("how", ["timeout", "drop", "status"])
def test_linkedin_a_post_whose_answer_was_lost_is_found_by_its_video(
    li_fake: FakeLinkedIn, tmp_path: Path, video: Path, how: str
) -> None:
    li_fake.lose_answer_after("posts", how=how)

    outcome = li_publish(li_fake, str(tmp_path / "ledger.sqlite3"), video)()

    (post_urn,) = li_fake.posts
    assert len(li_fake.calls("posts")) == 1 and outcome.post.remote_id == post_urn
    (lookup,) = li_fake.calls("find_posts")
    assert lookup.query["author"] == LI_AUTHOR and lookup.headers["linkedin-version"] == linkedin.LINKEDIN_VERSION


def test_linkedin_a_lost_post_it_may_not_read_back_is_unconfirmed_until_resolved(
    li_fake: FakeLinkedIn, tmp_path: Path, video: Path
) -> None:
    ledger = str(tmp_path / "ledger.sqlite3")
    li_fake.lose_answer_after("posts")
    li_fake.can_read_posts = False  # no r_member_social: LinkedIn refuses Find Posts by Authors

    with pytest.raises(UnconfirmedPost, match=r"Check the LinkedIn author urn:li:person:abc123 .*urn:li:video:"):
        li_publish(li_fake, ledger, video)()
    with pytest.raises(UnconfirmedPost):
        li_publish(li_fake, ledger, video)()
    assert len(li_fake.calls("posts")) == 1 and len(li_fake.posts) == 1

    (post_urn,) = li_fake.posts
    assert resolve(ledger, "linkedin", "--posted", post_urn) == 0
    outcome = li_publish(li_fake, ledger, video)()
    assert outcome.already_published and outcome.post.remote_id == post_urn and len(li_fake.posts) == 1


# -- TikTok -----------------------------------------------------------------------------------------------------

TT_TOKEN = "tt-unknown-outcome-token"
TT_LAST = "upload:3"  # the fourth and last chunk of the 2 MB video: the PUT that completes the post


@pytest.fixture
def tt_fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeTikTok]:
    publishing.use_token(monkeypatch, tmp_path, "tiktok", TT_TOKEN)
    monkeypatch.setattr(tiktok, "CHUNK_LIMITS", tiktok.ChunkLimits(min_bytes=256 * KIB, max_bytes=1 * MIB))
    with FakeTikTok(access_token=TT_TOKEN) as server:
        server.min_chunk_bytes, server.max_chunk_bytes = 256 * KIB, 1 * MIB
        yield server


def tt_publish(fake: FakeTikTok, ledger: str, video: Path) -> Callable[..., PublishOutcome]:
    def publish(clock: Clock = SYSTEM_CLOCK, **fields: object) -> PublishOutcome:
        settings: dict[str, Any] = {"api_base_url": fake.base_url, "chunk_size_bytes": 512 * KIB}
        publisher = publishing.api_publisher("tiktok", Path(ledger).parent, **(settings | fields))
        return publisher.publish(publishing.post_request("tiktok", video), clock=clock)

    return publish


@pytest.mark.parametrize("how", ["timeout", "drop", "status"])
def test_tiktok_a_last_chunk_whose_answer_was_lost_is_looked_up_not_uploaded_again(
    tt_fake: FakeTikTok, tmp_path: Path, video: Path, how: str
) -> None:
    tt_fake.lose_answer_after_next(TT_LAST, how=how)

    outcome = tt_publish(tt_fake, str(tmp_path / "ledger.sqlite3"), video)()

    (upload,) = tt_fake.uploads.values()
    assert len(tt_fake.calls("init")) == 1 and len(tt_fake.calls("upload")) == 4 and tt_fake.posts == [upload]
    assert tt_fake.calls("status")[0].json == {"publish_id": upload.publish_id}  # the lookup
    assert outcome.post.remote_id == str(upload.post_id) and outcome.post.upload_id == upload.publish_id


def test_tiktok_a_lost_last_chunk_the_status_cannot_confirm_is_unconfirmed_and_never_reposted(
    tt_fake: FakeTikTok, tmp_path: Path, video: Path
) -> None:
    ledger = str(tmp_path / "ledger.sqlite3")
    publish = tt_publish(tt_fake, ledger, video)
    tt_fake.lose_answer_after_next(TT_LAST)
    tt_fake.fail_next("status", 500, times=3)  # the status fetch fails on every attempt: nobody can tell

    with pytest.raises(UnconfirmedPost) as unknown:
        publish()
    assert "last chunk" in str(unknown.value) and "publish id v_pub_file~" in str(unknown.value)
    with pytest.raises(UnconfirmedPost):
        publish()  # a retry of the asset neither uploads again nor inits again
    assert len(tt_fake.calls("init")) == 1 and len(tt_fake.calls("upload")) == 4 and len(tt_fake.posts) == 1

    assert resolve(ledger, "tiktok", "--posted", "7400000000000000000") == 0
    assert publish().already_published and len(tt_fake.calls("init")) == 1


def test_tiktok_a_last_chunk_that_never_arrived_is_unconfirmed_not_a_second_init(
    tt_fake: FakeTikTok, tmp_path: Path, video: Path
) -> None:
    ledger = str(tmp_path / "ledger.sqlite3")
    tt_fake.drop_next(TT_LAST)  # cut before TikTok took the bytes: the status shows them missing

    with pytest.raises(UnconfirmedPost):
        tt_publish(tt_fake, ledger, video)()
    assert len(tt_fake.calls("init")) == 1 and tt_fake.posts == []

    assert resolve(ledger, "tiktok", "--not-posted") == 0
    outcome = tt_publish(tt_fake, ledger, video)()
    assert len(tt_fake.posts) == 1 and outcome.post.remote_id == str(tt_fake.posts[0].post_id)


def test_tiktok_a_public_id_not_out_by_the_deadline_fails_retryably_and_the_next_run_only_polls(
    tt_fake: FakeTikTok, tmp_path: Path, video: Path
) -> None:
    ledger = str(tmp_path / "ledger.sqlite3")
    publish = tt_publish(tt_fake, ledger, video)
    tt_fake.post_id_polls = 10**6  # moderation goes on: PUBLISH_COMPLETE with an empty id list

    with pytest.raises(RetryableError, match="has not given out its public post id"):
        publish(clock=FakeClock(), timeout_s=1.0)
    assert PublishLedger(ledger).get(KEY, "tiktok") is None  # the publish id is not recorded as the post id

    tt_fake.post_id_polls = 0
    outcome = publish(clock=FakeClock(), timeout_s=1.0)

    (upload,) = tt_fake.uploads.values()
    assert len(tt_fake.calls("init")) == 1 and len(tt_fake.calls("upload")) == 4 and tt_fake.posts == [upload]
    assert outcome.post.remote_id == str(upload.post_id) != upload.publish_id
    assert outcome.post.upload_id == upload.publish_id


# -- Instagram and Facebook -------------------------------------------------------------------------------------


@pytest.fixture
def meta_fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeMeta]:
    with FakeMeta() as server:
        publishing.use_token(monkeypatch, tmp_path, "instagram", server.token)
        # The Page's own token where the fake tells token kinds apart, else its one token.
        publishing.use_token(monkeypatch, tmp_path, "facebook", getattr(server, "page_token", server.token))
        yield server


def meta_publish(fake: FakeMeta, platform: str, ledger: str, video: Path) -> Callable[[], PublishOutcome]:
    def publish() -> PublishOutcome:
        account = fake.ig_user if platform == "instagram" else fake.page
        hosts = {"api_base_url": fake.base_url, "upload_base_url": fake.base_url, "ledger_path": ledger}
        publisher = publishing.api_publisher(platform, Path(ledger).parent, account_id=account, **hosts)
        return publisher.publish(publishing.post_request(platform, video))

    return publish


@pytest.mark.parametrize("how", ["timeout", "drop", "status"])
def test_instagram_a_media_publish_whose_answer_was_lost_is_found_by_container_and_caption(
    meta_fake: FakeMeta, tmp_path: Path, video: Path, how: str
) -> None:
    meta_fake.lose_answer_after("publish", how=how)

    outcome = meta_publish(meta_fake, "instagram", str(tmp_path / "ledger.sqlite3"), video)()

    (media_id,) = meta_fake.media
    assert len(meta_fake.calls("publish")) == 1 and meta_fake.published == 1
    assert meta_fake.calls("status")[-1].params["fields"] == "status_code"  # the container read, then the list
    (listing,) = [r for r in meta_fake.calls("media") if r.method == "GET"]
    assert "caption" in listing.params["fields"] and outcome.post.remote_id == media_id


def test_instagram_a_lost_media_publish_the_account_does_not_list_is_unconfirmed_and_never_reposted(
    meta_fake: FakeMeta, tmp_path: Path, video: Path
) -> None:
    ledger = str(tmp_path / "ledger.sqlite3")
    publish = meta_publish(meta_fake, "instagram", ledger, video)
    meta_fake.lose_answer_after("publish")
    meta_fake.media_listing_hides_newest = 1  # the media list has not caught up

    with pytest.raises(UnconfirmedPost, match=r"media_publish.*Check the Instagram account 1784\d+ .*container"):
        publish()
    with pytest.raises(UnconfirmedPost):
        publish()
    assert len(meta_fake.calls("publish")) == 1 and meta_fake.published == 1

    (media_id,) = meta_fake.media
    assert resolve(ledger, "instagram", "--posted", media_id) == 0
    assert publish().post.remote_id == media_id and len(meta_fake.calls("publish")) == 1


@pytest.mark.parametrize("how", ["timeout", "drop", "status"])
def test_facebook_a_finish_whose_answer_was_lost_is_found_in_the_publishing_phase(
    meta_fake: FakeMeta, tmp_path: Path, video: Path, how: str
) -> None:
    meta_fake.lose_answer_after("finish", how=how)

    outcome = meta_publish(meta_fake, "facebook", str(tmp_path / "ledger.sqlite3"), video)()

    (video_id,) = meta_fake.uploads
    assert len(meta_fake.calls("finish")) == 1 and meta_fake.published == 1
    assert outcome.post.remote_id == video_id and outcome.post.status == "published"


def test_facebook_a_lost_finish_whose_status_cannot_be_read_is_unconfirmed_and_never_reposted(
    meta_fake: FakeMeta, tmp_path: Path, video: Path
) -> None:
    ledger = str(tmp_path / "ledger.sqlite3")
    publish = meta_publish(meta_fake, "facebook", ledger, video)
    meta_fake.lose_answer_after("finish")
    meta_fake.fail("status", status=500, times=3)  # every attempt of the lookup fails: nobody can tell

    with pytest.raises(UnconfirmedPost, match=r"upload_phase=finish.*Check the Facebook Page \d+ for a post with"):
        publish()
    with pytest.raises(UnconfirmedPost):
        publish()
    assert len(meta_fake.calls("finish")) == 1 and len(meta_fake.calls("start")) == 1 and meta_fake.published == 1


# -- YouTube ----------------------------------------------------------------------------------------------------

YT_TOKEN = "ya29.unknown-outcome-token"


@pytest.fixture
def yt_fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeYouTube]:
    monkeypatch.setenv("YOUTUBE_ACCESS_TOKEN", YT_TOKEN)
    with FakeYouTube() as server:
        server.accept_token(YT_TOKEN)
        yield server


def yt_publish(fake: FakeYouTube, ledger: str, video: Path) -> Callable[[], PublishOutcome]:
    def publish() -> PublishOutcome:
        settings: dict[str, Any] = {"api_base_url": fake.base_url, "chunk_size_bytes": 256 * KIB, "ledger_path": ledger}
        publisher = publishing.api_publisher("youtube", Path(ledger).parent, privacy="unlisted", **settings)
        return publisher.publish(publishing.post_request("youtube", video))

    return publish


def test_youtube_a_session_gone_after_the_last_chunk_is_looked_up_in_the_uploads_not_started_again(
    yt_fake: FakeYouTube, tmp_path: Path, video: Path
) -> None:
    yt_fake.lose_final_answer(how="drop", expire=True)  # the video exists; the session answers 404 from then on

    outcome = yt_publish(yt_fake, str(tmp_path / "ledger.sqlite3"), video)()

    (video_id,) = yt_fake.videos
    assert yt_fake.count("start") == 1 and len(yt_fake.sessions) == 1  # never a second session
    (listing,) = yt_fake.calls("playlist_items")
    assert listing.query["playlistId"] == "UUfakeChannel0000000000"
    assert outcome.post.remote_id == video_id and yt_fake.uploaded_bytes(video_id) == video.read_bytes()


def test_youtube_a_lost_final_answer_on_a_live_session_is_read_from_the_session(
    yt_fake: FakeYouTube, tmp_path: Path, video: Path
) -> None:
    yt_fake.lose_final_answer(how="status", expire=False)

    outcome = yt_publish(yt_fake, str(tmp_path / "ledger.sqlite3"), video)()

    (video_id,) = yt_fake.videos
    assert yt_fake.count("start") == 1 and yt_fake.count("query") >= 1 and outcome.post.remote_id == video_id


def test_youtube_a_gone_session_whose_video_is_not_listed_is_unconfirmed_and_never_uploaded_again(
    yt_fake: FakeYouTube, tmp_path: Path, video: Path
) -> None:
    ledger = str(tmp_path / "ledger.sqlite3")
    publish = yt_publish(yt_fake, ledger, video)
    yt_fake.lose_final_answer(how="drop", expire=True)
    yt_fake.uploads_hide_newest = 1  # the uploads playlist has not caught up

    with pytest.raises(UnconfirmedPost, match=r"last chunk of videos\.insert.*YouTube channel .*titled 'Freeze herbs"):
        publish()
    with pytest.raises(UnconfirmedPost):
        publish()
    assert yt_fake.count("start") == 1 and len(yt_fake.videos) == 1

    (video_id,) = yt_fake.videos
    assert resolve(ledger, "youtube", "--posted", video_id) == 0
    assert publish().post.remote_id == video_id and yt_fake.count("start") == 1
