"""Stage 5, avatar: `avatar_video`, the presenter speaking the voiceover."""

from collections.abc import Iterator
from typing import Any

from dagster import AssetExecutionContext, Output

from pipeline_assets.stage_runtime import StageRun, Workspace, media_metadata, stage, usage_metadata
from resources.avatar import AvatarRenderer
from resources.media.probe import probe
from resources.media.store import MediaStore
from resources.records import AvatarVideo, Voiceover


@stage(
    local_kind="numpy", description="The presenter video (offline animated presenter; D-ID / Synthesia in the cloud)."
)
def avatar_video(
    context: AssetExecutionContext, voiceover: Voiceover, media_store: MediaStore, avatar_renderer: AvatarRenderer
) -> Iterator[Output[AvatarVideo]]:
    run = StageRun(context, media_store)

    def build(space: Workspace) -> AvatarVideo:
        out = space.workdir / "avatar.mp4"
        result = avatar_renderer.render(voice_path=media_store.local_path(voiceover.uri), out_path=out)
        if result.fallback_reason:
            run.warn(result.fallback_reason)
        return AvatarVideo(
            uri=space.put(out, "avatar.mp4"),
            facts=probe(out),
            provider=result.provider,
            fallback_reason=result.fallback_reason,
            usage=result.usage,
        )

    with run.failures():
        record = run.reuse_or_build(AvatarVideo, [voiceover, avatar_renderer.model_dump()], build, lambda r: [r.uri])
    yield run.output(record, _metadata(record))


def _metadata(record: AvatarVideo) -> dict[str, Any]:
    meta = {**media_metadata(record.facts, record.uri), **usage_metadata(record.usage), "provider": record.provider}
    if record.fallback_reason:
        meta["fallback"] = record.fallback_reason
    return meta
