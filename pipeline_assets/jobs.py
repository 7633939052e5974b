"""Jobs: the whole chain for one partition (what the sensor and the demo launch), and the analytics refresh."""

from dagster import AssetSelection, define_asset_job

from pipeline_assets.analytics import CHANNEL_PERFORMANCE, POST_METRICS
from pipeline_assets.partitions import source_videos
from resources.catalog import PIPELINE_JOB

short_pipeline_job = define_asset_job(
    name=PIPELINE_JOB,
    selection=AssetSelection.groups("pipeline", "publish"),
    partitions_def=source_videos,
    description="Source video to published short: ingest, transcribe, rewrite, voice, avatar, render, publish.",
)

# The analytics loop: one partition's numbers (what metrics_refresh_sensor launches), and the report after them.
post_metrics_job = define_asset_job(
    name="post_metrics_job",
    selection=AssetSelection.assets(POST_METRICS),
    partitions_def=source_videos,
    description="Read one partition's numbers on every platform it is published on (the age ladder's refresh).",
)
channel_performance_job = define_asset_job(
    name="channel_performance_job",
    selection=AssetSelection.assets(CHANNEL_PERFORMANCE),
    description="Recompute the channel performance report and its chart from the metrics series.",
)
