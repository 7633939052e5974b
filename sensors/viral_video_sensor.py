"""Discover viral videos: every configured source is read, candidates are scored, the best become runs.

One tick returns ONE `SensorResult`: an add request for the new `source_videos` partitions, one run request per
chosen video (run key `video:<key>`, so Dagster never launches the same video twice from this sensor), and a
JSON cursor. The decision logic is `evaluate_tick`, a plain function; the sensor only talks to the instance.

Cursor (JSON, version 1)::

    {
      "v": 1,
      "seen": {"tiktok-123": [15000, 1717000000, 0]},   # [views or null, unix time, 1 once chosen]
      "pending": [{"key", "url", "source", "score", "reason", "views", "at", "pick"?}],  # over the cap
      "in_flight": {"tiktok-123": {"url", "source", "score", "reason", "at"}},   # requested, no run seen yet
      "errors_by_source": {"tiktok:@x": 3},             # source failures since the cursor began
      "last_tick": "2026-01-01T12:00:00+00:00"
    }

- `seen` keeps the newest 5,000 videos (`SEEN_LIMIT`), which is what growth between ticks is measured
  against. Bounded because Dagster stores the cursor with every tick: at the limit it is ~300 KB
  (`benchmarks/sensor_bench`). An evicted chosen video is still protected by its existing partition and by
  Dagster's run-key dedupe.
- `pending` holds up to 200 accepted videos over the per-tick cap; they go first next tick (highest score
  first), are re-scored when a source lists them again, dropped when they no longer pass, expire after 24 h.
- `in_flight` holds videos this sensor requested until a run for their partition exists. A partition that
  exists without a run (the daemon crashed between adding partitions and launching runs) is requested again
  with the same run key. When the crash also lost the cursor, the video comes back as new from its source,
  its partition already exists, and the same run check applies.

Learned prior (`resources.discovery.prior`): the virality score decides whether a candidate qualifies (its
threshold, per source or global, applies to the virality score alone: the prior reorders, it never admits a
video the rules reject); the score that ranks the qualified ones, and that `viral/score` shows, is the virality
score × the Thompson-sampled prior of its source, author and hashtags from the performance of past shorts. Its
reason ends with the prior's clause (`prior ×1.32 (beat baseline: source:foryou 7/9, @alice 1/1; sampled)`),
or with "no performance history yet" while there is none (the multiplier is then exactly 1). A person's
explicit picks go first anyway and carry no prior.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import random
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from dagster import (
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from pipeline_assets.jobs import short_pipeline_job
from pipeline_assets.partitions import source_videos
from resources.catalog import PARTITION_TAG, PARTITIONS_NAME, run_key
from resources.discovery.candidates import Candidate, CandidateSource, SourceError
from resources.discovery.configured import MAX_NEW_PER_TICK, DiscoveryNotConfigured, DiscoverySources
from resources.discovery.prior import ArmOutcome, ThompsonPrior, posteriors
from resources.discovery.virality import Snapshot, ViralityRules, evaluate
from resources.error_reporting import report_sensor_errors
from resources.media.source_registry import register_source
from resources.media.store import MediaStore
from resources.partition_keys import PARTITION_KEY_PATTERN
from resources.records import SourceRequest

CURSOR_VERSION = 1
SEEN_LIMIT = 5_000
PENDING_LIMIT = 200  # 20 ticks of the default cap; more would only expire
PENDING_TTL_S = 24 * 3600
IN_FLIGHT_TTL_S = 24 * 3600
MAX_RUN_CHECKS_PER_TICK = 50  # bounds instance queries when a lost cursor meets many existing partitions


# ---- the decision, as a plain function ----------------------------------------------------------------
@dataclass(frozen=True)
class Chosen:
    """A video to run this tick. `new`: its partition must be added too; otherwise it exists without a run."""

    key: str
    url: str
    source: str
    score: float
    reason: str
    new: bool


@dataclass
class TickOutcome:
    """What one tick decided, and the cursor to store."""

    chosen: list[Chosen]
    cursor: dict[str, Any]
    errors: dict[str, str] = field(default_factory=dict)  # source name → message, this tick
    candidates: int = 0
    accepted: int = 0
    rejected: int = 0
    invalid: int = 0

    @property
    def new_keys(self) -> list[str]:
        return [c.key for c in self.chosen if c.new]

    @property
    def recovered_keys(self) -> list[str]:
        return [c.key for c in self.chosen if not c.new]

    def summary(self) -> str:
        """One line for the tick's log (and the skip message when nothing runs)."""
        text = (
            f"{self.candidates} candidates, {self.accepted} accepted, {self.rejected} filtered; "
            f"{len(self.new_keys)} new, {len(self.recovered_keys)} recovered, "
            f"{len(self.cursor['pending'])} pending"
        )
        if self.invalid:
            text += f", {self.invalid} without a usable partition key"
        if self.errors:
            totals = self.cursor["errors_by_source"]
            text += "; sources skipped: " + ", ".join(f"{n} ({totals.get(n, 0)} so far)" for n in sorted(self.errors))
        return text


def partition_key_for(candidate: Candidate) -> str | None:
    """`<platform>-<id>` when that is a valid key, else `<platform>-<sha1 of the id>`; None without a platform."""
    platform = re.sub(r"[^a-z0-9]+", "", candidate.platform.lower())[:20]
    if not platform or not candidate.video_id:
        return None
    key = f"{platform}-{candidate.video_id}"
    if PARTITION_KEY_PATTERN.fullmatch(key):
        return key
    slug = re.sub(r"[^a-z0-9_-]+", "-", candidate.video_id.lower()).strip("-_")
    key = f"{platform}-{slug}"
    # Lower-casing can merge distinct ids (YouTube ids are case-sensitive): hash those instead.
    if slug == candidate.video_id and PARTITION_KEY_PATTERN.fullmatch(key):
        return key
    return f"{platform}-{hashlib.sha1(candidate.video_id.encode()).hexdigest()[:16]}"


def _fresh_cursor() -> dict[str, Any]:
    return {"v": CURSOR_VERSION, "seen": {}, "pending": [], "in_flight": {}, "errors_by_source": {}}


def _state(data: Any) -> dict[str, Any]:
    """A cursor dict with every field, or a fresh one when `data` is from another version."""
    if not isinstance(data, Mapping) or data.get("v") != CURSOR_VERSION:
        return _fresh_cursor()
    return {**_fresh_cursor(), **data}


def parse_cursor(text: str | None) -> dict[str, Any]:
    """The stored cursor, or a fresh one when there is none or it is unreadable (the next tick starts over)."""
    try:
        return _state(json.loads(text)) if text else _fresh_cursor()
    except json.JSONDecodeError:
        return _fresh_cursor()


def _fetch_all(
    sources: Sequence[CandidateSource],
    explicitly_listed: Collection[str],
    errors: dict[str, str],
    totals: dict[str, int],
) -> list[tuple[Candidate, bool]]:
    """Every source's candidates with its "listed explicitly" flag; a failing source is recorded and skipped."""
    found: list[tuple[Candidate, bool]] = []
    for source in sources:
        name = getattr(source, "name", type(source).__name__)
        try:
            items = source.fetch()
        except SourceError as exc:
            errors[name] = str(exc) or type(exc).__name__
        except Exception as exc:  # a bug in one source must not stop the others
            errors[name] = f"{type(exc).__name__}: {exc}"
        else:
            explicit = name in explicitly_listed or bool(getattr(source, "listed_explicitly", False))
            found.extend((candidate, explicit) for candidate in items)
            continue
        totals[name] = totals.get(name, 0) + 1
    return found


def evaluate_tick(
    sources: Sequence[CandidateSource],
    rules: ViralityRules,
    cursor: Mapping[str, Any],
    existing_partitions: set[str],
    instance_has_run_for: Callable[[str], bool],
    now: datetime,
    max_new_per_tick: int = MAX_NEW_PER_TICK,
    *,
    min_score_by_source: Mapping[str, float] | None = None,
    explicitly_listed: Collection[str] = (),
    history: Sequence[ArmOutcome] = (),
    rng: random.Random | None = None,
) -> TickOutcome:
    """Decide one tick: which videos to run (new or recovered) and the next cursor.

    `instance_has_run_for(key)` is called only for keys whose partition exists and that this sensor requested
    or is about to request (at most `MAX_RUN_CHECKS_PER_TICK` plus the in-flight ones), never per candidate.
    Sources named in `explicitly_listed` (or with a true `listed_explicitly` attribute) are a person's list:
    their candidates skip the virality thresholds (see `resources.discovery.virality`).
    `history`: past shorts' outcomes, the learned prior's evidence (module docstring); `rng` draws its Thompson
    samples (default: seeded with the tick's time, so replaying a tick with the same inputs decides the same).
    """
    now_ts = int(now.timestamp())  # whole seconds: the cursor is stored with every tick, keep it small
    state = _state(cursor)
    seen: dict[str, list[Any]] = dict(state["seen"])
    totals: dict[str, int] = dict(state["errors_by_source"])
    in_flight: dict[str, dict[str, Any]] = {
        k: v for k, v in state["in_flight"].items() if now_ts - v["at"] < IN_FLIGHT_TTL_S
    }
    was_pending: dict[str, dict[str, Any]] = {
        e["key"]: e for e in state["pending"] if now_ts - e["at"] < PENDING_TTL_S and e["key"] not in in_flight
    }
    overrides = min_score_by_source or {}
    prior = ThompsonPrior(posteriors(history, now=now), rng if rng is not None else random.Random(now_ts))
    outcome = TickOutcome(chosen=[], cursor={})

    fetched = _fetch_all(sources, explicitly_listed, outcome.errors, totals)
    outcome.candidates = len(fetched)

    # 1. Recovery first: these were chosen on an earlier tick, so they keep their place ahead of new videos.
    recovered: list[Chosen] = []
    for key, entry in sorted(in_flight.items(), key=lambda item: item[1]["at"]):
        if key not in existing_partitions:
            continue  # the daemon has not applied that tick's result yet
        if instance_has_run_for(key):
            del in_flight[key]
            continue
        recovered.append(Chosen(key, entry["url"], entry["source"], entry["score"], entry["reason"], new=False))

    # 2. Score every candidate not already chosen; remember its views for next tick's growth.
    accepted: dict[str, dict[str, Any]] = {}
    handled: set[str] = set()
    for candidate, explicit in fetched:
        maybe_key = partition_key_for(candidate)
        if maybe_key is None:
            outcome.invalid += 1
            continue
        key = maybe_key
        if key in handled:
            continue  # the same video from a second source: the first one speaks for it
        handled.add(key)
        snap = seen.get(key)
        if (snap and snap[2]) or key in in_flight:
            seen[key] = [candidate.views, now_ts, 1]
            continue
        previous = Snapshot(snap[0], datetime.fromtimestamp(snap[1], UTC)) if snap else None
        decision = evaluate(
            candidate,
            rules,
            now=now,
            previous=previous,
            listed_explicitly=explicit,
            min_score=overrides.get(candidate.source_name),
        )
        seen[key] = [candidate.views, now_ts, 0]
        if decision.accepted:
            outcome.accepted += 1
            at = was_pending[key]["at"] if key in was_pending else now_ts
            ranked, reason = decision.score, decision.reason
            if not explicit:
                learned = prior.for_candidate(candidate.source_name, candidate.author, candidate.caption)
                ranked, reason = decision.score * learned.multiplier, f"{decision.reason}; {learned.clause}"
            accepted[key] = {
                "key": key,
                "url": candidate.url,
                "source": candidate.source_name,
                "score": round(ranked, 3),
                "reason": reason,
                "views": candidate.views,
                "at": at,
            }
            if explicit:
                accepted[key]["pick"] = 1  # a person's pick has no score to compete with; it goes first
        else:
            outcome.rejected += 1
            was_pending.pop(key, None)  # no longer qualifies

    # 3. The queue: videos waiting from earlier ticks first, then this tick's; in each, explicit picks first,
    # then the highest score.
    def by_score(entry: dict[str, Any]) -> tuple[int, float]:
        return -int(entry.get("pick", 0)), -float(entry["score"])

    waiting = sorted(({**e, **accepted.get(k, {})} for k, e in was_pending.items()), key=by_score)
    fresh = sorted((e for k, e in accepted.items() if k not in was_pending), key=by_score)
    chosen = recovered[:max_new_per_tick]
    checks_left = MAX_RUN_CHECKS_PER_TICK
    left_over: list[dict[str, Any]] = []
    for entry in [*waiting, *fresh]:
        key = entry["key"]
        if len(chosen) >= max_new_per_tick or (key in existing_partitions and checks_left == 0):
            left_over.append(entry)
            continue
        new = key not in existing_partitions
        seen[key] = [entry.get("views"), seen.get(key, [None, now_ts])[1], 1]
        if not new:
            # Added by a tick whose cursor was lost, or by another sensor: run it only if nothing has.
            checks_left -= 1
            if instance_has_run_for(key):
                continue
        chosen.append(Chosen(key, entry["url"], entry["source"], entry["score"], entry["reason"], new=new))
        in_flight[key] = {k: entry[k] for k in ("url", "source", "score", "reason")} | {"at": now_ts}

    outcome.chosen = chosen
    outcome.cursor = {
        "v": CURSOR_VERSION,
        "seen": dict(heapq.nlargest(SEEN_LIMIT, seen.items(), key=lambda item: item[1][1]))
        if len(seen) > SEEN_LIMIT
        else seen,
        "pending": sorted(left_over, key=by_score)[:PENDING_LIMIT],
        "in_flight": in_flight,
        "errors_by_source": totals,
        "last_tick": now.isoformat(),
    }
    return outcome


# ---- the sensor -----------------------------------------------------------------------------------------
def _run_request(chosen: Chosen) -> RunRequest:
    return RunRequest(
        partition_key=chosen.key,
        run_key=run_key(chosen.key),
        tags={
            "viral/score": f"{chosen.score:.2f}",
            "viral/source": chosen.source[:200],
            "viral/reason": chosen.reason[:200],
        },
    )


@sensor(
    job=short_pipeline_job,
    minimum_interval_seconds=300,
    default_status=DefaultSensorStatus.STOPPED,
    description="Reads the discovery sources ($SHORTS_DISCOVERY_CONFIG, default discovery.yaml), scores every "
    "candidate and starts the whole chain for the most viral new videos (at most 10 per tick).",
)
@report_sensor_errors
def viral_video_sensor(
    context: SensorEvaluationContext, media_store: MediaStore, discovery_sources: DiscoverySources
) -> SensorResult | SkipReason:
    try:
        discovery = discovery_sources.load()
    except DiscoveryNotConfigured as exc:
        return SkipReason(str(exc))
    existing = set(context.instance.get_dynamic_partitions(PARTITIONS_NAME))
    try:
        history = discovery_sources.history()
    except Exception as exc:  # the prior is a refinement: without it the virality score still ranks
        context.log.warning(f"viral_video_sensor: no learned prior this tick, performance history unreadable: {exc}")
        history = []

    def has_run(key: str) -> bool:
        return bool(context.instance.get_run_ids(filters=RunsFilter(tags={PARTITION_TAG: key}), limit=1))

    outcome = evaluate_tick(
        discovery.sources,
        discovery.rules,
        parse_cursor(context.cursor),
        existing,
        has_run,
        datetime.now(UTC),
        discovery.max_new_per_tick,
        min_score_by_source=discovery.min_score_by_source,
        explicitly_listed=discovery.explicitly_listed,
        history=history,
    )
    for name, message in sorted(outcome.errors.items()):
        context.log.warning(f"source {name} skipped: {message}")
    # Registered before returning: `source_video` reads the URL from here and shows the reason in the UI.
    for chosen in outcome.chosen:
        register_source(
            media_store,
            SourceRequest(partition_key=chosen.key, source=chosen.url, reason=chosen.reason, source_name=chosen.source),
        )
    summary = outcome.summary()
    context.log.info(f"viral_video_sensor: {summary}")
    cursor = json.dumps(outcome.cursor, separators=(",", ":"))
    if not outcome.chosen:
        return SensorResult(skip_reason=f"no video to start: {summary}", cursor=cursor)
    return SensorResult(
        run_requests=[_run_request(chosen) for chosen in outcome.chosen],
        dynamic_partitions_requests=[source_videos.build_add_request(outcome.new_keys)] if outcome.new_keys else [],
        cursor=cursor,
    )
