"""Stage 5, avatar: `avatar_video`, the presenter speaking the voiceover."""

from collections.abc import Iterator
from typing import Any

from dagster import AssetExecutionContext, Output

from pipeline_assets.stage_runtime import (
    Stopwatch,
    fingerprint,
    media_metadata,
    reuse_or_build,
    scratch,
    stage,
    stage_failures,
    stage_prefix,
    usage_metadata,
)
from resources.avatar import AvatarRenderer
from resources.media.probe import probe
from resources.media.store import MediaStore
from resources.records import AvatarVideo, Voiceover


@stage(
    local_kind="numpy",
    description="The presenter video (offline animated presenter; D-ID / Synthesia in the cloud).",
)
def avatar_video(
    context: AssetExecutionContext, voiceover: Voiceover, media_store: MediaStore, avatar_renderer: AvatarRenderer
) -> Iterator[Output[AvatarVideo]]:
    clock = Stopwatch()

    def build() -> AvatarVideo:
        with scratch(media_store, f"avatar-{context.partition_key}") as workdir:
            out = workdir / "avatar.mp4"
            result = avatar_renderer.render(voice_path=media_store.local_path(voiceover.uri), out_path=out)
            if result.fallback_reason:
                context.log.warning(f"avatar_video[{context.partition_key}]: {result.fallback_reason}")
            return AvatarVideo(
                uri=media_store.put_file(out, f"{prefix}/avatar.mp4"),
                facts=probe(out),
                provider=result.provider,
                fallback_reason=result.fallback_reason,
                usage=result.usage,
            )

    with stage_failures(context):
        settings = avatar_renderer.model_dump()
        prefix = stage_prefix(context.partition_key, "avatar_video", fingerprint(voiceover, settings))
        record, cached = reuse_or_build(media_store, prefix, AvatarVideo, build, lambda r: [r.uri])
    yield Output(record, metadata={**_metadata(record), "cached": cached, "elapsed_s": clock.seconds})


def _metadata(record: AvatarVideo) -> dict[str, Any]:
    meta = {**media_metadata(record.facts, record.uri), **usage_metadata(record.usage), "provider": record.provider}
    if record.fallback_reason:
        meta["fallback"] = record.fallback_reason
    return meta
