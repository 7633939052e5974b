"""The performance history discovery learns from: each published short's outcome and the arms it was made from.

Read from the metrics series (`resources.analytics`): the attributes `post_metrics` records per short, the
published posts and their views. A short without attributes (published before they were recorded) or without
a baseline on any platform yet is left out. Loading reads the whole views series, so the result is kept for
`CACHE_S` per database: performance changes over hours, the sensor ticks every few minutes.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path

from resources.analytics.outcomes import PostOutcome, post_outcomes
from resources.analytics.records import PostAttributes
from resources.discovery.prior import ArmOutcome, author_arm, hashtag_arm, source_arm, success_share
from resources.records import Post

CACHE_S = 600.0

_cache: dict[str, tuple[float, list[ArmOutcome]]] = {}
_lock = threading.Lock()


def arms_of(attributes: PostAttributes) -> tuple[str, ...]:
    """Every arm a short counts for: its source, author, hashtags, layout, voice and avatar provider."""
    arms: list[str | None] = [source_arm(attributes.source_name) if attributes.source_name.strip() else None]
    arms.append(author_arm(attributes.author))
    arms.extend(hashtag_arm(tag) for tag in attributes.hashtags)
    for kind, value in (
        ("layout", attributes.layout),
        ("voice", attributes.voice_provider),
        ("avatar", attributes.avatar_provider),
    ):
        arms.append(f"{kind}:{value.strip()}" if value.strip() else None)
    return tuple(dict.fromkeys(arm for arm in arms if arm is not None))


def arm_outcomes(
    attributes: Mapping[str, PostAttributes], outcomes: Iterable[PostOutcome], posts: Iterable[Post]
) -> list[ArmOutcome]:
    """One ArmOutcome per short with attributes and at least one platform with a baseline (pure)."""
    first_posted: dict[str, datetime] = {}
    for post in posts:
        seen = first_posted.get(post.partition_key)
        if seen is None or post.posted_at < seen:
            first_posted[post.partition_key] = post.posted_at
    relatives: dict[str, list[float | None]] = defaultdict(list)
    for outcome in outcomes:
        relatives[outcome.partition_key].append(outcome.relative)
    found: list[ArmOutcome] = []
    for key in sorted(relatives):
        share = success_share(relatives[key])
        made_of = attributes.get(key)
        if share is None or made_of is None or key not in first_posted:
            continue
        arms = arms_of(made_of)
        if arms:
            found.append(ArmOutcome(arms, share, first_posted[key]))
    return found


def load_history(location: str, *, max_age_s: float = CACHE_S) -> list[ArmOutcome]:
    """The outcomes in the database at `location` (URL or SQLite file); [] when that file does not exist yet."""
    if not location.strip():
        return []
    if "://" not in location and not Path(location).expanduser().exists():
        return []  # a fresh install: do not create the database just to learn it is empty
    with _lock:
        cached = _cache.get(location)
        if cached is not None and time.monotonic() - cached[0] < max_age_s:
            return cached[1]
    from resources.analytics.series import MetricsSeries  # opening it may run migrations: only when needed

    series = MetricsSeries(location)
    posts = series.published_posts()
    views = series.observations(metric="views")  # `relative` needs views only
    history = arm_outcomes(series.attributes(), post_outcomes(views, posts), posts)
    with _lock:
        _cache[location] = (time.monotonic(), history)
    return history
