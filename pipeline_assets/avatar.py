"""Stage 5, avatar: `avatar_video`, the presenter speaking the voiceover."""

import shutil
from collections.abc import Iterator
from typing import Any

from dagster import AssetExecutionContext, Output, asset

from pipeline_assets.partitions import source_videos
from pipeline_assets.stage_runtime import (
    STAGE_RETRY_POLICY,
    Stopwatch,
    fingerprint,
    load_cached,
    media_metadata,
    save_cached,
    stage_failures,
    stage_prefix,
)
from resources.avatar import AvatarRenderer
from resources.media.probe import probe
from resources.media.store import MediaStore
from resources.records import AvatarVideo, Voiceover


@asset(
    partitions_def=source_videos,
    group_name="pipeline",
    kinds={"python"},
    retry_policy=STAGE_RETRY_POLICY,
    pool="avatar",
    description="The presenter video (offline animated presenter; D-ID / Synthesia in the cloud).",
)
def avatar_video(
    context: AssetExecutionContext,
    voiceover: Voiceover,
    media_store: MediaStore,
    avatar_renderer: AvatarRenderer,
) -> Iterator[Output[AvatarVideo]]:
    clock = Stopwatch()
    with stage_failures(context):
        prefix = stage_prefix(
            context.partition_key, "avatar_video", fingerprint(voiceover, avatar_renderer.model_dump())
        )
        cached = load_cached(media_store, prefix, AvatarVideo)
        if cached is not None and media_store.exists_uri(cached.uri):
            yield Output(cached, metadata={**_metadata(cached), "cached": True, "elapsed_s": clock.seconds})
            return
        workdir = media_store.scratch_dir(f"avatar-{context.partition_key}")
        try:
            out = workdir / "avatar.mp4"
            provider = avatar_renderer.render(voice_path=media_store.local_path(voiceover.uri), out_path=out)
            record = AvatarVideo(
                uri=media_store.put_file(out, f"{prefix}/avatar.mp4"), facts=probe(out), provider=provider
            )
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        save_cached(media_store, prefix, record)
    yield Output(record, metadata={**_metadata(record), "cached": False, "elapsed_s": clock.seconds})


def _metadata(record: AvatarVideo) -> dict[str, Any]:
    meta = {**media_metadata(record.facts, record.uri), "provider": record.provider}
    if record.fallback_reason:
        meta["fallback"] = record.fallback_reason
    return meta
