"""viral_video_sensor: virality score and filters, then ticks on a real instance (new, seen, capped, recovered)."""

from __future__ import annotations

import json
import math
import random
import socket
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from dagster import DagsterInstance, DagsterRun, SensorEvaluationContext, SensorResult, SkipReason, build_sensor_context

from resources.discovery.candidates import Candidate, SourceError
from resources.discovery.configured import Discovery, DiscoverySources, FixedDiscovery
from resources.discovery.prior import ArmOutcome
from resources.discovery.virality import Snapshot, ViralityRules, evaluate, human, score
from resources.media.source_registry import lookup_source
from resources.media.store import MediaStore
from sensors import viral_video_sensor as module
from sensors.viral_video_sensor import TickOutcome, evaluate_tick, partition_key_for, viral_video_sensor

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def video(video_id: str, *, views: int | None = 200_000, age_h: float = 4, **facts: Any) -> Candidate:
    """A TikTok candidate uploaded `age_h` hours before NOW (before the real clock for sensor ticks too)."""
    facts.setdefault("likes", (views or 0) // 20)
    facts.setdefault("duration_s", 30)
    return Candidate(
        platform="tiktok",
        video_id=video_id,
        url=f"https://www.tiktok.com/@someone/video/{video_id}",
        source_name=facts.pop("source_name", "trending"),
        uploaded_at=facts.pop("uploaded_at", NOW - timedelta(hours=age_h)),
        views=views,
        **facts,
    )


class StubSource:
    """A CandidateSource that returns fixed candidates (the real sources have their own tests)."""

    def __init__(self, name: str, candidates: list[Candidate], *, listed_explicitly: bool = False) -> None:
        self.name = name
        self.candidates = candidates
        self.listed_explicitly = listed_explicitly

    def fetch(self) -> list[Candidate]:
        return list(self.candidates)


class BrokenSource:
    def __init__(self, name: str, error: Exception) -> None:
        self.name = name
        self.error = error

    def fetch(self) -> list[Candidate]:
        raise self.error


def no_runs(key: str) -> bool:
    return False


# ---- score --------------------------------------------------------------------------------------------------
def test_score_is_log_velocity_times_engagement() -> None:
    candidate = video("1", views=100_000, age_h=10, likes=5_000, comments=500, shares=200, saves=100)
    scored = score(candidate, now=NOW, previous=None)
    engagement = (5_000 + 2 * 500 + 3 * 200 + 2 * 100) / 100_000
    assert scored.velocity == pytest.approx(10_000)
    assert scored.engagement == pytest.approx(engagement)
    assert scored.score == pytest.approx(math.log10(10_001) * (1 + 10 * engagement))


def test_fresh_uploads_count_as_one_hour_old() -> None:
    assert score(video("1", views=3_000, age_h=0.1), now=NOW, previous=None).velocity == pytest.approx(3_000)


def test_unknown_upload_time_counts_as_the_oldest_allowed_age() -> None:
    candidate = video("1", views=72_000, uploaded_at=None)
    assert score(candidate, now=NOW, previous=None, max_age_hours=72).velocity == pytest.approx(1_000)


def test_engagement_is_capped_at_100_percent() -> None:
    assert score(video("1", views=100, likes=10_000), now=NOW, previous=None).engagement == 1.0


def test_growth_faster_than_the_average_raises_the_score() -> None:
    candidate = video("1", views=100_000, age_h=10)  # 10k views/h on average
    alone = score(candidate, now=NOW, previous=None)
    surging = score(candidate, now=NOW, previous=Snapshot(50_000, NOW - timedelta(minutes=30)))  # 100k/h now
    slowing = score(candidate, now=NOW, previous=Snapshot(99_000, NOW - timedelta(minutes=30)))  # 2k/h now
    assert surging.growth_views == 50_000 and surging.acceleration == pytest.approx(10)
    assert surging.score == pytest.approx(alone.score * 2)  # 10x the average rate doubles the score
    assert slowing.score == pytest.approx(alone.score)  # normal decay is not penalised


def test_growth_needs_a_minute_between_sightings() -> None:
    candidate = video("1", views=100_000)
    assert score(candidate, now=NOW, previous=Snapshot(1, NOW - timedelta(seconds=20))).growth_views is None


# ---- evaluate -----------------------------------------------------------------------------------------------
def test_accepted_reason_shows_score_and_figures() -> None:
    previous = Snapshot(150_000, NOW - timedelta(minutes=5))
    decision = evaluate(video("1", views=200_000, age_h=4), ViralityRules(), now=NOW, previous=previous)
    assert decision.accepted
    assert decision.reason.startswith(f"score {decision.score:.1f} ≥ 3: 50k views/h, engagement 5.0%")
    assert "+50k views since last tick" in decision.reason


def test_low_score_is_rejected_with_its_figures() -> None:
    decision = evaluate(video("1", views=20_000, age_h=70, likes=0), ViralityRules(), now=NOW)
    assert not decision.accepted
    assert decision.reason.startswith("score 2.5 < 3: 286 views/h, engagement 0.0%")


RULES = ViralityRules(
    languages=["en"], blocked_authors=["@spammer"], blocked_words=["giveaway", "free money"], max_age_hours=48
)


@pytest.mark.parametrize(
    ("facts", "reason"),
    [
        ({"duration_s": 600}, "filtered: 600 s long > 180 s max"),
        ({"views": 4_200}, "filtered: 4.2k views < 10k min"),
        ({"language": "de-DE"}, "filtered: language 'de-DE' not in ['en']"),
        ({"author": "SPAMMER"}, "filtered: blocked author '@spammer'"),
        ({"caption": "Huge GIVEAWAY today!"}, "filtered: blocked word 'giveaway'"),
        ({"caption": "how I found free  money? no: free money"}, "filtered: blocked word 'free money'"),
        ({"age_h": 50}, "filtered: uploaded 50 h ago > 48 h max"),
        ({"views": None}, "filtered: no view count"),
    ],
)
def test_filters_name_their_reason(facts: dict[str, Any], reason: str) -> None:
    decision = evaluate(video("1", **facts), RULES, now=NOW)
    assert not decision.accepted and decision.reason.startswith(reason)


def test_blocked_words_match_whole_words_only() -> None:
    assert evaluate(video("1", caption="my giveaways recap", language="en-US"), RULES, now=NOW).accepted


def test_explicit_listing_without_metrics_is_accepted_but_still_blocked_and_length_checked() -> None:
    listed = video("1", views=None, likes=None, source_name="urls:2")
    decision = evaluate(listed, RULES, now=NOW, listed_explicitly=True)
    assert decision.accepted and decision.reason == "listed explicitly in urls:2"
    assert not evaluate(
        listed.model_copy(update={"caption": "giveaway"}), RULES, now=NOW, listed_explicitly=True
    ).accepted
    too_long = listed.model_copy(update={"duration_s": 900})
    assert not evaluate(too_long, RULES, now=NOW, listed_explicitly=True).accepted


def test_per_source_threshold_overrides_the_rules() -> None:
    candidate = video("1", views=200_000)
    assert evaluate(candidate, ViralityRules(), now=NOW).accepted
    assert not evaluate(candidate, ViralityRules(), now=NOW, min_score=99).accepted


def test_human_counts() -> None:
    assert [human(950), human(5_400), human(54_300), human(1_250_000)] == ["950", "5.4k", "54k", "1.2M"]


# ---- evaluate_tick --------------------------------------------------------------------------------------------
def test_partition_keys_are_kept_when_valid_and_hashed_when_not() -> None:
    assert partition_key_for(video("7301234567890123456")) == "tiktok-7301234567890123456"
    youtube = Candidate(platform="YouTube", video_id="dQw4w9WgXcQ", url="u", source_name="s")
    hashed = partition_key_for(youtube)
    assert hashed and hashed.startswith("youtube-") and hashed != "youtube-dqw4w9wgxcq"
    assert partition_key_for(youtube.model_copy(update={"video_id": "x" * 100})) == partition_key_for(
        youtube.model_copy(update={"video_id": "x" * 100})
    )
    assert partition_key_for(youtube.model_copy(update={"platform": "??"})) is None


def test_growth_between_ticks_turns_a_rejected_video_into_a_chosen_one() -> None:
    slow = video("1", views=40_000, age_h=20, likes=0)  # 2k views/h: score 3.3 < 4
    rules = ViralityRules(min_score=4)
    first = evaluate_tick([StubSource("s", [slow])], rules, {}, set(), no_runs, NOW)
    assert not first.chosen and first.rejected == 1
    later = NOW + timedelta(minutes=30)
    surging = slow.model_copy(update={"views": 90_000})  # +50k in 30 min = 100k/h
    second = evaluate_tick([StubSource("s", [surging])], rules, first.cursor, set(), no_runs, later)
    assert [c.key for c in second.chosen] == ["tiktok-1"]
    assert "+50k views since last tick" in second.chosen[0].reason


def test_pending_video_that_stops_qualifying_is_dropped() -> None:
    videos = [video(str(i), views=100_000 + i * 10_000) for i in range(3)]
    first = evaluate_tick([StubSource("s", videos)], ViralityRules(), {}, set(), no_runs, NOW, 1)
    assert [e["key"] for e in first.cursor["pending"]] == ["tiktok-1", "tiktok-0"]
    cooled = videos[1].model_copy(update={"views": 100})
    second = evaluate_tick([StubSource("s", [cooled])], ViralityRules(), first.cursor, set(), no_runs, NOW, 1)
    assert [c.key for c in second.chosen] == ["tiktok-0"] and second.cursor["pending"] == []


def test_seen_memory_keeps_only_the_newest(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(module, "SEEN_LIMIT", 2)
    cursor: dict[str, Any] = {}
    for minute, video_id in enumerate(["a", "b", "c"]):
        outcome = evaluate_tick(
            [StubSource("s", [video(video_id, views=1)])],
            ViralityRules(),
            cursor,
            set(),
            no_runs,
            NOW + timedelta(minutes=minute),
        )
        cursor = outcome.cursor
    assert sorted(cursor["seen"]) == ["tiktok-b", "tiktok-c"]


def test_run_checks_happen_only_for_existing_partitions_never_per_candidate() -> None:
    checked: list[str] = []

    def has_run(key: str) -> bool:
        checked.append(key)
        return True

    videos = [video(str(i)) for i in range(1_000)]
    outcome = evaluate_tick([StubSource("s", videos)], ViralityRules(), {}, {"tiktok-5"}, has_run, NOW)
    assert checked == ["tiktok-5"]  # already ran elsewhere: not requested, not counted against the cap
    assert len(outcome.chosen) == 10 and "tiktok-5" not in [c.key for c in outcome.chosen]


def test_a_cursor_from_another_version_starts_fresh() -> None:
    outcome = evaluate_tick([StubSource("s", [video("1")])], ViralityRules(), {"v": 0, "seen": 5}, set(), no_runs, NOW)
    assert [c.key for c in outcome.chosen] == ["tiktok-1"]


# ---- the sensor on a real instance ------------------------------------------------------------------------------
@pytest.fixture
def instance() -> DagsterInstance:
    return DagsterInstance.ephemeral()


@pytest.fixture
def store(tmp_path: Path) -> MediaStore:
    return MediaStore(root=str(tmp_path / "media"))


# The `discovery_sources` resource `tick` gives the sensor; tests point it at stub sources or a file.
DISCOVERY: Any = DiscoverySources(config_path="discovery-file-not-set-by-this-test.yaml")


def use_sources(
    monkeypatch: pytest.MonkeyPatch, *sources: Any, history: list[ArmOutcome] | None = None, **options: Any
) -> None:
    """Point the sensor at stub sources and a performance history (its seam: `discovery_sources.load()`)."""
    discovery = FixedDiscovery(Discovery(list(sources), **options), history)
    monkeypatch.setattr(sys.modules[__name__], "DISCOVERY", discovery)


def recent(video_id: str, views: int = 200_000, **facts: Any) -> Candidate:
    """A candidate uploaded two hours before the real clock (sensor ticks use datetime.now)."""
    return video(video_id, views=views, uploaded_at=datetime.now(UTC) - timedelta(hours=2), **facts)


def tick(instance: DagsterInstance, store: MediaStore, cursor: str | None) -> SensorResult:
    resources = {"media_store": store, "discovery_sources": DISCOVERY}
    context = build_sensor_context(instance=instance, cursor=cursor, resources=resources)
    result = viral_video_sensor(context)
    assert isinstance(result, SensorResult)
    return result


class SpyLog:
    """Stands in for the tick's logger to read what the tick logged."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, message: str) -> None:
        self.lines.append(message)

    def warning(self, message: str) -> None:
        self.lines.append(f"WARNING {message}")


def run_keys(result: SensorResult) -> list[str | None]:
    return [r.run_key for r in result.run_requests or []]


def added(result: SensorResult) -> list[str]:
    return [key for request in result.dynamic_partitions_requests or [] for key in request.partition_keys or []]


def add_run(instance: DagsterInstance, key: str) -> None:
    """What the daemon leaves behind once it launched the run for a partition."""
    run = DagsterRun(job_name="short_pipeline_job", run_id=str(uuid.uuid4()), tags={"dagster/partition": key})
    instance.add_run(run)


def test_new_viral_video_becomes_a_partition_a_run_and_a_registered_source(
    monkeypatch: pytest.MonkeyPatch, instance: DagsterInstance, store: MediaStore
) -> None:
    use_sources(monkeypatch, StubSource("trending", [recent("111"), recent("222", views=50)]))
    result = tick(instance, store, None)
    assert added(result) == ["tiktok-111"]
    assert run_keys(result) == ["video:tiktok-111"]
    request = (result.run_requests or [])[0]
    assert request.partition_key == "tiktok-111" and request.tags["viral/source"] == "trending"
    assert float(request.tags["viral/score"]) > 3
    registered = lookup_source(store, "tiktok-111")
    assert registered and registered.source.endswith("/video/111") and registered.reason.startswith("score ")
    cursor = json.loads(result.cursor or "")
    assert cursor["v"] == 1 and set(cursor["seen"]) == {"tiktok-111", "tiktok-222"}
    assert list(cursor["in_flight"]) == ["tiktok-111"] and cursor["pending"] == []


def test_seen_videos_are_not_requested_again(
    monkeypatch: pytest.MonkeyPatch, instance: DagsterInstance, store: MediaStore
) -> None:
    use_sources(monkeypatch, StubSource("trending", [recent("111")]))
    first = tick(instance, store, None)
    instance.add_dynamic_partitions("source_videos", added(first))  # the daemon applies the result...
    add_run(instance, "tiktok-111")  # ...and launches the run
    second = tick(instance, store, first.cursor)
    assert not second.run_requests and not added(second)
    assert json.loads(second.cursor or "")["in_flight"] == {}  # run seen: no longer watched
    third = tick(instance, store, second.cursor)
    assert not third.run_requests and "0 new" in (third.skip_reason.skip_message or "")  # type: ignore[union-attr]


def test_cap_spreads_the_rest_over_later_ticks_highest_score_first(
    monkeypatch: pytest.MonkeyPatch, instance: DagsterInstance, store: MediaStore
) -> None:
    videos = [recent(f"{i:03d}", views=100_000 + i * 50_000) for i in range(15)]  # more views, higher score
    use_sources(monkeypatch, StubSource("trending", videos))
    first = tick(instance, store, None)
    by_score = [f"tiktok-{i:03d}" for i in reversed(range(15))]
    assert added(first) == by_score[:10] and run_keys(first) == [f"video:{k}" for k in by_score[:10]]
    assert [e["key"] for e in json.loads(first.cursor or "")["pending"]] == by_score[10:]
    instance.add_dynamic_partitions("source_videos", added(first))
    for key in added(first):
        add_run(instance, key)
    second = tick(instance, store, first.cursor)
    assert added(second) == by_score[10:] and run_keys(second) == [f"video:{k}" for k in by_score[10:]]
    assert json.loads(second.cursor or "")["pending"] == []
    assert all(lookup_source(store, key) for key in by_score)


def test_partition_added_without_a_run_is_requested_again_with_the_same_run_key(
    monkeypatch: pytest.MonkeyPatch, instance: DagsterInstance, store: MediaStore
) -> None:
    use_sources(monkeypatch, StubSource("trending", [recent("111")]))
    first = tick(instance, store, None)
    instance.add_dynamic_partitions("source_videos", added(first))  # crash: partition added, no run launched
    second = tick(instance, store, first.cursor)
    assert run_keys(second) == ["video:tiktok-111"] and not added(second)
    add_run(instance, "tiktok-111")
    assert not tick(instance, store, second.cursor).run_requests


def test_lost_cursor_with_an_existing_partition_runs_it_only_if_it_never_ran(
    monkeypatch: pytest.MonkeyPatch, instance: DagsterInstance, store: MediaStore
) -> None:
    use_sources(monkeypatch, StubSource("trending", [recent("111"), recent("222")]))
    instance.add_dynamic_partitions("source_videos", ["tiktok-111", "tiktok-222"])  # crash lost the cursor too
    add_run(instance, "tiktok-222")
    result = tick(instance, store, None)
    assert run_keys(result) == ["video:tiktok-111"] and not added(result)


def test_filtered_videos_are_remembered_but_not_run(
    monkeypatch: pytest.MonkeyPatch, instance: DagsterInstance, store: MediaStore
) -> None:
    candidates = [
        recent("1", duration_s=900),
        recent("2", views=500),
        recent("3", language="de"),
        recent("4", author="@spammer"),
        recent("5", caption="win a giveaway"),
        recent("6", language="en"),
    ]
    rules = ViralityRules(languages=["en"], blocked_authors=["spammer"], blocked_words=["giveaway"])
    use_sources(monkeypatch, StubSource("trending", candidates), rules=rules)
    result = tick(instance, store, None)
    assert added(result) == ["tiktok-6"]
    assert len(json.loads(result.cursor or "")["seen"]) == 6


def test_a_failing_source_is_skipped_logged_and_counted_while_others_run(
    monkeypatch: pytest.MonkeyPatch, instance: DagsterInstance, store: MediaStore
) -> None:
    use_sources(
        monkeypatch,
        BrokenSource("tiktok:@gone", SourceError("account is private")),
        BrokenSource("feed:bug", KeyError("views")),
        StubSource("trending", [recent("111")]),
    )
    spy = SpyLog()
    monkeypatch.setattr(SensorEvaluationContext, "log", property(lambda _: spy))
    first = tick(instance, store, None)
    log = spy.lines
    assert run_keys(first) == ["video:tiktok-111"]
    assert "WARNING source tiktok:@gone skipped: account is private" in log
    assert "WARNING source feed:bug skipped: KeyError: 'views'" in log
    assert any("sources skipped: feed:bug (1 so far), tiktok:@gone (1 so far)" in line for line in log)
    second = tick(instance, store, first.cursor)
    assert json.loads(second.cursor or "")["errors_by_source"] == {"tiktok:@gone": 2, "feed:bug": 2}


def test_explicitly_listed_urls_without_metrics_are_run(
    monkeypatch: pytest.MonkeyPatch, instance: DagsterInstance, store: MediaStore
) -> None:
    listed = Candidate(platform="tiktok", video_id="999", url="https://www.tiktok.com/@a/video/999", source_name="urls")
    use_sources(monkeypatch, StubSource("urls", [listed], listed_explicitly=True))
    result = tick(instance, store, None)
    assert added(result) == ["tiktok-999"]
    registered = lookup_source(store, "tiktok-999")
    assert registered and registered.reason == "listed explicitly in urls"


def test_missing_config_skips_and_says_how_to_create_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, instance: DagsterInstance, store: MediaStore
) -> None:
    missing = DiscoverySources(config_path=str(tmp_path / "discovery.yaml"))
    context = build_sensor_context(instance=instance, resources={"media_store": store, "discovery_sources": missing})
    result = viral_video_sensor(context)
    assert isinstance(result, SkipReason)
    assert "no discovery config" in (result.skip_message or "") and "sources:" in (result.skip_message or "")


def test_a_real_discovery_file_with_a_url_list_runs_its_urls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, instance: DagsterInstance, store: MediaStore
) -> None:
    config = tmp_path / "discovery.yaml"
    config.write_text(
        "sources:\n  - kind: url_list\n    name: picks\n    urls:\n"
        "      - https://www.tiktok.com/@scout2015/video/6718335390845095173\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "DISCOVERY", DiscoverySources(config_path=str(config)))
    result = tick(instance, store, None)
    assert added(result) == ["tiktok-6718335390845095173"]
    registered = lookup_source(store, "tiktok-6718335390845095173")
    assert registered and registered.reason == "listed explicitly in picks"


@pytest.mark.timeout(60)  # generous bound on the test itself; the feed's own deadline is what ends the fetch
def test_a_feed_that_never_answers_is_skipped_at_its_deadline_with_a_warning_and_the_tick_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, instance: DagsterInstance, store: MediaStore
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # connections queue up, nobody ever answers
        config = tmp_path / "discovery.yaml"
        config.write_text(
            "allow_private_networks: true\nsources:\n"
            f"  - kind: feed\n    name: slow\n    timeout_s: 0.3\n"
            f"    location: http://127.0.0.1:{silent.getsockname()[1]}/trending.json\n"
            "  - kind: url_list\n    name: picks\n    urls:\n"
            "      - https://www.tiktok.com/@scout2015/video/6718335390845095173\n"
        )
        monkeypatch.setattr(sys.modules[__name__], "DISCOVERY", DiscoverySources(config_path=str(config)))
        spy = SpyLog()
        monkeypatch.setattr(SensorEvaluationContext, "log", property(lambda _: spy))

        result = tick(instance, store, None)

    assert added(result) == ["tiktok-6718335390845095173"]
    [warning] = [line for line in spy.lines if line.startswith("WARNING")]
    assert warning.startswith("WARNING source slow skipped: feed http://127.0.0.1:")
    assert "no complete answer within timeout_s=0.3 s" in warning
    assert json.loads(result.cursor or "")["errors_by_source"] == {"slow": 1}


def test_explicit_picks_go_before_viral_videos_when_capped() -> None:
    viral = StubSource("trending", [video(str(i), views=1_000_000) for i in range(5)])
    listed = video("999", views=None, likes=None, source_name="picks")
    picks = StubSource("picks", [listed], listed_explicitly=True)
    outcome = evaluate_tick([viral, picks], ViralityRules(), {}, set(), no_runs, NOW, 2)
    assert [c.key for c in outcome.chosen] == ["tiktok-999", "tiktok-0"]


# ---- the learned prior (resources.discovery.prior) ----------------------------------------------------------------
def shorts(source: str, successes: int, trials: int) -> list[ArmOutcome]:
    """Past shorts of one source, the first `successes` of which beat their account's usual reach."""
    return [ArmOutcome((f"source:{source}",), 1.0 if i < successes else 0.0, NOW) for i in range(trials)]


PAST = [*shorts("good", 8, 10), *shorts("bad", 1, 10)]


def twin_tick(other: str, seed: int, history: list[ArmOutcome] = PAST) -> TickOutcome:
    """Two equal candidates, `other`'s listed first, from `good` and `other`; the cap is 1."""
    twins = [StubSource(other, [video("2", source_name=other)]), StubSource("good", [video("1", source_name="good")])]
    return evaluate_tick(twins, ViralityRules(), {}, set(), no_runs, NOW, 1, history=history, rng=random.Random(seed))


def test_without_history_the_ranking_is_the_virality_score_and_the_reason_says_so() -> None:
    candidate = video("1")
    outcome = evaluate_tick([StubSource("s", [candidate])], ViralityRules(), {}, set(), no_runs, NOW)
    [chosen] = outcome.chosen
    plain = evaluate(candidate, ViralityRules(), now=NOW)
    assert chosen.score == round(plain.score, 3)
    assert chosen.reason == f"{plain.reason}; no performance history yet"


def test_a_source_whose_shorts_did_well_is_chosen_over_an_equal_one_whose_shorts_did_not() -> None:
    outcome = twin_tick("bad", seed=0)
    assert [c.source for c in outcome.chosen] == ["good"]
    assert [e["source"] for e in outcome.cursor["pending"]] == ["bad"]
    assert outcome.chosen[0].score > outcome.cursor["pending"][0]["score"]
    assert sum(twin_tick("bad", seed).chosen[0].source == "good" for seed in range(100)) >= 95  # measured: 100


def test_a_never_tried_source_is_still_chosen_in_some_ticks() -> None:
    chosen_new = sum(twin_tick("new", seed).chosen[0].source == "new" for seed in range(100))
    assert 5 <= chosen_new <= 45  # measured: 17 of 100 against a source at 8/10 (expected about a quarter)


def test_the_reason_and_the_ranked_score_show_the_prior() -> None:
    [chosen] = twin_tick("bad", seed=0).chosen
    plain = evaluate(video("1", source_name="good"), ViralityRules(), now=NOW)
    multiplier = chosen.score / plain.score
    assert 0.5 <= multiplier <= 1.5
    assert chosen.reason.startswith(plain.reason + "; prior ×")
    assert chosen.reason.endswith("(beat baseline: source:good 8/10; sampled)")
    assert f"prior ×{multiplier:.2f}" in chosen.reason


def test_the_threshold_applies_to_the_virality_score_before_the_prior() -> None:
    weak = video("1", views=20_000, age_h=70, likes=0, source_name="good")  # score 2.5 < 3
    strong = video("2", views=40_000, age_h=10, likes=0, source_name="bad")  # score 3.6: a bad prior lowers it
    sources = [StubSource("good", [weak]), StubSource("bad", [strong])]
    for seed in range(20):
        outcome = evaluate_tick(
            sources, ViralityRules(), {}, set(), no_runs, NOW, history=PAST, rng=random.Random(seed)
        )
        assert [c.key for c in outcome.chosen] == ["tiktok-2"] and outcome.rejected == 1


def test_explicit_picks_carry_no_prior() -> None:
    listed = video("999", views=None, likes=None, source_name="picks")
    picks = StubSource("picks", [listed], listed_explicitly=True)
    [chosen] = evaluate_tick([picks], ViralityRules(), {}, set(), no_runs, NOW, history=PAST).chosen
    assert chosen.reason == "listed explicitly in picks"


def test_the_sensor_tags_runs_with_the_prior_from_its_history(
    monkeypatch: pytest.MonkeyPatch, instance: DagsterInstance, store: MediaStore
) -> None:
    use_sources(monkeypatch, StubSource("good", [recent("111", source_name="good")]), history=PAST)
    [request] = tick(instance, store, None).run_requests or []
    assert "; prior ×" in request.tags["viral/reason"] and "source:good 8/10" in request.tags["viral/reason"]
    registered = lookup_source(store, "tiktok-111")
    assert registered and registered.reason == request.tags["viral/reason"]


def test_an_unreadable_history_is_logged_and_the_virality_score_ranks_alone(
    monkeypatch: pytest.MonkeyPatch, instance: DagsterInstance, store: MediaStore
) -> None:
    class BrokenHistory(FixedDiscovery):
        def history(self) -> list[ArmOutcome]:
            raise OSError("database is locked")

    monkeypatch.setattr(
        sys.modules[__name__], "DISCOVERY", BrokenHistory(Discovery([StubSource("s", [recent("111")])]))
    )
    spy = SpyLog()
    monkeypatch.setattr(SensorEvaluationContext, "log", property(lambda _: spy))
    [request] = tick(instance, store, None).run_requests or []
    assert request.tags["viral/reason"].endswith("; no performance history yet")
    assert any(line.startswith("WARNING viral_video_sensor: no learned prior") for line in spy.lines)


def test_the_configured_resource_reads_no_history_without_a_database(tmp_path: Path) -> None:
    assert DiscoverySources(config_path="x.yaml").history() == []
    missing = tmp_path / "ledger.sqlite3"
    assert DiscoverySources(config_path="x.yaml", database_location=str(missing)).history() == []
