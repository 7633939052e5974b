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
from resources.publish import Publisher
from resources.publish.ledger import PublishInProgress, PublishLedger, UnconfirmedPost, _engine
from resources.publish.platforms import client as platform_client
from resources.publish.platforms import linkedin
from resources.publish.publisher import PublishOutcome
from tests.providers import publishing
from tests.providers.fakes.linkedin_server import FakeLinkedIn
from tests.providers.fakes.x_server import FakeX
from tests.providers.publishing import KEY

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
    _engine.cache_clear()


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


def test_a_publish_that_died_mid_create_is_taken_over_and_looked_up(
    x_fake: FakeX, tmp_path: Path, video: Path
) -> None:
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
