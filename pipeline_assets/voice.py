"""Stage 4, voice: `voiceover`, the narration WAV with per-cue and per-word timings."""

from collections.abc import Iterator
from typing import Any

from dagster import AssetExecutionContext, Output

from pipeline_assets.stage_runtime import (
    Stopwatch,
    fingerprint,
    reuse_or_build,
    scratch,
    stage,
    stage_failures,
    stage_prefix,
    usage_metadata,
)
from resources.media.probe import probe
from resources.media.store import MediaStore
from resources.records import Script, Voiceover
from resources.voice import Speaker


@stage(
    description="The narration, synthesized cue by cue (Piper offline, ElevenLabs in the cloud), with word timings.",
)
def voiceover(
    context: AssetExecutionContext, script: Script, media_store: MediaStore, speaker: Speaker
) -> Iterator[Output[Voiceover]]:
    clock = Stopwatch()

    def build() -> Voiceover:
        with scratch(media_store, f"voice-{context.partition_key}") as workdir:
            wav = workdir / "voiceover.wav"
            synthesis = speaker.speak(script.lines, wav)
            if synthesis.fallback_reason:
                context.log.warning(f"voiceover[{context.partition_key}]: {synthesis.fallback_reason}")
            probe(wav)  # proves the file is real audio before anything downstream uses it
            return Voiceover(
                uri=media_store.put_file(wav, f"{prefix}/voiceover.wav"),
                duration_s=synthesis.duration_s,
                sample_rate=synthesis.sample_rate,
                cues=synthesis.cues,
                provider=synthesis.provider,
                voice=synthesis.voice,
                usage=synthesis.usage,
            )

    with stage_failures(context):
        prefix = stage_prefix(context.partition_key, "voiceover", fingerprint(script, speaker.model_dump()))
        record, cached = reuse_or_build(media_store, prefix, Voiceover, build, lambda r: [r.uri])
    yield Output(record, metadata={**_metadata(record), "cached": cached, "elapsed_s": clock.seconds})


def _metadata(record: Voiceover) -> dict[str, Any]:
    return {
        **usage_metadata(record.usage),
        "duration_s": record.duration_s,
        "cues": len(record.cues),
        "words": len(record.words),
        "provider": record.provider,
        "voice": record.voice,
        "uri": record.uri,
    }
