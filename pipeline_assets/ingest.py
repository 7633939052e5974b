"""Stage 1, ingest: `source_video`, the downloaded source and its probed facts."""

from collections.abc import Iterator
from typing import Any

from dagster import AssetExecutionContext, Config, MetadataValue, Output
from pydantic import Field

from pipeline_assets.stage_runtime import StageRun, Workspace, media_metadata, stage
from resources.errors import InputRejected
from resources.ingest import Downloader
from resources.media.probe import probe
from resources.media.source_registry import lookup_source
from resources.media.store import MediaStore, file_sha256
from resources.partition_keys import validate_partition_key
from resources.records import SourceVideo


class SourceVideoConfig(Config):
    """Launch-time override; normally the source registered with the partition is used."""

    source: str = Field(default="", description="URL or local file; empty = the partition's registered source.")


@stage(description="The source video, fetched with yt-dlp (or copied from a local file) and probed with PyAV.")
def source_video(
    context: AssetExecutionContext, config: SourceVideoConfig, media_store: MediaStore, downloader: Downloader
) -> Iterator[Output[SourceVideo]]:
    run = StageRun(context, media_store)

    def build(space: Workspace) -> SourceVideo:
        fetched = downloader.fetch(source, space.workdir)
        facts = probe(fetched.path)
        if not facts.has_video:
            raise InputRejected(f"{fetched.path.name} has no video stream; provide a video, not audio only")
        if facts.duration_s > downloader.max_duration_s:
            raise InputRejected(
                f"the source is {facts.duration_s:.0f} s long, over the {downloader.max_duration_s:.0f} s limit; "
                "trim it or raise max_duration_s on the downloader"
            )
        return SourceVideo(
            partition_key=key,
            source=source,
            uri=space.put(fetched.path, f"source{fetched.path.suffix.lower() or '.mp4'}"),
            title=fetched.title,
            uploader=fetched.uploader,
            webpage_url=fetched.webpage_url,
            sha256=file_sha256(fetched.path),
            facts=facts,
            provider=f"{downloader.provider}:{fetched.extractor}",
        )

    with run.failures():
        key = validate_partition_key(context.partition_key)
        source, reason = config.source, ""
        if not source:
            request = lookup_source(media_store, key)
            if request is None:
                raise InputRejected(
                    "no source is registered for this partition; launch with config "
                    "`source: <url or file>` or add it with `make demo SOURCE=...`"
                )
            source, reason = request.source, request.reason
        record = run.reuse_or_build(SourceVideo, [source], build, lambda r: [r.uri])
    yield run.output(record, _metadata(record, reason))


def _metadata(record: SourceVideo, reason: str) -> dict[str, Any]:
    meta: dict[str, Any] = {
        **media_metadata(record.facts, record.uri),
        "source": MetadataValue.url(record.source) if "://" in record.source else record.source,
        "title": record.title,
        "provider": record.provider,
    }
    if reason:
        meta["chosen because"] = reason
    return meta
