"""After publishing: `post_metrics` (each post's numbers, per partition) and `channel_performance` (the report).

`post_metrics` is a graph: one op per platform reads that platform's numbers inside the platform's `<platform>_api`
pool (the pool its uploads use, so a refresh of hundreds of partitions respects each API's limits), then one op
records the short's attributes and shows the partition's state. A platform that refuses (deleted post, revoked
token, missing scope, 429) is recorded as such on that platform only; the asset fails only when every published
post's reading failed. Outbox entries have no audience to ask: their numbers come from `shorts analytics import`,
and `post_metrics` shows whatever the series holds for the partition.
"""

import shutil
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    AssetsDefinition,
    Failure,
    In,
    MetadataValue,
    Nothing,
    OpDefinition,
    OpExecutionContext,
    Out,
    Output,
    asset,
    graph_asset,
    op,
)

from pipeline_assets.partitions import source_videos
from resources.analytics.file_import import ledger_posts
from resources.analytics.report import as_markdown
from resources.analytics.resource import Analytics
from resources.analytics.summary import (
    PartitionMetrics,
    attributes_of,
    image_markdown,
    metric_entries,
    status_table,
)
from resources.catalog import ANALYTICS_ASSETS, PLATFORMS, post_asset, publisher_key
from resources.media.source_registry import lookup_source
from resources.media.store import MediaStore
from resources.publish import Publisher
from resources.records import AvatarVideo, Script, ShortVideo, SourceVideo, Transcript, Voiceover

POST_METRICS, CHANNEL_PERFORMANCE = ANALYTICS_ASSETS
GROUP = "analytics"
REPORT_PREFIX = "analytics"  # MediaStore folder of the report's CSV and chart


def build_metrics_read(platform: str) -> OpDefinition:
    """The op that reads `platform`'s numbers of the partition's post (when it is published there)."""

    @op(
        name=f"{platform}_metrics",
        ins={"post": In(Nothing)},
        out=Out(Nothing),
        pool=f"{platform}_api",
        required_resource_keys={publisher_key(platform), "analytics"},
        description=f"Read the {platform} post's numbers into the metrics series (never fails for the platform).",
    )
    def _read(context: OpExecutionContext) -> None:
        publisher: Publisher = getattr(context.resources, publisher_key(platform))
        analytics: Analytics = context.resources.analytics
        series = analytics.series()
        for post in series.published_posts(context.partition_key):
            if post.platform != platform:
                continue
            reading = publisher.fetch_metrics(post)
            added = series.record(reading)
            where = f"{POST_METRICS}[{context.partition_key}] {platform}"
            if reading.status == "ok":
                context.log.info(f"{where}: {added} new observations ({reading.values.get('views', 0):g} views)")
            else:
                context.log.warning(f"{where}: {reading.status}: {reading.detail}")

    return _read


_READS = {platform: build_metrics_read(platform) for platform in PLATFORMS}


@op(
    name="record_post_metrics",
    ins={
        **{f"{platform}_read": In(Nothing) for platform in PLATFORMS},
        "source_video": In(SourceVideo),
        "transcript": In(Transcript),
        "script": In(Script),
        "voiceover": In(Voiceover),
        "avatar_video": In(AvatarVideo),
        "short_video": In(ShortVideo),
    },
    required_resource_keys={"analytics", "media_store"},
)
def record_post_metrics(
    context: OpExecutionContext,
    source_video: SourceVideo,
    transcript: Transcript,
    script: Script,
    voiceover: Voiceover,
    avatar_video: AvatarVideo,
    short_video: ShortVideo,
) -> Output[PartitionMetrics]:
    """Store the short's attributes; show each platform's state and the latest numbers."""
    key = context.partition_key
    analytics: Analytics = context.resources.analytics
    store: MediaStore = context.resources.media_store
    series = analytics.series()
    attributes = attributes_of(
        key,
        source_video=source_video,
        request=lookup_source(store, key),
        short_video=short_video,
        voiceover=voiceover,
        avatar_video=avatar_video,
        paid=[transcript, script, voiceover, avatar_video],
    )
    series.record_attributes(attributes)
    posts = [post for post in ledger_posts(series) if post.partition_key == key]
    status = series.status(key)
    latest = series.latest(key)
    published = [post for post in posts if post.status == "published"]
    failed = [post.platform for post in published if post.platform in status and status[post.platform].status != "ok"]
    if published and len(failed) == len(published):
        details = "; ".join(f"{name}: {status[name].status}: {status[name].detail}" for name in failed)
        raise Failure(
            description=f"{POST_METRICS}[{key}]: no platform gave numbers ({details})",
            metadata={"status": MetadataValue.md(status_table(posts, status))},
        )
    states = {post.platform: (status[post.platform].status if post.platform in status else "not read yet")
              for post in published}  # fmt: skip
    states |= {post.platform: "outbox" for post in posts if post.status != "published"}
    record = PartitionMetrics(partition_key=key, status=states, latest=latest, attributes=attributes)
    meta: dict[str, Any] = {
        **metric_entries(latest),
        "status": MetadataValue.md(status_table(posts, status) if posts else "*no post in the ledger yet*"),
        "platforms_with_numbers": len(latest),
        "cost_usd": attributes.cost_usd,
    }
    return Output(record, metadata=meta)


@graph_asset(
    name=POST_METRICS,
    partitions_def=source_videos,
    group_name=GROUP,
    kinds={"python"},
    ins={
        **{post_asset(platform): AssetIn(post_asset(platform), dagster_type=Nothing) for platform in PLATFORMS},
        **{name: AssetIn(name) for name in ("source_video", "transcript", "script", "voiceover", "avatar_video")},
        "short_video": AssetIn("short_video"),
    },
    description="Each post's numbers on every platform (a time series in the pipeline's database), refreshed on "
    "the age ladder by metrics_refresh_sensor; outbox entries show what `shorts analytics import` recorded.",
)
def post_metrics(
    source_video: SourceVideo,
    transcript: Transcript,
    script: Script,
    voiceover: Voiceover,
    avatar_video: AvatarVideo,
    short_video: ShortVideo,
    youtube_post: Any,
    tiktok_post: Any,
    instagram_post: Any,
    facebook_post: Any,
    x_post: Any,
    linkedin_post: Any,
) -> Any:
    posts = {
        "youtube": youtube_post,
        "tiktok": tiktok_post,
        "instagram": instagram_post,
        "facebook": facebook_post,
        "x": x_post,
        "linkedin": linkedin_post,
    }  # the graph's parameters must be spelled out; PLATFORMS names the same six
    reads = {f"{platform}_read": _READS[platform](posts[platform]) for platform in PLATFORMS}
    return record_post_metrics(
        source_video=source_video,
        transcript=transcript,
        script=script,
        voiceover=voiceover,
        avatar_video=avatar_video,
        short_video=short_video,
        **reads,
    )


@asset(
    name=CHANNEL_PERFORMANCE,
    group_name=GROUP,
    deps=[AssetKey(POST_METRICS)],
    kinds={"matplotlib"},
    required_resource_keys={"analytics", "media_store"},
    description="What performed: per platform, source account, discovery source, layout, voice and avatar "
    "provider (views, engagement, views against the account's usual at the same age, cost per 1,000 views).",
)
def channel_performance(context: AssetExecutionContext) -> Output[None]:
    analytics: Analytics = context.resources.analytics
    store: MediaStore = context.resources.media_store
    workdir = store.scratch_dir(CHANNEL_PERFORMANCE)
    try:
        files = analytics.write_report(workdir)
        csv_uri = store.put_file(files.csv_path, f"{REPORT_PREFIX}/{files.csv_path.name}")
        png_uri = store.put_file(files.png_path, f"{REPORT_PREFIX}/{files.png_path.name}")
        chart = image_markdown(files.png_path, "channel performance")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    platform_rows = [row for row in files.rows if row.dimension == "platform"]
    meta: dict[str, Any] = {
        "report": MetadataValue.md(as_markdown(files.rows)),
        "chart": MetadataValue.md(chart),
        "rows": len(files.rows),
        "posts": sum(row.posts for row in platform_rows),
        "total_views": float(sum(row.total_views for row in platform_rows)),
        "csv": _location(store, csv_uri),
        "png": _location(store, png_uri),
    }
    return Output(None, metadata=meta)


def _location(store: MediaStore, uri: str) -> MetadataValue:
    return MetadataValue.path(str(store.local_path(uri))) if uri.startswith("file://") else MetadataValue.url(uri)


analytics_assets: list[AssetsDefinition] = [post_metrics, channel_performance]
