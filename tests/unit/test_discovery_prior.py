"""The learned discovery prior: Beta posteriors per arm, forgetting, and Thompson-sampled multipliers."""

from __future__ import annotations

import random
import statistics
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from resources.analytics.outcomes import PostOutcome
from resources.analytics.records import MetricsReading, PostAttributes
from resources.analytics.series import MetricsSeries
from resources.database.tables import posts as posts_table
from resources.discovery.performance import arm_outcomes, arms_of, load_history
from resources.discovery.prior import (
    NO_HISTORY,
    ArmOutcome,
    ThompsonPrior,
    choose_arm,
    forgetting_weight,
    hashtags_in,
    posteriors,
    success_share,
)
from resources.records import Post

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def record(arm: str, successes: int, trials: int, *, days_ago: float = 0) -> list[ArmOutcome]:
    """`trials` shorts of one arm, the first `successes` of which beat their baseline."""
    at = NOW - timedelta(days=days_ago)
    return [ArmOutcome((arm,), 1.0 if i < successes else 0.0, at) for i in range(trials)]


def wins(first: str, second: str, history: list[ArmOutcome], draws: int = 100) -> int:
    """In how many of `draws` seeded ticks the source `first` gets a higher multiplier than `second`."""
    known = posteriors(history, now=NOW)
    count = 0
    for seed in range(draws):
        tick = ThompsonPrior(known, random.Random(seed))
        count += tick.for_candidate(first).multiplier > tick.for_candidate(second).multiplier
    return count


# ---- posteriors ---------------------------------------------------------------------------------------------
def test_posteriors_start_from_beta_1_1_and_count_every_arm_of_a_short() -> None:
    history = [
        ArmOutcome(("source:a", "author:@x"), 1.0, NOW),
        ArmOutcome(("source:a",), 0.0, NOW),
    ]
    known = posteriors(history, now=NOW)
    assert (known["source:a"].alpha, known["source:a"].beta) == (2.0, 2.0)
    assert (known["author:@x"].alpha, known["author:@x"].beta) == (2.0, 1.0)
    assert known["source:a"].counts() == "1/2"


def test_a_short_on_several_platforms_counts_as_the_share_that_beat_their_baseline() -> None:
    assert success_share([2.0, 0.5, 1.0]) == pytest.approx(2 / 3)  # relative 1.0 counts as beating it
    assert success_share([None, 0.4]) == 0.0  # a platform without a baseline says nothing
    assert success_share([None, None]) is None
    known = posteriors([ArmOutcome(("source:a",), 2 / 3, NOW)], now=NOW)
    assert known["source:a"].alpha == pytest.approx(1 + 2 / 3) and known["source:a"].beta == pytest.approx(4 / 3)


def test_old_outcomes_count_half_per_30_day_half_life() -> None:
    assert forgetting_weight(NOW - timedelta(days=30), NOW) == pytest.approx(0.5)
    assert forgetting_weight(NOW - timedelta(days=90), NOW) == pytest.approx(0.125)
    assert forgetting_weight(NOW + timedelta(days=1), NOW) == 1.0  # clock skew: not more than fully
    known = posteriors(record("source:a", 1, 1, days_ago=60), now=NOW)
    assert known["source:a"].alpha == pytest.approx(1.25) and known["source:a"].beta == 1.0
    assert known["source:a"].counts() == "1/1"  # the reason shows what happened, the Beta what still counts


# ---- multipliers --------------------------------------------------------------------------------------------
def test_without_history_the_multiplier_is_one_and_nothing_is_drawn() -> None:
    rng = random.Random(7)
    state = rng.getstate()
    prior = ThompsonPrior({}, rng).for_candidate("trending", "@alice", "#cats")
    assert (prior.multiplier, prior.clause) == (1.0, NO_HISTORY)
    assert rng.getstate() == state


def test_the_same_seed_draws_the_same_prior() -> None:
    known = posteriors(record("source:a", 3, 5), now=NOW)
    first = ThompsonPrior(known, random.Random(42)).for_candidate("a", "@bob")
    again = ThompsonPrior(known, random.Random(42)).for_candidate("a", "@bob")
    assert first == again


def test_an_untried_source_is_neither_favoured_nor_buried() -> None:
    known = posteriors(record("source:proven", 8, 10), now=NOW)
    multipliers = [ThompsonPrior(known, random.Random(seed)).for_candidate("new").multiplier for seed in range(400)]
    assert all(0.5 <= value <= 1.5 for value in multipliers)
    assert statistics.fmean(multipliers) == pytest.approx(1.0, abs=0.05)  # Beta(1, 1): mean 0.5, + 0.5


def test_an_arm_is_drawn_once_per_tick_for_all_its_candidates() -> None:
    tick = ThompsonPrior(posteriors(record("source:a", 3, 5), now=NOW), random.Random(1))
    assert tick.for_candidate("a").multiplier == tick.for_candidate("a").multiplier


def test_the_clause_names_the_arms_and_their_record() -> None:
    history = [*record("source:foryou", 7, 9), *record("author:@alice", 1, 1), *record("hashtag:#cats", 2, 3)]
    tick = ThompsonPrior(posteriors(history, now=NOW), random.Random(3))
    prior = tick.for_candidate("foryou", "@Alice", "so cute #Cats #neverseen")
    assert prior.clause == (
        f"prior ×{prior.multiplier:.2f} (beat baseline: source:foryou 7/9, @alice 1/1, #cats 2/3; sampled)"
    )  # #neverseen has no outcomes: it would only add noise, so it does not count
    assert "source:newsource untried, @bob untried" in tick.for_candidate("newsource", "bob").clause


def test_hashtags_are_read_from_the_caption_lower_case_once() -> None:
    assert hashtags_in("Wow #FYP #cats, #fyp again and a#not ##double") == ["fyp", "cats"]


# ---- exploration and exploitation, measured over 100 seeded ticks --------------------------------------------
def test_a_source_at_8_of_10_outranks_one_at_1_of_10_nearly_always() -> None:
    history = [*record("source:good", 8, 10), *record("source:bad", 1, 10)]
    assert wins("good", "bad", history) >= 95  # measured: 100 of 100


def test_a_never_tried_source_still_wins_often_against_a_bad_one_and_sometimes_against_a_good_one() -> None:
    history = [*record("source:good", 8, 10), *record("source:bad", 1, 10)]
    assert 70 <= wins("new", "bad", history) <= 97  # measured: 85 of 100 (expected 1 − 2/12 ≈ 83%)
    assert 5 <= wins("new", "good", history) <= 40  # measured: 17 of 100 (expected 1 − 9/12 = 25%)


def test_one_early_hit_does_not_lock_the_choice_in() -> None:
    steady = record("source:steady", 30, 50)
    # A fresh 1/1 is Beta(2, 1) against Beta(31, 21): it wins more often than not, but far from always.
    assert 45 <= wins("lucky", "steady", [*steady, *record("source:lucky", 1, 1)]) <= 80  # measured: 63 of 100
    # Two months later the hit counts a quarter (Beta(1.25, 1)): the steady source wins most ticks.
    assert wins("lucky", "steady", [*steady, *record("source:lucky", 1, 1, days_ago=60)]) < 50  # measured: 43


def test_format_arms_are_chosen_by_thompson_sampling_too() -> None:
    known = posteriors([*record("layout:split", 9, 10), *record("layout:full", 1, 10)], now=NOW)
    picks = [choose_arm(["layout:split", "layout:full"], known, random.Random(seed)) for seed in range(100)]
    assert picks.count("layout:split") >= 95
    with pytest.raises(ValueError, match="no options"):
        choose_arm([], known, random.Random(0))


# ---- the history from the metrics series -----------------------------------------------------------------------
def attributes(key: str, source: str, **facts: Any) -> PostAttributes:
    return PostAttributes(partition_key=key, source_name=source, **facts)


def outcome(key: str, platform: str, relative: float | None) -> PostOutcome:
    return PostOutcome(key, platform, 30, 100, 0.0, 24, 100, 100, relative)


def post(key: str, platform: str, posted_at: datetime = NOW) -> Post:
    return Post(
        platform=platform,
        partition_key=key,
        status="published",
        remote_id=f"id-{key}-{platform}",
        provider=platform,
        title="t",
        caption="c",
        posted_at=posted_at,
        media_uri="file:///x.mp4",
    )


def test_a_shorts_arms_are_its_source_author_hashtags_and_format() -> None:
    made_of = attributes(
        "k", "foryou", author="@Alice", hashtags=["cats", "fyp"], layout="split", voice_provider="piper"
    )
    assert arms_of(made_of) == (
        "source:foryou",
        "author:@alice",
        "hashtag:#cats",
        "hashtag:#fyp",
        "layout:split",
        "voice:piper",
    )


def test_history_keeps_shorts_with_attributes_and_a_baseline_dated_by_their_first_post() -> None:
    made = {"a": attributes("a", "foryou"), "b": attributes("b", "foryou")}
    outcomes = [outcome("a", "youtube", 2.0), outcome("a", "x", 0.5), outcome("b", "youtube", None)]
    outcomes.append(outcome("c", "youtube", 3.0))  # no attributes: published before they were recorded
    found = arm_outcomes(made, outcomes, [post("a", "youtube", NOW), post("a", "x", NOW - timedelta(days=2))])
    assert found == [ArmOutcome(("source:foryou",), 0.5, NOW - timedelta(days=2))]


def test_no_database_file_is_no_history_and_creates_nothing(tmp_path: Path) -> None:
    location = tmp_path / "publish_ledger.sqlite3"
    assert load_history(str(location)) == [] and not location.exists()
    assert load_history("") == []


def test_history_is_loaded_from_the_metrics_series(tmp_path: Path) -> None:
    location = str(tmp_path / "ledger.sqlite3")
    series = MetricsSeries(location)
    keys = ["p0", "p1", "p2", "p3", "hit"]
    with series.engine.begin() as db:
        for key in keys:
            row = post(key, "youtube", NOW - timedelta(days=2))
            db.execute(
                sa.insert(posts_table).values(
                    partition_key=key, platform="youtube", remote_id=row.remote_id, record_json=row.model_dump_json()
                )
            )
    for key, views in zip(keys, (50.0, 100.0, 200.0, 300.0, 1_000.0), strict=True):  # the median at 24 h: 200
        series.record(
            MetricsReading(
                partition_key=key,
                platform="youtube",
                remote_id=f"id-{key}",
                observed_at=NOW - timedelta(days=1),
                values={"views": views, "likes": 3},
            )
        )
        series.record_attributes(attributes(key, "good" if key == "hit" else "plain"))
    history = load_history(location, max_age_s=0)
    assert [(o.arms, o.success) for o in history] == [
        (("source:good",), 1.0),  # "hit": 5× the median
        (("source:plain",), 0.0),  # p0: 0.25×
        (("source:plain",), 0.0),
        (("source:plain",), 1.0),  # p2 is the median itself: relative 1.0 beats it
        (("source:plain",), 1.0),
    ]
    assert history[0].at == NOW - timedelta(days=2)
    known = posteriors(history, now=NOW)
    assert known["source:good"].counts() == "1/1" and known["source:plain"].counts() == "2/4"
