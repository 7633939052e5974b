"""Jobs: the whole chain for one partition (what the sensor and the demo launch)."""

from dagster import AssetSelection, define_asset_job

from pipeline_assets.partitions import source_videos
from resources.catalog import PIPELINE_JOB

short_pipeline_job = define_asset_job(
    name=PIPELINE_JOB,
    selection=AssetSelection.groups("pipeline", "publish"),
    partitions_def=source_videos,
    description="Source video to published short: ingest, transcribe, rewrite, voice, avatar, render, publish.",
)
