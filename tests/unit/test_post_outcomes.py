"""Post outcomes: views compared at the same age with the same platform's other posts."""

from datetime import UTC, datetime, timedelta

import pytest

from resources.analytics.outcomes import post_outcomes
from resources.analytics.series import Observation
from resources.records import Post

START = datetime(2026, 11, 1, tzinfo=UTC)


def post(key: str, platform: str = "youtube") -> Post:
    return Post(
        platform=platform,
        partition_key=key,
        status="published",
        remote_id=f"id-{key}",
        provider="youtube",
        title="t",
        caption="c",
        posted_at=START,
        media_uri="file:///x.mp4",
    )


def views(key: str, points: list[tuple[float, float]], platform: str = "youtube") -> list[Observation]:
    return [Observation(key, platform, "views", START + timedelta(hours=h), v) for h, v in points]


def test_a_post_is_compared_at_its_age_with_the_platforms_median() -> None:
    keys = ["p0", "p1", "p2", "p3", "hit"]
    observations = [item for key in keys[:3] for item in views(key, [(24, 100.0), (168, 1000.0)])]
    observations += views("p3", [(24, 100.0)])
    observations += views("hit", [(10, 100.0), (30, 700.0)])  # at 24 h: 100 + 0.7 * 600 = 520
    outcomes = {o.partition_key: o for o in post_outcomes(observations, [post(k) for k in keys])}
    hit = outcomes["hit"]
    assert hit.checkpoint_h == 24
    assert hit.views_at_checkpoint == pytest.approx(520)
    assert hit.baseline_views == pytest.approx(100)  # the median at 24 h of the five posts
    assert hit.relative == pytest.approx(5.2)
    assert (
        outcomes["p0"].checkpoint_h == 168 and outcomes["p0"].relative is None
    )  # 3 posts reached 7 days: 2 others are no baseline


def test_platforms_are_separate_accounts_and_engagement_uses_the_latest_counts() -> None:
    counts = [Observation("a", "x", name, START + timedelta(hours=2), 5) for name in ("likes", "comments")]
    obs = [*views("a", [(2, 50.0)], "x"), *counts, *views("a", [(2, 10_000.0)], "youtube")]
    outcomes = {o.platform: o for o in post_outcomes(obs, [post("a", "x"), post("a", "youtube")])}
    assert outcomes["x"].engagement == pytest.approx(0.2)
    assert outcomes["x"].views == 50 and outcomes["youtube"].views == 10_000
    assert outcomes["x"].baseline_views is None  # one post is no baseline


def test_observations_of_unknown_posts_are_ignored() -> None:
    assert post_outcomes(views("ghost", [(5, 10.0)]), []) == []
