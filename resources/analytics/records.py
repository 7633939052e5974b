"""Records of the analytics loop: one platform reading of one post, and what a short was made of."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from resources.records import Record

# The metric names every platform's numbers are mapped onto (a platform reports the ones it has).
METRICS: tuple[str, ...] = (
    "views",
    "likes",
    "comments",
    "shares",
    "saves",
    "reach",
    "impressions",
    "watch_time_s",
    "avg_view_duration_s",
)
Metric = Literal[
    "views", "likes", "comments", "shares", "saves", "reach", "impressions", "watch_time_s", "avg_view_duration_s"
]
# ok: numbers read. The others are recorded on that platform's metrics and never fail the other platforms:
# deleted (the post is gone), revoked (the token no longer works), missing_scope (the grant lacks the metrics
# scope: `shorts auth <platform>` asks for it), rate_limited (429: tried again on the next refresh), failed.
ReadingStatus = Literal["ok", "deleted", "revoked", "missing_scope", "rate_limited", "failed"]


class MetricsReading(Record):
    """What one platform said about one post at one moment."""

    partition_key: str
    platform: str
    remote_id: str
    observed_at: datetime
    status: ReadingStatus = "ok"
    values: dict[str, float] = Field(default_factory=dict, description="Metric name (see METRICS) -> value.")
    detail: str = Field(default="", description="Why the status is not ok, and what to do.")
    source: str = Field(default="api", description="api, or the import it came from (youtube_studio_csv, ...).")


class PostAttributes(Record):
    """What a short was made from and with: the arms the report groups by and discovery learns from."""

    partition_key: str
    source_name: str = Field(default="", description="The discovery source that found the video.")
    author: str = Field(default="", description="The source video's account (uploader handle).")
    hashtags: list[str] = Field(default_factory=list, description="The source's hashtags, lower-case, no '#'.")
    layout: str = ""
    voice_provider: str = ""
    avatar_provider: str = ""
    cost_usd: float = Field(default=0.0, description="Estimated provider cost of the whole chain.")
