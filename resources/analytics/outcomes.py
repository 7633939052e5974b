"""How well each post did, normalised by its age and by its own account's other posts.

Raw views favour old posts and big channels. So each (post, platform) is compared with the same platform's
other posts *at the same age*: its views are read off its series at the oldest checkpoint age it has reached
(1 h, 6 h, 24 h, 3 d, 7 d, 30 d, 90 d; linear between two observations, never extrapolated), and divided by the
median views of the platform's posts at that same checkpoint. `relative` = 1.0 is a typical post of that
account, 2.0 twice its usual reach at that age. With fewer than `MIN_BASELINE` other posts at a checkpoint
there is no baseline yet (`relative` is None): the report still shows the raw numbers.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from resources.analytics.series import Observation
from resources.records import Post

CHECKPOINTS_H: tuple[float, ...] = (1, 6, 24, 72, 168, 720, 2160)
MIN_BASELINE = 3
ENGAGEMENT_METRICS = ("likes", "comments", "shares", "saves")


@dataclass(frozen=True, slots=True)
class PostOutcome:
    partition_key: str
    platform: str
    age_h: float  # at the latest observation
    views: float  # latest
    engagement: float  # (likes + comments + shares + saves) / views, latest; 0 without views
    checkpoint_h: float | None  # the checkpoint compared at; None when not even 1 h old
    views_at_checkpoint: float | None
    baseline_views: float | None  # median of the platform's posts at that checkpoint
    relative: float | None  # views_at_checkpoint / baseline_views


def _views_at(points: list[tuple[float, float]], age_h: float) -> float | None:
    """Views at `age_h` on a series of (age_h, views) sorted by age; None beyond its last point."""
    if not points or points[-1][0] < age_h:
        return None
    previous = (0.0, 0.0)
    for age, views in points:
        if age >= age_h:
            span = age - previous[0]
            share = (age_h - previous[0]) / span if span > 0 else 1.0
            return previous[1] + share * (views - previous[1])
        previous = (age, views)
    return None


def post_outcomes(observations: Iterable[Observation], posts: Iterable[Post]) -> list[PostOutcome]:
    """One outcome per (post, platform) with at least one views observation."""
    posted_at: dict[tuple[str, str], datetime] = {(p.partition_key, p.platform): p.posted_at for p in posts}
    series: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    latest: dict[tuple[str, str], dict[str, tuple[datetime, float]]] = defaultdict(dict)
    for item in observations:
        key = (item.partition_key, item.platform)
        start = posted_at.get(key)
        if start is None:
            continue
        if item.metric == "views":
            series[key].append(((item.observed_at - start).total_seconds() / 3600, item.value))
        seen = latest[key].get(item.metric)
        if seen is None or seen[0] <= item.observed_at:
            latest[key][item.metric] = (item.observed_at, item.value)

    at_checkpoint: dict[tuple[str, str], tuple[float, float]] = {}
    by_platform_checkpoint: dict[tuple[str, float], list[float]] = defaultdict(list)
    for key, points in series.items():
        points.sort()
        reached = [c for c in CHECKPOINTS_H if c <= points[-1][0]]
        for checkpoint in reached:
            value = _views_at(points, checkpoint)
            if value is not None:
                by_platform_checkpoint[(key[1], checkpoint)].append(value)
        if reached:
            value = _views_at(points, reached[-1])
            if value is not None:
                at_checkpoint[key] = (reached[-1], value)
    baselines = {
        slot: statistics.median(values) for slot, values in by_platform_checkpoint.items() if len(values) > MIN_BASELINE
    }

    outcomes: list[PostOutcome] = []
    for key, points in series.items():
        metrics = latest[key]
        views = metrics["views"][1]
        engaged = sum(metrics[name][1] for name in ENGAGEMENT_METRICS if name in metrics)
        compared = at_checkpoint.get(key)
        compared_at = compared[0] if compared else None
        compared_views = compared[1] if compared else None
        baseline = baselines.get((key[1], compared[0])) if compared else None
        outcomes.append(
            PostOutcome(
                partition_key=key[0],
                platform=key[1],
                age_h=points[-1][0],
                views=views,
                engagement=engaged / views if views > 0 else 0.0,
                checkpoint_h=compared_at,
                views_at_checkpoint=compared_views,
                baseline_views=baseline,
                relative=(compared_views / baseline) if compared_views is not None and baseline else None,
            )
        )
    return outcomes
