"""Stage 2, transcribe: `transcript`, the source's speech with word timestamps."""

from collections.abc import Iterator
from typing import Any

from dagster import AssetExecutionContext, MetadataValue, Output

from pipeline_assets.stage_runtime import StageRun, stage, usage_metadata
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
    run = StageRun(context, media_store)
    with run.failures():
        record = run.reuse_or_build(
            Transcript,
            [source_video.sha256, transcriber.model_dump()],
            lambda space: transcriber.transcribe(
                media_store.local_path(source_video.uri), has_audio=source_video.facts.has_audio
            ),
        )
    yield run.output(record, _metadata(record))


def _metadata(record: Transcript) -> dict[str, Any]:
    return {
        **usage_metadata(record.usage),
        "word_count": record.word_count,
        "language": record.language,
        "audio_s": record.duration_s,
        "provider": f"{record.provider} ({record.model})",
        "preview": MetadataValue.md(record.text[:600] + ("…" if len(record.text) > 600 else "")),
    }
