"""faster-whisper on real speech, offline, with word timestamps; speech-free media is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from resources.errors import InputRejected
from resources.media.ffmpeg import run_ffmpeg
from resources.transcribe import Transcriber
from tests.graph import assets_named


def test_transcribes_real_speech_with_increasing_word_times(sample_video: Path) -> None:
    transcript = Transcriber().transcribe(sample_video)
    text = transcript.text.lower()
    assert "herbs" in text and "olive oil" in text
    starts = [w.start for w in transcript.words]
    assert starts == sorted(starts)
    assert all(w.end >= w.start for w in transcript.words)
    assert transcript.words[-1].end <= transcript.duration_s + 0.5
    assert transcript.provider == "local" and transcript.language == "en"


def test_speech_free_audio_is_refused_with_what_to_do(tmp_path: Path) -> None:
    quiet = tmp_path / "tone.mp4"
    run_ffmpeg(
        ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=4", "-f", "lavfi", "-i",
         "anoisesrc=color=pink:amplitude=0.02:duration=4", "-c:v", "libx264", "-c:a", "aac", "-t", "4", str(quiet)],
        what="making a speech-free video",
    )  # fmt: skip
    with pytest.raises(InputRejected, match="no speech"):
        Transcriber().transcribe(quiet)


def test_video_without_audio_track_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputRejected, match="no audio track"):
        Transcriber().transcribe(tmp_path / "any.mp4", has_audio=False)


def test_speech_free_source_fails_transcript_alone_and_keeps_source_video(tmp_path: Path) -> None:
    from dagster import AssetKey, DagsterInstance, materialize

    source_video, transcript = assets_named("source_video", "transcript")
    from resources.ingest import Downloader
    from resources.io_manager import JsonRecordIOManager
    from resources.media.source_registry import register_source
    from resources.media.store import MediaStore
    from resources.records import SourceRequest

    quiet = tmp_path / "music-only.mp4"
    run_ffmpeg(
        ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=3", "-f", "lavfi", "-i",
         "sine=frequency=330:duration=3", "-c:v", "libx264", "-c:a", "aac", "-t", "3", str(quiet)],
        what="making a speech-free video",
    )  # fmt: skip
    store = MediaStore(root=str(tmp_path / "media"))
    register_source(store, SourceRequest(partition_key="file-quiet", source=str(quiet)))
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("source_videos", ["file-quiet"])
    result = materialize(
        [source_video, transcript],
        partition_key="file-quiet",
        instance=instance,
        resources={
            "media_store": store,
            "io_manager": JsonRecordIOManager(media_store=store),
            "downloader": Downloader(),
            "transcriber": Transcriber(),
        },
        raise_on_error=False,
    )
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    error = failure.step_failure_data.error
    assert failure.step_key == "transcript"
    assert error is not None and "transcript[file-quiet]: no speech found" in error.message
    assert instance.get_latest_materialization_event(AssetKey("source_video")) is not None
