"""Stage 7, publish: one `<platform>_post` asset per platform, so one failed platform is one red partition."""

from collections.abc import Iterator
from typing import Any

from dagster import AssetExecutionContext, AssetIn, AssetsDefinition, MetadataValue, Output

from pipeline_assets.approval import find_approval
from pipeline_assets.stage_runtime import StageRun, stage
from resources.catalog import PLATFORMS, post_asset, publisher_key
from resources.errors import InputRejected
from resources.media.store import MediaStore, file_sha256
from resources.publish import Publisher
from resources.publish.captions import compose_caption
from resources.publish.preflight import before_upload
from resources.publish.publisher import PostRequest
from resources.records import Post, Script, ShortVideo, SourceVideo


def build_post_asset(platform: str) -> AssetsDefinition:
    """The `<platform>_post` asset: publish the short once, record the post in the ledger."""

    @stage(
        name=post_asset(platform),
        group_name="publish",
        ins={
            "short_video": AssetIn("short_video"),
            "script": AssetIn("script"),
            "source_video": AssetIn("source_video"),
        },
        required_resource_keys={publisher_key(platform), "media_store"},
        description=f"The short published on {platform} (or its local outbox entry); never posted twice.",
    )
    def _post(
        context: AssetExecutionContext, short_video: ShortVideo, script: Script, source_video: SourceVideo
    ) -> Iterator[Output[Post]]:
        publisher: Publisher = getattr(context.resources, publisher_key(platform))
        store: MediaStore = context.resources.media_store
        run = StageRun(context, store)
        with run.failures():
            if short_video.quality_problems:
                raise InputRejected(
                    "refusing to publish a short that failed its quality checks ("
                    + "; ".join(short_video.quality_problems)
                    + "); fix the cause and re-materialize short_video"
                )
            video_path = store.local_path(short_video.uri)
            # The approval names the bytes the operator watched: a re-rendered short is not covered by it.
            if (
                publisher.require_approval
                and find_approval(store, context.partition_key, file_sha256(video_path)) is None
            ):
                raise InputRejected(
                    "this short is not approved yet (a re-render needs a new approval): watch it, then launch "
                    "approve_short_job for this partition in the Dagster UI and re-execute this asset"
                )
            caption = compose_caption(
                platform,
                script,
                credit=source_video.uploader or source_video.webpage_url,
                template=publisher.caption_template,
            )
            # Caption limits by the platform's own counting, then the account preflight: before any upload.
            checks = before_upload(publisher, context.partition_key, caption)
            request = PostRequest(
                platform=platform,
                partition_key=context.partition_key,
                video_path=video_path,
                media_uri=short_video.uri,
                caption=caption,
                source_url=source_video.webpage_url,
            )
            outcome = publisher.publish(request)
        post = outcome.post
        if outcome.already_published:
            context.log.info(f"{platform}_post[{context.partition_key}]: already published as {post.remote_id}")
        meta: dict[str, Any] = {
            "status": post.status,
            "remote_id": post.remote_id,
            "post_url": MetadataValue.url(post.url) if post.url else "",
            "already_published": outcome.already_published,
            "provider": post.provider,
            "size_mb": round(short_video.facts.size_bytes / 1_048_576, 2),
            "caption": MetadataValue.md(post.caption),
            **{name: MetadataValue.md(text) for name, text in checks.items()},
        }
        yield run.output(post, meta)

    # Every publisher (outbox or API) shares its platform's pool: one upload per platform at a time.
    return _post.asset(pool=f"{platform}_api", provider=platform)


post_assets: list[AssetsDefinition] = [build_post_asset(platform) for platform in PLATFORMS]
