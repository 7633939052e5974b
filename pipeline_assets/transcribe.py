"""Stage 2, transcribe: `transcript`, the source's speech with word timestamps."""

from collections.abc import Iterator
from typing import Any

from dagster import AssetExecutionContext, MetadataValue, Output

from pipeline_assets.stage_runtime import (
    Stopwatch,
    fingerprint,
    reuse_or_build,
    stage,
    stage_failures,
    stage_prefix,
    usage_metadata,
)
from resources.media.store import MediaStore
from resources.records import SourceVideo, Transcript
from resources.transcribe import Transcriber


@stage(
    local_kind="whisper",
    description="Speech of the source video with word timestamps (faster-whisper offline, Whisper API in the cloud).",
)
def transcript(
    context: AssetExecutionContext, source_video: SourceVideo, media_store: MediaStore, transcriber: Transcriber
) -> Iterator[Output[Transcript]]:
    clock = Stopwatch()
    with stage_failures(context):
        prefix = stage_prefix(
            context.partition_key, "transcript", fingerprint(source_video.sha256, transcriber.model_dump())
        )
        record, cached = reuse_or_build(
            media_store,
            prefix,
            Transcript,
            lambda: transcriber.transcribe(
                media_store.local_path(source_video.uri), has_audio=source_video.facts.has_audio
            ),
        )
    yield Output(record, metadata={**_metadata(record), "cached": cached, "elapsed_s": clock.seconds})


def _metadata(record: Transcript) -> dict[str, Any]:
    return {
        **usage_metadata(record.usage),
        "word_count": record.word_count,
        "language": record.language,
        "audio_s": record.duration_s,
        "provider": f"{record.provider} ({record.model})",
        "preview": MetadataValue.md(record.text[:600] + ("…" if len(record.text) > 600 else "")),
    }
