"""Phone-quality narration (8 kHz mono, telephone band) is a valid source: it becomes a short, not a refusal."""

from __future__ import annotations

from pathlib import Path

from dagster import DagsterInstance

from definitions import build_resources
from resources.media.ffmpeg import run_ffmpeg
from resources.media.probe import probe
from resources.media.store import MediaStore
from resources.records import Script, ShortVideo
from resources.settings import PipelineSettings
from tests.graph import materialize_partition

KEY = "file-phone-narration"


def test_phone_quality_narration_becomes_a_short(tmp_path: Path, sample_video: Path) -> None:
    phone = tmp_path / "phone.mp4"
    run_ffmpeg(
        ["-i", str(sample_video), "-c:v", "copy", "-ac", "1", "-ar", "8000",
         "-af", "highpass=f=300,lowpass=f=3400", "-c:a", "aac", "-b:a", "24k", str(phone)],
        what="making a phone-quality copy of the sample",
    )  # fmt: skip
    assert probe(phone).has_audio
    settings = PipelineSettings(data_dir=str(tmp_path / "data"), local_source_roots=str(tmp_path))
    store = MediaStore.from_settings(settings)
    stages = ["source_video", "transcript", "script", "voiceover", "avatar_video", "short_video"]
    result = materialize_partition(
        stages, KEY, store, source=str(phone), instance=DagsterInstance.ephemeral(), resources=build_resources(settings)
    )
    script = result.output_for_node("script")
    assert isinstance(script, Script) and script.body
    short = result.output_for_node("short_video")
    assert isinstance(short, ShortVideo) and not short.quality_problems
    facts = probe(store.local_path(short.uri))
    assert (facts.width, facts.height) == (1080, 1920) and facts.audio_codec == "aac"
