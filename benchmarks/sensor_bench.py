"""Benchmark of one viral_video_sensor tick over 10,000 candidates (goal < 5 s; Dagster's limit is 60 s).

Four stub sources return 2,500 synthetic candidates each; the sensor is evaluated through `build_sensor_context`
on an ephemeral instance that already holds 2,000 partitions, so the timing covers the instance queries,
scoring, source registration and the cursor. A second tick from the first tick's cursor (every candidate
seen, growth measured) is timed too.

    .venv/bin/python -m benchmarks.sensor_bench
"""

from __future__ import annotations

import random
import tempfile
import time
from datetime import UTC, datetime, timedelta

from dagster import DagsterInstance, SensorResult, build_sensor_context

from resources.catalog import PARTITIONS_NAME
from resources.discovery.candidates import Candidate
from resources.discovery.configured import Discovery, FixedDiscovery
from resources.media.store import MediaStore
from sensors import viral_video_sensor as module

CANDIDATES = 10_000
SOURCES = 4
EXISTING_PARTITIONS = 2_000


class _SyntheticSource:
    """A source returning fixed candidates, like a trend feed with metrics."""

    def __init__(self, name: str, candidates: list[Candidate]) -> None:
        self.name = name
        self.candidates = candidates

    def fetch(self) -> list[Candidate]:
        return self.candidates


def make_candidates(count: int, sources: int, *, seed: int = 7, growth: float = 1.0) -> list[_SyntheticSource]:
    """`count` candidates with log-normal views, spread over `sources` sources; `growth` scales the views."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    per_source: list[list[Candidate]] = [[] for _ in range(sources)]
    for i in range(count):
        views = int(rng.lognormvariate(10, 1.5) * growth)
        per_source[i % sources].append(
            Candidate(
                platform="tiktok",
                video_id=str(7_300_000_000_000_000_000 + i),
                url=f"https://www.tiktok.com/@creator{i % 500}/video/{7_300_000_000_000_000_000 + i}",
                source_name=f"bench-{i % sources}",
                caption=f"clip number {i} #fyp",
                author=f"creator{i % 500}",
                uploaded_at=now - timedelta(hours=rng.uniform(0.5, 96)),
                duration_s=rng.uniform(5, 300),
                language=rng.choice(["en", "en", "es", "de"]),
                views=views,
                likes=int(views * rng.uniform(0, 0.12)),
                comments=int(views * rng.uniform(0, 0.01)),
                shares=int(views * rng.uniform(0, 0.01)),
                saves=int(views * rng.uniform(0, 0.01)),
            )
        )
    return [_SyntheticSource(f"bench-{n}", items) for n, items in enumerate(per_source)]


def timed_tick(
    instance: DagsterInstance, store: MediaStore, cursor: str | None, sources: list[_SyntheticSource]
) -> tuple[float, SensorResult]:
    resources = {"media_store": store, "discovery_sources": FixedDiscovery(Discovery(list(sources)))}
    context = build_sensor_context(instance=instance, cursor=cursor, resources=resources)
    start = time.perf_counter()
    result = module.viral_video_sensor(context)
    elapsed = time.perf_counter() - start
    assert isinstance(result, SensorResult)
    return elapsed, result


def main() -> None:
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(PARTITIONS_NAME, [f"youtube-old{i}" for i in range(EXISTING_PARTITIONS)])
    with tempfile.TemporaryDirectory() as folder:
        store = MediaStore(root=folder)
        first_sources = make_candidates(CANDIDATES, SOURCES)
        first_s, first = timed_tick(instance, store, None, first_sources)
        later_sources = make_candidates(CANDIDATES, SOURCES, growth=1.3)
        second_s, second = timed_tick(instance, store, first.cursor, later_sources)
    print(f"sensor_tick_seconds_10k: {first_s:.3f}")
    print(f"sensor_candidates_per_second: {CANDIDATES / first_s:.0f}")
    print(f"sensor_tick_seconds_10k_seen_before: {second_s:.3f}")
    print(f"sensor_cursor_kb: {len(second.cursor or '') / 1024:.0f}")
    print(f"sensor_runs_requested_first_tick: {len(first.run_requests or [])}")


if __name__ == "__main__":
    main()
