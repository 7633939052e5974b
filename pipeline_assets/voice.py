"""Stage 4, voice: `voiceover`, the narration WAV with per-cue and per-word timings."""

from collections.abc import Iterator
from typing import Any

from dagster import AssetExecutionContext, Output

from pipeline_assets.stage_runtime import StageRun, Workspace, stage, usage_metadata
from resources.media.probe import probe
from resources.media.store import MediaStore
from resources.records import Script, Voiceover
from resources.voice import Speaker


@stage(description="The narration, synthesized cue by cue (Piper offline, ElevenLabs in the cloud), with word timings.")
def voiceover(
    context: AssetExecutionContext, script: Script, media_store: MediaStore, speaker: Speaker
) -> Iterator[Output[Voiceover]]:
    run = StageRun(context, media_store)

    def build(space: Workspace) -> Voiceover:
        wav = space.workdir / "voiceover.wav"
        synthesis = speaker.speak(script.lines, wav)
        if synthesis.fallback_reason:
            run.warn(synthesis.fallback_reason)
        probe(wav)  # proves the file is real audio before anything downstream uses it
        # The record is what was synthesized, plus where the WAV is stored (the fallback reason was logged above).
        spoken = synthesis.model_dump(exclude={"fallback_reason"})
        return Voiceover.model_validate({**spoken, "uri": space.put(wav, "voiceover.wav")})

    with run.failures():
        record = run.reuse_or_build(Voiceover, [script, speaker.model_dump()], build, lambda r: [r.uri])
    yield run.output(record, _metadata(record))


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
