"""The names the whole project shares, defined once: the stages in order, the platforms, tags and addresses.

A leaf module (it imports nothing of ours), so the graph, the sensors, the providers and the CLI can all use it.
"""

from __future__ import annotations

# The stages of the chain, upstream first; each is the asset of the same name (`pipeline_assets/<stage>`).
STAGES: tuple[str, ...] = ("source_video", "transcript", "script", "voiceover", "avatar_video", "short_video")
# Every platform gets its own `<platform>_post` asset and `<platform>_publisher` resource.
PLATFORMS: tuple[str, ...] = ("youtube", "tiktok", "instagram", "facebook", "x", "linkedin")

# After publishing: each partition's numbers, and the report over every post (pipeline_assets/analytics.py).
ANALYTICS_ASSETS: tuple[str, ...] = ("post_metrics", "channel_performance")

PARTITIONS_NAME = "source_videos"  # the one dynamic partitions definition: one partition per source video
PARTITION_TAG = "dagster/partition"  # the tag Dagster puts on a single-partition run
LOCATION_NAME = "viral_shorts"  # workspace.yaml's code location
REPOSITORY_NAME = "__repository__"  # the implicit repository of a `Definitions` object
PIPELINE_JOB = "short_pipeline_job"
DEFAULT_UI_URL = "http://127.0.0.1:3000"


def post_asset(platform: str) -> str:
    """The asset that publishes on `platform`, e.g. `youtube_post`."""
    return f"{platform}_post"


def publisher_key(platform: str) -> str:
    """The resource key of a platform's publisher, e.g. `youtube_publisher`."""
    return f"{platform}_publisher"


def chain_assets() -> list[str]:
    """Every asset of `short_pipeline_job`: the stages in order, then one post per platform."""
    return [*STAGES, *(post_asset(platform) for platform in PLATFORMS)]


def run_key(partition_key: str) -> str:
    """The run key of a partition's whole-chain run: Dagster never launches the same key twice from a sensor."""
    return f"video:{partition_key}"
