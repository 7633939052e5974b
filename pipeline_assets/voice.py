"""Stage 4, voice: `voiceover`, the narration WAV with per-cue and per-word timings."""

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
    save_cached,
    stage_failures,
    stage_prefix,
)
from resources.media.probe import probe
from resources.media.store import MediaStore
from resources.records import Script, Voiceover
from resources.voice import Speaker


@asset(
    partitions_def=source_videos,
    group_name="pipeline",
    kinds={"python"},
    retry_policy=STAGE_RETRY_POLICY,
    pool="tts",
    description="The narration, synthesized cue by cue (Piper offline, ElevenLabs in the cloud), with word timings.",
)
def voiceover(
    context: AssetExecutionContext, script: Script, media_store: MediaStore, speaker: Speaker
) -> Iterator[Output[Voiceover]]:
    clock = Stopwatch()
    with stage_failures(context):
        prefix = stage_prefix(context.partition_key, "voiceover", fingerprint(script, speaker.model_dump()))
        cached = load_cached(media_store, prefix, Voiceover)
        if cached is not None and media_store.exists_uri(cached.uri):
            yield Output(cached, metadata={**_metadata(cached), "cached": True, "elapsed_s": clock.seconds})
            return
        workdir = media_store.scratch_dir(f"voice-{context.partition_key}")
        try:
            wav = workdir / "voiceover.wav"
            synthesis = speaker.speak(script.lines, wav)
            if synthesis.fallback_reason:
                context.log.warning(f"voiceover[{context.partition_key}]: {synthesis.fallback_reason}")
            probe(wav)  # proves the file is real audio before anything downstream uses it
            record = Voiceover(
                uri=media_store.put_file(wav, f"{prefix}/voiceover.wav"),
                duration_s=synthesis.duration_s,
                sample_rate=synthesis.sample_rate,
                cues=synthesis.cues,
                provider=synthesis.provider,
                voice=synthesis.voice,
            )
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        save_cached(media_store, prefix, record)
    yield Output(record, metadata={**_metadata(record), "cached": False, "elapsed_s": clock.seconds})


def _metadata(record: Voiceover) -> dict[str, Any]:
    return {
        "duration_s": record.duration_s,
        "cues": len(record.cues),
        "words": len(record.words),
        "provider": record.provider,
        "voice": record.voice,
        "uri": record.uri,
    }
