"""Refresh the posts' numbers on the age ladder: every 10 minutes, a `post_metrics` run per partition with a due post.

`MetricsSeries.due(now)` says which published posts are due (resources/analytics/ladder.py: hourly on the first
day, every 6 hours for a week, daily for a month, weekly until 90 days). Each request's run key names the
partition and the ladder slot it is due in, so two ticks inside one slot never request the same refresh twice.
The tick after one that requested refreshes requests `channel_performance`, so the report follows the numbers.

Cursor (JSON): {"report_pending": bool}.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dagster import DefaultSensorStatus, RunRequest, SensorEvaluationContext, SensorResult, SkipReason, sensor

from pipeline_assets.jobs import channel_performance_job, post_metrics_job
from resources.analytics.ladder import HOUR, STOP_AFTER, refresh_interval
from resources.analytics.resource import Analytics
from resources.error_reporting import report_sensor_errors
from resources.records import Post

INTERVAL_S = 600


def ladder_slot(posted_at: datetime, now: datetime) -> str:
    """`<interval>h:<n>`: the rung's interval and which interval of the post's age `now` falls in."""
    age = now - posted_at
    interval = refresh_interval(age) or STOP_AFTER  # past the ladder: one final slot
    return f"{interval // HOUR}h:{age // interval}"


@dataclass(frozen=True)
class Tick:
    metrics_runs: list[RunRequest]
    report_run: RunRequest | None
    cursor: str
    due_posts: int


def evaluate_tick(due: Iterable[Post], now: datetime, cursor: str | None) -> Tick:
    """The runs to request at `now` for the `due` posts, given the previous tick's cursor."""
    pending = bool(json.loads(cursor).get("report_pending")) if cursor else False
    youngest: dict[str, Post] = {}
    count = 0
    for post in due:
        count += 1
        seen = youngest.get(post.partition_key)
        if seen is None or post.posted_at > seen.posted_at:
            youngest[post.partition_key] = post
    runs = [
        RunRequest(
            job_name=post_metrics_job.name,
            partition_key=key,
            run_key=f"metrics:{key}:{ladder_slot(post.posted_at, now)}",
        )
        for key, post in sorted(youngest.items())
    ]
    report = None
    if pending:
        minute = now.replace(second=0, microsecond=0) - timedelta(minutes=now.minute % 10)
        report = RunRequest(job_name=channel_performance_job.name, run_key=f"report:{minute.isoformat()}")
    return Tick(runs, report, json.dumps({"report_pending": bool(runs)}), count)


@sensor(
    jobs=[post_metrics_job, channel_performance_job],
    minimum_interval_seconds=INTERVAL_S,
    default_status=DefaultSensorStatus.RUNNING,  # acts only on published posts: a no-op offline
    description="Reads the numbers of published posts on the age ladder (post_metrics per due partition), then "
    "refreshes channel_performance.",
)
@report_sensor_errors
def metrics_refresh_sensor(context: SensorEvaluationContext, analytics: Analytics) -> SensorResult | SkipReason:
    now = datetime.now(UTC)
    tick = evaluate_tick(analytics.series().due(now), now, context.cursor)
    requests = [*tick.metrics_runs, *([tick.report_run] if tick.report_run else [])]
    if not requests:
        return SensorResult(skip_reason="no published post is due for a reading", cursor=tick.cursor)
    context.log.info(f"metrics_refresh_sensor: {tick.due_posts} due posts in {len(tick.metrics_runs)} partitions")
    return SensorResult(run_requests=requests, cursor=tick.cursor)
