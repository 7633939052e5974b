"""Stage 2, transcribe: `transcript`, the source's speech with word timestamps."""

from collections.abc import Iterator
from typing import Any

from dagster import AssetExecutionContext, MetadataValue, Output, asset

from pipeline_assets.partitions import source_videos
from pipeline_assets.stage_runtime import (
    STAGE_RETRY_POLICY,
    Stopwatch,
    fingerprint,
    load_cached,
    save_cached,
    stage_failures,
    stage_prefix,
)
from resources.media.store import MediaStore
from resources.records import SourceVideo, Transcript
from resources.transcribe import Transcriber


@asset(
    partitions_def=source_videos,
    group_name="pipeline",
    kinds={"python"},
    retry_policy=STAGE_RETRY_POLICY,
    pool="transcription",
    description="Speech of the source video with word timestamps (faster-whisper offline, Whisper API in the cloud).",
)
def transcript(
    context: AssetExecutionContext,
    source_video: SourceVideo,
    media_store: MediaStore,
    transcriber: Transcriber,
) -> Iterator[Output[Transcript]]:
    clock = Stopwatch()
    with stage_failures(context):
        settings = transcriber.model_dump()
        prefix = stage_prefix(context.partition_key, "transcript", fingerprint(source_video.sha256, settings))
        cached = load_cached(media_store, prefix, Transcript)
        if cached is not None:
            yield Output(cached, metadata={**_metadata(cached), "cached": True, "elapsed_s": clock.seconds})
            return
        media = media_store.local_path(source_video.uri)
        record = transcriber.transcribe(media, has_audio=source_video.facts.has_audio)
        save_cached(media_store, prefix, record)
    yield Output(record, metadata={**_metadata(record), "cached": False, "elapsed_s": clock.seconds})


def _metadata(record: Transcript) -> dict[str, Any]:
    return {
        "word_count": record.word_count,
        "language": record.language,
        "audio_s": record.duration_s,
        "provider": f"{record.provider} ({record.model})",
        "preview": MetadataValue.md(record.text[:600] + ("…" if len(record.text) > 600 else "")),
    }
